// Package load is vrm-load, the load generator of vrmvault: it starts a
// vaultd in-process (badger in a temporary directory, real gRPC on
// 127.0.0.1:0) or targets a running one, creates vaults with enrolled
// owners and brands holding granted consents (real keys, real signed
// proofs for every call), then runs a mix of consented reads, owner
// writes and revocations (each followed by the brand asking again and the
// owner granting again) while watch streams receive the changes. It
// prints throughput and latency percentiles per operation, errors by
// gRPC code, and a progress line a second on standard error.
//
// Each brand has one key, consented in every vault, and one connection to
// the host shared by its clients of every vault (--conn-per-vault gives it
// one per vault instead). With --presign N the brands sign N read proofs
// before the warm-up, so that the measured cores do the vault's work and
// not the brands' signing, as when brands run on machines of their own.
//
// vrm-load floor measures the floor under a consented read (package
// bench) and the full path's cost as a ratio of the sum of its parts.
//
// The package exists so that the command can be driven from tests: Main
// takes the arguments and the output streams as values and returns the
// exit status; cmd/vrm-load only wires the process to it.
//
// # Modes
//
// In-process (the default) is the main mode: a host in vaultd's layout
// (badger data sealed with per-vault keys kept in a second badger, see
// package seal) serves any number of vaults, and vrm-load creates them
// through vault.Host.CreateVault. --data keeps the stores in a new
// directory instead of a temporary one. With
// --addr host:port/<vault-id> --code <code> it targets a running vaultd
// instead; a vaultd serves one vault and cannot create more for a client,
// so that mode runs with one vault, enrolled with the one-time code the
// vaultd printed. Run it only against a throwaway data directory: the
// run writes to the profile, the consent ledger and the audit log.
//
// # Measuring
//
// Latencies are measured by the client, around each call; with --rate
// they count from the operation's scheduled start, so a server that falls
// behind shows in the percentiles instead of slowing the schedule. A
// watch latency is from the start of the owner's write to the watcher's
// receipt; a revoke-close latency from the start of the revoke call to
// the end of the brand's stream. The first --warmup of the run is not
// recorded. No figure is asserted anywhere: vrm-load measures and prints.
//
// # Errors and exit status
//
// As vrm's: an error is one line on standard error, "vrm-load: <message>";
// the exit status is 0 when the run completed (failed operations are
// figures, counted by code), 1 when it could not run or was interrupted,
// and 2 when the command line is wrong.
package load

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/cmd/vrm-load/bench"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
)

// Exit statuses returned by Main.
const (
	// ExitOK means the run completed.
	ExitOK = 0
	// ExitFailure means it could not run, or was interrupted.
	ExitFailure = 1
	// ExitUsage means the command line was wrong and nothing was run.
	ExitUsage = 2
)

// Limits of the flags.
const (
	// MaxVaults bounds --vaults (each vault has its owner's and brands'
	// connections).
	MaxVaults = 10_000
	// MaxBrands bounds --brands.
	MaxBrands = 64
	// MaxConnections bounds the client connections a run opens (vaults +
	// brands; vaults × (brands + 1) with --conn-per-vault) (each is two file descriptors in-process).
	MaxConnections = 5_000
	// MaxWatchers bounds --watchers.
	MaxWatchers = 10_000
	// MaxConcurrency bounds --concurrency.
	MaxConcurrency = 4_096
	// MaxIdleVaults bounds --idle-vaults.
	MaxIdleVaults = 1_000_000
	// MaxDuration bounds --duration and --warmup; it is also the bound of
	// a run given only --count.
	MaxDuration = 24 * time.Hour
	// MaxCount bounds --count.
	MaxCount = 1_000_000_000
	// MaxRate bounds --rate, operations a second.
	MaxRate = 1_000_000
	// MaxRuns bounds floor --runs.
	MaxRuns = 100
)

// Config is a run's configuration: vrm-load's flags.
type Config struct {
	// Vaults, Brands (each with a consent in every vault) and Watchers
	// (watch streams, spread over every brand) shape the fleet.
	Vaults, Brands, Watchers int
	// ConnPerVault gives each brand a connection per vault, instead of
	// one connection to the host that its clients of every vault share.
	ConnPerVault bool
	// Presign is the number of read proofs the brands sign before the
	// warm-up (0: each read signs its own, on the measured cores).
	Presign int
	// CommitDelay is the in-process data store's commit delay
	// (badgerstore.Config.CommitDelay: 0 the default, negative none).
	CommitDelay time.Duration
	// IdleVaults are created (in-process only) and never used, to measure
	// a host holding many vaults.
	IdleVaults int
	// Mix is the share of each operation.
	Mix Mix
	// Concurrency is the number of workers running operations.
	Concurrency int
	// Duration is the measured time; Count, when not zero, stops the run
	// after that many operations (whichever comes first).
	Duration time.Duration
	Count    int64
	// Rate, when not zero, paces operations (a second, in total).
	Rate float64
	// Warmup runs before the measured time, not recorded.
	Warmup time.Duration
	// Timeout bounds each call.
	Timeout time.Duration
	// Addr and Code target a running vaultd instead of an in-process one.
	Addr, Code string
	// Data is the in-process store's directory; empty means a temporary
	// one, removed afterwards.
	Data string
	// Floor measures the floor parts before and after the run and
	// reports the read throughput as a fraction of the floor's (their
	// mean).
	Floor bool
	// Output is "table" or "json".
	Output string
	// Quiet turns off the progress lines.
	Quiet bool
	// CPUProfile, when set, is a file that receives a CPU profile
	// (runtime/pprof) of the warm-up and the measured time: in-process, of
	// the brands' clients and the vaultd together.
	CPUProfile string
	// Trace, when set, is a file that receives an execution trace
	// (runtime/trace) of the warm-up and the measured time: where the
	// goroutines waited (go tool trace -pprof=sync, syscall or sched).
	Trace string
}

// Env is the process environment vrm-load runs in.
type Env struct {
	// Stdout receives the report. Nil discards it.
	Stdout io.Writer
	// Stderr receives progress and errors. Nil discards them.
	Stderr io.Writer
}

// errUsage marks a command-line error (exit status 2).
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// Main runs vrm-load with args (without the program name) and returns the
// exit status. Cancelling ctx (on a signal) ends the run early.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	var err error
	switch {
	case len(args) > 0 && args[0] == "floor":
		err = floorMain(ctx, args[1:], env)
	case len(args) > 0 && args[0] == "run":
		err = runMain(ctx, args[1:], env)
	default:
		err = runMain(ctx, args, env)
	}
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errUsage):
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(env.Stderr, "vrm-load: %s (see vrm-load --help)\n", oneLine(msg))
		return ExitUsage
	default:
		fmt.Fprintf(env.Stderr, "vrm-load: %s\n", oneLine(err.Error()))
		return ExitFailure
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

const runUsage = `Usage: vrm-load [run] [flags]
       vrm-load floor [flags]

Runs a mix of consented reads, owner writes and revocations against an
in-process vaultd (or a running one, with --addr and --code) and prints
throughput and latency percentiles per operation. "vrm-load floor --help"
describes the floor measurement.

Flags:
`

// parse parses args with fs, which prints nothing itself: an error is
// returned as a usage error (Main prints it as one line), and --help
// prints usage and fs's defaults to help and returns flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string, usage string, help io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(help)
		fmt.Fprint(help, usage)
		fs.PrintDefaults()
		return err
	}
	if err != nil {
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseFlags parses the run flags and checks them.
func parseFlags(args []string, help io.Writer) (Config, error) {
	var (
		c   Config
		mix string
	)
	fs := flag.NewFlagSet("vrm-load", flag.ContinueOnError)
	fs.IntVar(&c.Vaults, "vaults", 10, "vaults to create, each with an enrolled owner (1 with --addr)")
	fs.IntVar(&c.Brands, "brands", 4, "brands, each with one key granted read:name.*, read:email.*, watch:notes.* in every vault")
	fs.IntVar(&c.Presign, "presign", 0, "read proofs the brands sign before the warm-up, so that the measured cores do only the vault's work (0: each read signs its own); a read whose brand has none left signs its own")
	fs.BoolVar(&c.ConnPerVault, "conn-per-vault", false, "give each brand a connection per vault, instead of one to the host shared by its clients of every vault")
	fs.StringVar(&mix, "mix", DefaultMix, "weights of the operations: read, write, revoke (a revoke is followed by a regrant)")
	fs.IntVar(&c.Watchers, "watchers", 8, "watch streams, spread over every brand of every vault")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "workers running operations")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time (after --warmup)")
	fs.Int64Var(&c.Count, "count", 0, "stop after this many measured operations (0: run for --duration)")
	fs.Float64Var(&c.Rate, "rate", 0, "operations a second, in total (0: as fast as the workers go)")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "time run first and not recorded")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "deadline of each call")
	fs.StringVar(&c.Addr, "addr", "", "target a running vaultd at host:port/<vault-id> instead of an in-process one (needs --code)")
	fs.StringVar(&c.Code, "code", "", "the one-time enrolment code the running vaultd printed (with --addr)")
	fs.StringVar(&c.Data, "data", "", "data directory of the in-process store (default: a temporary directory, removed afterwards)")
	fs.DurationVar(&c.CommitDelay, "commit-delay", 0, "in-process host: how long a shared commit may wait for more calls when the cores are busy (0: the store's default, negative: never)")
	fs.IntVar(&c.IdleVaults, "idle-vaults", 0, "extra vaults created in the in-process host and never used, to measure a host holding many")
	fs.BoolVar(&c.Floor, "floor", false, "before and after the run, measure the floor (package bench) and report reads/s as a fraction of it")
	fs.StringVar(&c.Output, "o", "table", "output format: table or json")
	fs.BoolVar(&c.Quiet, "q", false, "no progress lines on standard error")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the warm-up and measured time to this file (go tool pprof reads it)")
	fs.StringVar(&c.Trace, "trace", "", "write an execution trace of the warm-up and measured time to this file (go tool trace reads it; keep the run short, it grows fast)")
	if err := parse(fs, args, runUsage, help); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	if c.Mix, err = ParseMix(mix); err != nil {
		return c, usageErr("%v", err)
	}
	if c.Addr != "" && !set["vaults"] {
		c.Vaults = 1
	}
	if c.Count > 0 && !set["duration"] {
		c.Duration = MaxDuration
	}
	return c, c.check()
}

// check returns a usage error for a configuration out of bounds.
func (c Config) check() error {
	for _, b := range []struct {
		name      string
		v, lo, hi int64
	}{
		{"--vaults", int64(c.Vaults), 1, MaxVaults},
		{"--brands", int64(c.Brands), 1, MaxBrands},
		{"--watchers", int64(c.Watchers), 0, MaxWatchers},
		{"--concurrency", int64(c.Concurrency), 1, MaxConcurrency},
		{"--idle-vaults", int64(c.IdleVaults), 0, MaxIdleVaults},
		{"--count", c.Count, 0, MaxCount},
		{"--presign", int64(c.Presign), 0, MaxPresign},
	} {
		if b.v < b.lo || b.v > b.hi {
			return usageErr("%s must be from %d to %d", b.name, b.lo, b.hi)
		}
	}
	if c.Mix.Read < 0 || c.Mix.Write < 0 || c.Mix.Revoke < 0 || c.Mix.total() == 0 {
		return usageErr("--mix needs a positive weight and no negative one, not %s", c.Mix)
	}
	if c.Presign > 0 && c.ConnPerVault {
		return usageErr("--presign calls over the brands' shared connections: drop --conn-per-vault")
	}
	conns := c.Vaults + c.Brands // an owner per vault; a brand's shared one
	if c.ConnPerVault {
		conns = c.Vaults * (c.Brands + 1)
	}
	if conns > MaxConnections {
		return usageErr("the run needs %d client connections (an owner's per vault, and the brands'); at most %d", conns, MaxConnections)
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		return usageErr("--duration must be positive and at most %s", MaxDuration)
	}
	if c.Warmup < 0 || c.Warmup > MaxDuration {
		return usageErr("--warmup must be from 0 to %s", MaxDuration)
	}
	if c.Timeout <= 0 || c.Timeout > time.Hour {
		return usageErr("--timeout must be positive and at most 1h")
	}
	if c.CommitDelay > badgerstore.MaxCommitDelay {
		return usageErr("--commit-delay must be at most %s", badgerstore.MaxCommitDelay)
	}
	if c.Rate < 0 || c.Rate > MaxRate {
		return usageErr("--rate must be from 0 to %d", MaxRate)
	}
	if c.Output != "table" && c.Output != "json" {
		return usageErr("-o must be table or json, not %q", c.Output)
	}
	if c.Addr != "" {
		if _, err := vaultconn.ParseAddress(c.Addr); err != nil {
			return usageErr("--addr: %v", err)
		}
		if !vaultconn.IsLoopback(strings.SplitN(c.Addr, "/", 2)[0]) {
			return usageErr("--addr must be a loopback address (127.0.0.1, ::1 or localhost): vrm-load does not load other hosts")
		}
		switch {
		case c.Code == "":
			return usageErr("--addr needs --code, the one-time enrolment code the vaultd printed")
		case c.Vaults != 1:
			return usageErr("--addr runs with one vault: a running vaultd serves one vault and cannot create more")
		case c.IdleVaults > 0 || c.Data != "" || c.CommitDelay != 0:
			return usageErr("--idle-vaults, --data and --commit-delay are for the in-process host, not with --addr")
		}
	} else if c.Code != "" {
		return usageErr("--code goes with --addr")
	}
	return nil
}

// Machine describes where a run ran.
type Machine struct {
	// CPUs is runtime.NumCPU; GOMAXPROCS the processors Go uses.
	CPUs       int `json:"cpus"`
	GOMAXPROCS int `json:"gomaxprocs"`
	// CPUModel is the first "model name" of /proc/cpuinfo, if any.
	CPUModel string `json:"cpu_model,omitempty"`
	// Go is runtime.Version; OS and Arch the target.
	Go   string `json:"go"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load averages when
	// the report was made: on a shared machine, how busy others kept it.
	LoadAvg string `json:"loadavg,omitempty"`
}

func thisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// runMain is the run command.
func runMain(ctx context.Context, args []string, env Env) (err error) {
	cfg, err := parseFlags(args, env.Stdout)
	if err != nil {
		return err
	}
	progress := env.Stderr
	if cfg.Quiet {
		progress = nil
	}
	rep, err := Run(ctx, cfg, progress)
	if err != nil {
		return err
	}
	if cfg.Output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else if err := rep.WriteText(env.Stdout); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted: the figures above cover the run until then")
	}
	return nil
}

// Run sets up the fleet cfg describes, runs the mix and returns the
// report. progress, if not nil, receives a line a second.
func Run(ctx context.Context, cfg Config, progress io.Writer) (rep Report, err error) {
	if err := cfg.check(); err != nil {
		return Report{}, err
	}
	rep = Report{
		Vaults: cfg.Vaults, IdleVaults: cfg.IdleVaults, Brands: cfg.Brands, Watchers: cfg.Watchers,
		Concurrency: cfg.Concurrency, Mix: cfg.Mix.String(), Rate: cfg.Rate, WarmupSeconds: cfg.Warmup.Seconds(),
	}
	if cfg.CommitDelay != 0 {
		rep.CommitDelay = cfg.CommitDelay.String()
	}
	defer func() { rep.Machine = thisMachine() }()
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, "vrm-load: "+format+"\n", args...)
		}
	}
	var floorBefore map[string]float64
	if cfg.Floor {
		// The floor is measured before the run too: a shared machine's
		// speed drifts within a minute, and the run is related to the
		// mean of both.
		say("measuring the floor before the run: a few seconds")
		if floorBefore, err = measureFloorParts(ctx, cfg.Mix.Write > 0, bench.Measure); err != nil {
			return Report{}, err
		}
	}
	setupStart := time.Now()
	var (
		create    newVault
		stopHost  func() error           // nil in remote mode
		memoStats func() vault.MemoStats // nil in remote mode
	)
	if cfg.Addr != "" {
		addr, _ := vaultconn.ParseAddress(cfg.Addr)
		rep.Mode, rep.Target = "remote", addr.String()
		var used atomic.Bool
		create = func(context.Context) (vaultconn.Address, string, error) {
			if used.Swap(true) {
				return vaultconn.Address{}, "", errors.New("a running vaultd serves one vault")
			}
			return addr, cfg.Code, nil
		}
	} else {
		slots := cfg.Vaults * cfg.Brands
		p, err := startInProcess(cfg.Data, (cfg.Watchers+slots-1)/slots+1, cfg.CommitDelay)
		if err != nil {
			return Report{}, fmt.Errorf("start in-process vaultd: %w", err)
		}
		stopHost, memoStats = p.close, p.host.MemoStats
		defer func() {
			if cerr := p.close(); cerr != nil && err == nil {
				err = fmt.Errorf("stop in-process vaultd: %w", cerr)
			}
		}()
		rep.Mode, rep.Target = "in-process", fmt.Sprintf("vaultd on %s, badger in %s", p.hostPort, p.dir)
		say("in-process %s", rep.Target)
		if cfg.IdleVaults > 0 {
			if err := createIdle(ctx, p, cfg.IdleVaults, cfg.Concurrency, cfg.Timeout, say); err != nil {
				return Report{}, err
			}
		}
		create = func(ctx context.Context) (vaultconn.Address, string, error) {
			id, code, err := p.createVault(ctx)
			return vaultconn.Address{HostPort: p.hostPort, VaultID: id}, code, err
		}
	}

	var ready atomic.Int64
	stopSay := every(time.Second, func() { say("set-up: %d of %d vaults ready", ready.Load(), cfg.Vaults) })
	f, err := buildFleet(ctx, cfg.Vaults, cfg.Brands, !cfg.ConnPerVault, cfg.Concurrency, cfg.Timeout, create, func() { ready.Add(1) })
	stopSay()
	if err != nil {
		return Report{}, fmt.Errorf("set up: %w", err)
	}
	defer f.close()
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	say("set-up done in %.1fs: %d vaults, %d owners, %d brands with consents; running %s for %s after %s warm-up",
		rep.SetupSeconds, len(f.vaults), len(f.vaults), len(f.slots), cfg.Mix, durationOrCount(cfg), cfg.Warmup)

	if cfg.Presign > 0 {
		t0 := time.Now()
		say("signing %d read proofs before the warm-up", cfg.Presign)
		if err := presign(ctx, f, cfg.Presign); err != nil {
			return Report{}, err
		}
		rep.Presigned = cfg.Presign
		rep.PresignSeconds = time.Since(t0).Seconds()
	}
	w := &workload{f: f, mix: cfg.Mix, rec: newRecorder(), timeout: cfg.Timeout, count: cfg.Count}
	stopProfile, err := startProfiles(cfg.CPUProfile, cfg.Trace)
	if err != nil {
		return Report{}, err
	}
	var memo0 vault.MemoStats
	if memoStats != nil {
		memo0 = memoStats()
	}
	res := w.run(ctx, cfg, progress)
	if memoStats != nil {
		m := memoStats()
		rep.ReadMemo = &vault.MemoStats{
			ViewHits: m.ViewHits - memo0.ViewHits, ViewMisses: m.ViewMisses - memo0.ViewMisses,
			FieldHits: m.FieldHits - memo0.FieldHits, FieldMisses: m.FieldMisses - memo0.FieldMisses,
		}
	}
	if err := stopProfile(); err != nil {
		return Report{}, err
	}
	rep.ElapsedSeconds = res.elapsed.Seconds()
	rep.Ops = w.rec.report(res.elapsed)
	rep.CPUSeconds = res.cpu.Seconds()
	var calls uint64
	for _, op := range rep.Ops {
		if op.Op != OpWatch && op.Op != OpRevokeClose { // events, not calls
			calls += op.Count + uint64(op.Errors)
		}
	}
	if calls > 0 && res.cpu > 0 {
		rep.CPUMicrosPerCall = float64(res.cpu.Microseconds()) / float64(calls)
	}
	rep.ReadsSignedLive = w.signedLive.Load()

	if cfg.Floor && ctx.Err() == nil {
		// Free the machine for the floor: the fleet's connections and the
		// in-process host go first.
		f.close()
		if stopHost != nil {
			if err := stopHost(); err != nil {
				return rep, fmt.Errorf("stop in-process vaultd: %w", err)
			}
		}
		say("measuring the floor after the run: a few seconds")
		after, err := measureFloorParts(ctx, cfg.Mix.Write > 0, bench.Measure)
		if err != nil {
			return rep, err
		}
		fl := relateToFloor(rep.Ops, floorBefore, after)
		rep.Floor = &fl
	}
	return rep, nil
}

func durationOrCount(cfg Config) string {
	if cfg.Count > 0 {
		return fmt.Sprintf("%d operations (at most %s)", cfg.Count, cfg.Duration)
	}
	return cfg.Duration.String()
}

// every calls f every d until the returned stop is called.
func every(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				f()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// createIdle creates n vaults that the run never uses, workers at a time.
func createIdle(ctx context.Context, p *inProcess, n, workers int, timeout time.Duration, say func(string, ...any)) error {
	var (
		next, made atomic.Int64
		firstErr   atomic.Pointer[error]
	)
	stop := every(time.Second, func() { say("creating idle vaults: %d of %d", made.Load(), n) })
	defer stop()
	errc := make(chan struct{}, workers)
	for range min(workers, n) {
		go func() {
			defer func() { errc <- struct{}{} }()
			for next.Add(1) <= int64(n) && ctx.Err() == nil && firstErr.Load() == nil {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				_, _, err := p.createVault(cctx)
				cancel()
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				made.Add(1)
			}
		}()
	}
	for range min(workers, n) {
		<-errc
	}
	if err := firstErr.Load(); err != nil {
		return fmt.Errorf("create idle vault: %w", *err)
	}
	return ctx.Err()
}

// FloorFigures are the floor parts measured before and after a run.
type FloorFigures struct {
	// Parts are the parallel figures (ns/op, the inverse of throughput)
	// of the floor's parts, and of badger's own synced batch when the run
	// wrote: the mean of the figures before and after the run.
	Parts map[string]float64 `json:"parallel_ns_per_op"`
	// ReadsPerSecond is the floor's throughput: 1e9 over the sum of the
	// floor parts (bench.IsFloorPart).
	ReadsPerSecond float64 `json:"floor_reads_per_second"`
	// ReadsPerSecondBefore and ReadsPerSecondAfter are the same from the
	// parts measured before the run and after it alone: how much the
	// machine drifted.
	ReadsPerSecondBefore float64 `json:"floor_reads_per_second_before"`
	ReadsPerSecondAfter  float64 `json:"floor_reads_per_second_after"`
	// ReadFraction is the run's read throughput over ReadsPerSecond.
	ReadFraction float64 `json:"read_fraction_of_floor"`
	// BatchesPerSecond is badger's own synced batch throughput from
	// bench.Writers writers, when the run wrote.
	BatchesPerSecond float64 `json:"badger_batches_per_second,omitempty"`
	// WriteFraction is the run's write throughput over BatchesPerSecond.
	WriteFraction float64 `json:"write_fraction_of_badger,omitempty"`
}

// measureFloorParts measures, with measure (bench.Measure), the parallel
// floor parts, and badger's synced batch when writes is set: ns/op by
// part name.
func measureFloorParts(ctx context.Context, writes bool, measure func(bench.Part) (float64, bool)) (map[string]float64, error) {
	parts := map[string]float64{}
	for _, p := range bench.ParallelParts() {
		if !bench.IsFloorPart(p.Name) && (!writes || p.Name != bench.BadgerSyncedBatch) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ns, ok := measure(p)
		if !ok {
			return nil, fmt.Errorf("floor part %s failed; see why with: go test -run='^$' -bench='^BenchmarkFloorParallel$/^%s$' ./bench/", p.Name, p.Name)
		}
		parts[p.Name] = ns
	}
	return parts, nil
}

// relateToFloor relates the run's throughput to the floor parts measured
// before and after it (their mean, part by part).
func relateToFloor(ops []OpReport, before, after map[string]float64) FloorFigures {
	fl := FloorFigures{Parts: map[string]float64{}}
	floorRate := func(parts map[string]float64) float64 {
		var sum float64
		for name, ns := range parts {
			if bench.IsFloorPart(name) {
				sum += ns
			}
		}
		if sum == 0 {
			return 0
		}
		return 1e9 / sum
	}
	for name, ns := range after {
		if b, ok := before[name]; ok {
			ns = (ns + b) / 2
		}
		fl.Parts[name] = ns
		if name == bench.BadgerSyncedBatch {
			fl.BatchesPerSecond = 1e9 / ns
		}
	}
	fl.ReadsPerSecond = floorRate(fl.Parts)
	fl.ReadsPerSecondBefore, fl.ReadsPerSecondAfter = floorRate(before), floorRate(after)
	for _, op := range ops {
		switch {
		case op.Op == OpRead && fl.ReadsPerSecond > 0:
			fl.ReadFraction = op.PerSecond / fl.ReadsPerSecond
		case op.Op == OpWrite && fl.BatchesPerSecond > 0:
			fl.WriteFraction = op.PerSecond / fl.BatchesPerSecond
		}
	}
	return fl
}

// startProfiles starts a CPU profile into the file at cpuPath and an
// execution trace into the file at tracePath, and returns the function
// that stops them and closes the files. An empty path records nothing.
func startProfiles(cpuPath, tracePath string) (stop func() error, err error) {
	var stops []func() error
	stopAll := func() error {
		var errs []error
		for _, s := range stops {
			errs = append(errs, s())
		}
		return errors.Join(errs...)
	}
	if cpuPath != "" {
		s, err := startRecording(cpuPath, "--cpuprofile", pprof.StartCPUProfile, pprof.StopCPUProfile)
		if err != nil {
			return nil, err
		}
		stops = append(stops, s)
	}
	if tracePath != "" {
		s, err := startRecording(tracePath, "--trace", trace.Start, trace.Stop)
		if err != nil {
			return nil, errors.Join(err, stopAll())
		}
		stops = append(stops, s)
	}
	return stopAll, nil
}

// startRecording creates the file at path and starts a recording into it
// (a CPU profile or an execution trace); the returned function stops it
// and closes the file. flagName names the flag in errors.
func startRecording(path, flagName string, start func(io.Writer) error, end func()) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	if err := start(f); err != nil {
		f.Close()
		os.Remove(path) // nothing was recorded
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	return func() error {
		end()
		if err := f.Close(); err != nil {
			return fmt.Errorf("%s: write %s: %w", flagName, path, err)
		}
		return nil
	}, nil
}
