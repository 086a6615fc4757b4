// Command vaultd serves a customer's vault over gRPC, on the embedded
// badger store by default, or on PostgreSQL (--store postgres://...) for a
// host that outgrows one machine.
//
// On first start it creates the vault (id, vault key, pairwise secret) and
// prints the vault address and a one-time enrolment code with the exact
// `vrm init` command to run. It only wires flags to packages; the logic is
// in vault, vault/server and vault/store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/metrics"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/server"
	"github.com/vrmvault/vrmvault/vault/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// options are vaultd's flags.
type options struct {
	data            string
	listen          string
	advertise       string
	tlsCert         string
	tlsKey          string
	insecure        bool
	logFormat       string
	logLevel        string
	proofSkew       time.Duration
	enrollmentTTL   time.Duration
	shutdownTimeout time.Duration
	maxRecvMsg      int
	limits          profile.Limits
	streamsBrand    int
	streamsVault    int
	sendTimeout     time.Duration
	pendingBrand    int
	pendingVault    int
	minFreeDisk     int64

	hostMode      bool
	hostID        string
	adminKeys     stringList
	hostKeyFile   string
	keysDir       string
	store         string // "badger" or a PostgreSQL URL (never logged)
	keysStore     string // PostgreSQL URL of the key store; "" means beside the data
	pgPoll        time.Duration
	rotateHostKey string
	maxConns      int
	unaryTimeout  time.Duration
	callsPerSec   int64
	brandCallsSec int64
	metricsListen string
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "vrmvault")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "vrmvault")
	}
	return "vrmvault-data"
}

func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("vaultd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := profile.DefaultLimits()
	fs.StringVar(&o.data, "data", defaultDataDir(getenv), "data directory (the badger store; with PostgreSQL only host.key and host-id)")
	fs.StringVar(&o.store, "store", "", "storage engine: badger, or a postgres:// URL (default: $"+storeEnv+", else badger); prefer the environment or PGPASSWORD for the password")
	fs.DurationVar(&o.pgPoll, "pg-poll", 0, "with PostgreSQL: 0 wakes watches with LISTEN/NOTIFY; a duration turns notifications off and polls for changes at that interval")
	fs.StringVar(&o.keysStore, "keys-store", "", "with PostgreSQL: postgres:// URL of the key store (default: $"+keysStoreEnv+", else the data's database, schema <schema>_keys)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7443", "address to listen on")
	fs.StringVar(&o.advertise, "advertise", "", "host:port to print in the vault address (default: the listen address)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.BoolVar(&o.insecure, "insecure-plaintext", false, "allow plaintext on a non-loopback address (never in production)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&o.proofSkew, "proof-skew", 60*time.Second, "accepted distance between a proof's iat and this clock")
	fs.DurationVar(&o.enrollmentTTL, "enrollment-ttl", vault.DefaultEnrollmentTTL, "validity of a one-time enrolment code")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown waits for calls to end")
	fs.IntVar(&o.maxRecvMsg, "max-message-bytes", server.DefaultMaxRecvMsgSize, "largest request message")
	fs.IntVar(&o.limits.MaxValueBytes, "max-value-bytes", def.MaxValueBytes, "largest profile value")
	fs.IntVar(&o.limits.MaxListItems, "max-list-items", def.MaxListItems, "most items in a list value")
	fs.IntVar(&o.limits.MaxFieldsPerBatch, "max-fields-per-batch", def.MaxFieldsPerBatch, "most changes in one batch")
	fs.IntVar(&o.limits.MaxPathDepth, "max-path-depth", def.MaxPathDepth, "most segments in a path (at most 16)")
	fs.IntVar(&o.limits.MaxFields, "max-fields", def.MaxFields, "most fields in a profile")
	fs.IntVar(&o.limits.MaxProfileBytes, "max-profile-bytes", def.MaxProfileBytes, "largest profile in bytes")
	fs.IntVar(&o.streamsBrand, "max-streams-per-brand", server.DefaultMaxStreamsPerBrand, "open streams per brand on one vault")
	fs.IntVar(&o.streamsVault, "max-streams-per-vault", server.DefaultMaxStreamsPerVault, "open streams on one vault")
	fs.DurationVar(&o.sendTimeout, "stream-send-timeout", server.DefaultSendTimeout, "end a stream whose consumer takes no event for this long (it resumes from its cursor)")
	fs.IntVar(&o.pendingBrand, "max-pending-per-brand", vault.DefaultMaxPendingPerBrand, "pending access requests per brand on one vault")
	fs.IntVar(&o.pendingVault, "max-pending-per-vault", vault.DefaultMaxPendingPerVault, "pending access requests of all brands together on one vault")
	fs.Int64Var(&o.minFreeDisk, "min-free-disk-bytes", DefaultMinFreeDisk, "with badger: refuse writes while the data or key disk has less free (0: never; reads go on down to half of it)")
	fs.BoolVar(&o.hostMode, "host", false, "host mode: serve any number of vaults, managed through HostService")
	fs.StringVar(&o.hostID, "host-id", "", "host id, the aud of host admin proofs (default: kept in <data>/host-id)")
	fs.Var(&o.adminKeys, "admin-key", "a host admin public JWK file (repeatable; host mode)")
	fs.StringVar(&o.hostKeyFile, "host-key-file", "", "file holding the host key that wraps the vaults' data keys (default: $"+hostKeyEnv+", else <data>/host.key)")
	fs.StringVar(&o.keysDir, "keys-dir", "", "key store directory, kept apart from the data for crypto-shredding (default: <data>/keys)")
	fs.StringVar(&o.rotateHostKey, "rotate-host-key", "", "re-wrap every data key with the host key in this file, then exit")
	fs.IntVar(&o.maxConns, "max-connections", 4096, "most open client connections")
	fs.DurationVar(&o.unaryTimeout, "call-timeout", server.DefaultUnaryTimeout, "server-side deadline of a unary call")
	fs.Int64Var(&o.callsPerSec, "calls-per-second", 0, "default calls per second per vault (0: unlimited)")
	fs.Int64Var(&o.brandCallsSec, "brand-calls-per-second", 0, "default calls per second per brand per vault (0: unlimited)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics on this address at /metrics (empty: off)")
	fs.String("config", "", "read flags from this file first (lines of name = value; # comments); flags on the command line win")
	if configFile := configFlag(args); configFile != "" {
		if err := applyConfigFile(fs, configFile); err != nil {
			return o, err
		}
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return o, errors.New("--tls-cert and --tls-key go together")
	}
	if err := o.limits.Validate(); err != nil {
		return o, err
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("--log-format must be text or json, not %q", o.logFormat)
	}
	if err := resolveStore(&o, fs, getenv); err != nil {
		return o, err
	}
	return o, nil
}

// Environment variables that may name the PostgreSQL stores, so that a
// password need not be on the command line (where ps shows it).
const (
	storeEnv     = "VAULTD_STORE"
	keysStoreEnv = "VAULTD_KEYS_STORE"
)

// isPostgresURL reports whether v names a PostgreSQL database.
func isPostgresURL(v string) bool {
	return strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://")
}

// resolveStore fills the store options from the environment where the
// flags left them empty, and checks them. Its messages never repeat a
// store's value, which may hold a password.
func resolveStore(o *options, fs *flag.FlagSet, getenv func(string) string) error {
	if o.store == "" {
		o.store = getenv(storeEnv)
	}
	if o.store == "" {
		o.store = "badger"
	}
	if o.keysStore == "" {
		o.keysStore = getenv(keysStoreEnv)
	}
	keysDirSet := false
	fs.Visit(func(f *flag.Flag) { keysDirSet = keysDirSet || f.Name == "keys-dir" })
	switch {
	case o.store == "badger":
		if o.keysStore != "" {
			return errors.New("--keys-store (or $" + keysStoreEnv + ") goes with a PostgreSQL --store; the badger key store is --keys-dir")
		}
		if o.pgPoll != 0 {
			return errors.New("--pg-poll goes with a PostgreSQL --store")
		}
	case isPostgresURL(o.store):
		if keysDirSet {
			return errors.New("--keys-dir is for the badger store; with PostgreSQL the key store is --keys-store (default: beside the data)")
		}
		if o.keysStore != "" && !isPostgresURL(o.keysStore) {
			return errors.New("--keys-store (or $" + keysStoreEnv + ") must be a postgres:// URL")
		}
		if o.pgPoll < 0 {
			return errors.New("--pg-poll must not be negative")
		}
	default:
		return errors.New("--store (or $" + storeEnv + ") must be badger or a postgres:// URL")
	}
	return nil
}

// configFlag finds --config in args before they are parsed, so that the
// file is applied first and the command line wins.
func configFlag(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, p := range []string{"--config", "-config"} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
	}
	return ""
}

// maxConfigFile bounds the config file.
const maxConfigFile = 64 << 10

// applyConfigFile sets the flags named in a config file: one "name =
// value" per line, blank lines and # comments ignored; a repeatable flag
// may appear on several lines. An unknown name is an error.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(b) > maxConfigFile {
		return fmt.Errorf("config %s: larger than %d bytes", path, maxConfigFile)
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return fmt.Errorf("config %s:%d: want name = value", path, i+1)
		}
		if name == "config" || fs.Lookup(name) == nil {
			return fmt.Errorf("config %s:%d: unknown setting %q", path, i+1, name)
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("config %s:%d: %s: %w", path, i+1, name, err)
		}
	}
	return nil
}

func newLogger(o options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return slog.New(slog.NewTextHandler(w, hopts)), nil
}

// run is vaultd: it returns the exit code (0 after a clean shutdown, 1 on
// a failure, 2 on bad usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	o, err := parseFlags(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vaultd: %v\n", err)
		return 2
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vaultd: %v\n", err)
		return 2
	}
	if o.rotateHostKey != "" {
		hk, err := loadHostKey(o, getenv, log)
		if err != nil {
			fmt.Fprintf(stderr, "vaultd: %v\n", err)
			return 1
		}
		n, err := rotateHostKey(ctx, o, hk, o.rotateHostKey, log)
		if err != nil {
			fmt.Fprintf(stderr, "vaultd: rotate host key: %v (%d data keys re-wrapped so far; run again with both keys)\n", err, n)
			return 1
		}
		fmt.Fprintf(stdout, "vaultd: re-wrapped %d data keys; start vaultd with the new host key now\n", n)
		return 0
	}
	if err := serve(ctx, o, stdout, getenv, log); err != nil {
		fmt.Fprintf(stderr, "vaultd: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o options, stdout io.Writer, getenv func(string) string, log *slog.Logger) error {
	if o.tlsCert == "" && !o.insecure && !vaultconn.IsLoopback(o.listen) {
		return fmt.Errorf("refusing to listen on non-loopback address %s without TLS: give --tls-cert and --tls-key (or --insecure-plaintext for a trusted network)", o.listen)
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	var (
		hostID string
		admins []consent.PublicKey
		err    error
	)
	if o.hostMode {
		if hostID, admins, err = hostIdentity(o); err != nil {
			return err
		}
	}
	hk, err := loadHostKey(o, getenv, log)
	if err != nil {
		return err
	}
	badger := !isPostgresURL(o.store)
	if badger {
		if err := checkDiskAtStart(badgerDirs(o), o.minFreeDisk); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, o, hk, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "error", err)
		}
	}()
	var served store.Store = st
	if badger {
		served = guardDisk(st, badgerDirs(o), o.minFreeDisk, log)
	}
	host, err := vault.NewHost(vault.Config{
		Store: served, Limits: o.limits, EnrollmentTTL: o.enrollmentTTL, MaxPendingPerBrand: o.pendingBrand, MaxPendingPerVault: o.pendingVault, Logger: log,
		Defaults: vault.Quota{CallsPerSecond: o.callsPerSec, BrandCallsPerSecond: o.brandCallsSec, BrandOpenStreams: int64(o.streamsBrand)},
	})
	if err != nil {
		return err
	}
	var (
		vaultID string
		enr     *vault.Enrollment
	)
	if !o.hostMode {
		if vaultID, enr, err = singleVault(ctx, host); err != nil {
			return err
		}
	}

	var extra []grpc.ServerOption
	if o.tlsCert != "" {
		creds, err := credentials.NewServerTLSFromFile(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		extra = append(extra, grpc.Creds(creds))
	}
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	lis = netutil.LimitListener(lis, o.maxConns)
	advertise := o.advertise
	if advertise == "" {
		advertise = lis.Addr().String()
	}
	var m *metrics.Metrics
	if o.metricsListen != "" {
		m = metrics.New()
		stop, err := serveMetrics(ctx, o.metricsListen, m, log)
		if err != nil {
			return err
		}
		defer stop()
		go m.Refresh(ctx, gauges{host: host, dir: o.data}, time.Minute)
	}
	srv, err := server.New(server.Config{
		Metrics: m,
		Host:    host, ProofSkew: o.proofSkew, Logger: log, MaxRecvMsgSize: o.maxRecvMsg,
		MaxStreamsPerBrand: o.streamsBrand, MaxStreamsPerVault: o.streamsVault, SendTimeout: o.sendTimeout,
		HostID: hostID, AdminKeys: admins, Advertise: advertise, UnaryTimeout: o.unaryTimeout,
	})
	if err != nil {
		return err
	}
	gs, hs := srv.NewGRPCServer(extra...)
	go watchHealth(ctx, host, hs, log)
	if o.hostMode {
		fmt.Fprintf(stdout, "vaultd: host %s ready on %s with %d admin key(s) (%s)\n", hostID, advertise, len(admins), o.storeDescription())
	} else {
		addr := advertise + "/" + vaultID
		if enr != nil {
			fmt.Fprintf(stdout, "Enrol your device with this one-time code (valid until %s):\n", enr.Expires.Format(time.RFC3339))
			fmt.Fprintf(stdout, "  vrm init --vault %s --code %s\n", addr, enr.Code)
		}
		// The ready line comes last, so a script can read up to it.
		fmt.Fprintf(stdout, "vaultd: vault %s ready (%s)\n", addr, o.storeDescription())
	}
	log.Info("serving", "listen", lis.Addr().String(), "vault", vaultID, "host", hostID, "tls", o.tlsCert != "")

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	hs.Shutdown()
	srv.Drain() // open streams end with UNAVAILABLE and a resume cursor
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.shutdownTimeout):
		log.Warn("graceful shutdown timed out; closing open calls")
		gs.Stop()
	}
	// Sign the audit heads, so the log's last entries are covered by a
	// checkpoint (PROTOCOL.md section 7).
	cctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := host.CheckpointAll(cctx); err != nil {
		return fmt.Errorf("audit checkpoint on shutdown: %w", err)
	}
	return nil
}

// serveMetrics serves m on addr at /metrics until the returned stop is
// called.
func serveMetrics(ctx context.Context, addr string, m *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("serving metrics", "listen", lis.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}, nil
}

// gauges measures the host for the metrics.
type gauges struct {
	host *vault.Host
	dir  string
}

// CountVaults counts the vaults, page by page.
func (g gauges) CountVaults(ctx context.Context) (int64, error) {
	var n int64
	after := ""
	for {
		ids, err := g.host.ListVaults(ctx, after, 1000)
		if err != nil {
			return n, err
		}
		n += int64(len(ids))
		if len(ids) < 1000 {
			return n, nil
		}
		after = ids[len(ids)-1]
	}
}

// StoreSize sums the sizes of the files of the data directory.
func (g gauges) StoreSize() int64 {
	var n int64
	_ = filepath.WalkDir(g.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}

// watchHealth reports NOT_SERVING on the health service while the store
// does not answer, and SERVING again when it does.
func watchHealth(ctx context.Context, host *vault.Host, hs *health.Server, log *slog.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	serving := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := host.ListVaults(pctx, "", 1)
		cancel()
		if ok := err == nil; ok != serving && ctx.Err() == nil {
			serving = ok
			st := healthpb.HealthCheckResponse_SERVING
			if !ok {
				st = healthpb.HealthCheckResponse_NOT_SERVING
				log.Error("store unavailable", "error", err)
			}
			hs.SetServingStatus("", st)
		}
	}
}

// singleVault returns the data dir's vault, creating it on first start. It
// returns a fresh enrolment code while no owner key is enrolled (the first
// code may have been lost), nil afterwards.
func singleVault(ctx context.Context, host *vault.Host) (string, *vault.Enrollment, error) {
	ids, err := host.ListVaults(ctx, "", 2)
	if err != nil {
		return "", nil, err
	}
	switch len(ids) {
	case 0:
		id, enr, err := host.CreateVault(ctx)
		if err != nil {
			return "", nil, err
		}
		return id, &enr, nil
	case 1:
		st, err := host.Status(ctx, ids[0])
		if err != nil {
			return "", nil, err
		}
		if len(st.OwnerKeys) > 0 {
			return ids[0], nil, nil
		}
		enr, err := host.NewEnrollmentCode(ctx, ids[0])
		if err != nil {
			return "", nil, err
		}
		return ids[0], &enr, nil
	default:
		return "", nil, errors.New("the store holds more than one vault: it belongs to a multi-vault host; use host mode")
	}
}
