// Package vaulttest starts real vaults for tests: a real gRPC server on
// 127.0.0.1 with an ephemeral port, serving a vault.Host on badger in a
// temporary directory, with real keys. Everything it starts it also stops
// (t.Cleanup).
//
// With VAULTTEST_ENGINE=postgres (and VAULT_PG_DSN naming a server, see
// package pgtest) the same tests run on PostgreSQL instead: each Start on
// a new directory gets fresh schemas, dropped when the test ends, and the
// directory records them, so that Restart (or a Start on the same Dir)
// finds the same vaults again.
package vaulttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/vrmvault/vrmvault/clients/brand"
	"github.com/vrmvault/vrmvault/clients/owner"
	"github.com/vrmvault/vrmvault/clients/vaultconn"
	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault"
	"github.com/vrmvault/vrmvault/vault/profile"
	"github.com/vrmvault/vrmvault/vault/seal"
	"github.com/vrmvault/vrmvault/vault/server"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
	"github.com/vrmvault/vrmvault/vault/store/postgres"
	"github.com/vrmvault/vrmvault/vault/store/postgres/pgtest"
)

// EngineEnv selects the storage engine of Start: "postgres" for
// PostgreSQL, "" or "badger" for badger.
const EngineEnv = "VAULTTEST_ENGINE"

// Engine returns the storage engine Start uses: "badger" or "postgres".
func Engine() string {
	if os.Getenv(EngineEnv) == "postgres" {
		return "postgres"
	}
	return "badger"
}

// Options configure Start. The zero value is a vault with default limits
// and the real clock.
type Options struct {
	// Dir is the data directory; empty means a new t.TempDir(). On
	// PostgreSQL it holds only the name of the schemas.
	Dir string
	// Now is the vault's clock; nil means time.Now.
	Now func() time.Time
	// Limits are the profile limits; zero means the defaults.
	Limits profile.Limits
	// MaxStreamsPerBrand and MaxStreamsPerVault bound open streams; zero
	// means the server's defaults.
	MaxStreamsPerBrand, MaxStreamsPerVault int
	// SendTimeout ends a stream whose consumer takes no event; zero means
	// the server's default.
	SendTimeout time.Duration
	// HostID and AdminKeys turn on host mode (HostService).
	HostID string
	// AdminKeys are the host admin keys.
	AdminKeys []consent.PublicKey
	// Defaults are the host's default quotas.
	Defaults vault.Quota
	// HostKey seals the vaults' data keys; nil means a fresh one (kept
	// across Restart).
	HostKey *seal.HostKey
}

// sealedStore is the data store sealed with keys kept in their own store.
type sealedStore struct {
	*seal.Store
	keys store.Store
}

func (s sealedStore) Close() error {
	err := s.Store.Close()
	if kerr := s.keys.Close(); err == nil {
		err = kerr
	}
	return err
}

// openSealed opens the data store sealed with data keys kept in a second
// store, in the layout vaultd uses: badger in Dir/data and Dir/keys, or
// PostgreSQL in a schema and that schema + "_keys".
func openSealed(t testing.TB, o Options) (sealedStore, error) {
	var data, keys store.Store
	var err error
	if Engine() == "postgres" {
		data, keys, err = openPostgres(t, o)
	} else {
		data, keys, err = openBadger(o)
	}
	if err != nil {
		return sealedStore{}, err
	}
	kr, err := seal.OpenKeyring(context.Background(), keys, o.HostKey, nil)
	if err != nil {
		_ = data.Close()
		_ = keys.Close()
		return sealedStore{}, err
	}
	return sealedStore{Store: seal.New(data, kr), keys: keys}, nil
}

func openBadger(o Options) (data, keys store.Store, err error) {
	d, err := badgerstore.Open(badgerstore.Config{Dir: filepath.Join(o.Dir, "data"), Now: o.Now})
	if err != nil {
		return nil, nil, err
	}
	k, err := badgerstore.Open(badgerstore.Config{Dir: filepath.Join(o.Dir, "keys"), Now: o.Now})
	if err != nil {
		_ = d.Close()
		return nil, nil, err
	}
	return d, k, nil
}

// schemaFile, in the data directory, names the PostgreSQL schema of the
// vaults started on that directory.
const schemaFile = "postgres-schema"

// openPostgres opens the data and key stores on PostgreSQL, in the
// schemas that o.Dir records, or in fresh ones (recorded in o.Dir and
// dropped at the end of the test).
func openPostgres(t testing.TB, o Options) (data, keys store.Store, err error) {
	if !pgtest.Available() {
		return nil, nil, fmt.Errorf("%s=postgres needs %s", EngineEnv, pgtest.DSNEnv)
	}
	dsn := pgtest.DSN(t)
	path := filepath.Join(o.Dir, schemaFile)
	var schema string
	switch b, err := os.ReadFile(path); {
	case err == nil:
		schema = strings.TrimSpace(string(b))
	case errors.Is(err, fs.ErrNotExist):
		schema = pgtest.NewSchema(t, dsn)
		pgtest.DropAtCleanup(t, dsn, schema+"_keys")
		if err := os.WriteFile(path, []byte(schema+"\n"), 0o600); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Schema: schema, Now: o.Now})
	if err != nil {
		return nil, nil, err
	}
	k, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Schema: schema + "_keys", Now: o.Now, DisableNotify: true, MaxConns: 4})
	if err != nil {
		_ = d.Close()
		return nil, nil, err
	}
	return d, k, nil
}

// Vault is a running vault server.
type Vault struct {
	// Addr is the vault address, host:port/<vault-id>.
	Addr string
	// Address is Addr parsed.
	Address vaultconn.Address
	// Code is a fresh one-time enrolment code.
	Code string
	// Dir is the data directory.
	Dir string
	// Host is the domain object behind the server.
	Host *vault.Host
	// Server is the gRPC services.
	Server *server.Server

	opts     Options
	store    sealedStore
	grpc     *grpc.Server
	stopOnce sync.Once
}

// Start starts a server on a new vault (or, when opts.Dir holds one, on
// the vault already there) and returns it with a fresh enrolment code.
func Start(t testing.TB, opts ...Options) *Vault {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.HostKey == nil {
		enc, err := seal.GenerateHostKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if o.HostKey, err = seal.ParseHostKey([]byte(enc)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := openSealed(t, o)
	if err != nil {
		t.Fatalf("vaulttest: open store: %v", err)
	}
	h, err := vault.NewHost(vault.Config{Store: st, Now: o.Now, Limits: o.Limits, Defaults: o.Defaults})
	if err != nil {
		_ = st.Close()
		t.Fatalf("vaulttest: new host: %v", err)
	}
	ctx := context.Background()
	ids, err := h.ListVaults(ctx, "", 1)
	if err != nil {
		_ = st.Close()
		t.Fatalf("vaulttest: list vaults: %v", err)
	}
	var id string
	var enr vault.Enrollment
	if len(ids) == 0 {
		id, enr, err = h.CreateVault(ctx)
	} else {
		id = ids[0]
		enr, err = h.NewEnrollmentCode(ctx, id)
	}
	if err != nil {
		_ = st.Close()
		t.Fatalf("vaulttest: prepare vault: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = st.Close()
		t.Fatalf("vaulttest: listen: %v", err)
	}
	srv, err := server.New(server.Config{
		Host: h, Now: o.Now, MaxStreamsPerBrand: o.MaxStreamsPerBrand,
		MaxStreamsPerVault: o.MaxStreamsPerVault, SendTimeout: o.SendTimeout,
		HostID: o.HostID, AdminKeys: o.AdminKeys, Advertise: lis.Addr().String(),
	})
	if err != nil {
		_ = st.Close()
		_ = lis.Close()
		t.Fatalf("vaulttest: new server: %v", err)
	}
	gs, _ := srv.NewGRPCServer()
	go func() { _ = gs.Serve(lis) }()
	v := &Vault{
		Server:  srv,
		Addr:    lis.Addr().String() + "/" + id,
		Address: vaultconn.Address{HostPort: lis.Addr().String(), VaultID: id},
		Code:    enr.Code,
		Dir:     o.Dir,
		Host:    h,
		opts:    o,
		store:   st,
		grpc:    gs,
	}
	t.Cleanup(v.Stop)
	return v
}

// Stop stops the server and closes the store. It is safe to call twice.
func (v *Vault) Stop() {
	v.stopOnce.Do(func() {
		v.Server.Drain()
		v.grpc.Stop()
		_ = v.store.Close()
	})
}

// Restart stops the server and starts a new one on the same data
// directory (and the same vault), on a new port.
func (v *Vault) Restart(t testing.TB) *Vault {
	t.Helper()
	v.Stop()
	o := v.opts
	o.Dir = v.Dir
	return Start(t, o)
}

// HostKey returns the host key that seals the vaults' data keys.
func (v *Vault) HostKey() *seal.HostKey {
	return v.opts.HostKey
}

// NewKey returns a fresh Ed25519 key.
func NewKey(t testing.TB) *consent.PrivateKey {
	t.Helper()
	k, err := consent.GenerateKey(consent.EdDSA, rand.Reader)
	if err != nil {
		t.Fatalf("vaulttest: generate key: %v", err)
	}
	return k
}

// Owner enrols a fresh owner key with v.Code and returns a client signing
// with it. The code is spent afterwards.
func (v *Vault) Owner(t testing.TB) (*owner.Client, *consent.PrivateKey) {
	t.Helper()
	key := NewKey(t)
	c := v.Client(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Enroll(ctx, v.Code, "test"); err != nil {
		t.Fatalf("vaulttest: enrol: %v", err)
	}
	return c, key
}

// Store returns the vault's store, for tests that tamper with it directly.
func (v *Vault) Store() store.Store { return v.store.Store }

// Brand returns a brand client for v signing with key.
func (v *Vault) Brand(t testing.TB, key *consent.PrivateKey) *brand.Client {
	t.Helper()
	return v.BrandAt(t, v.Address, key)
}

// BrandAt returns a brand client for the vault at addr signing with key.
func (v *Vault) BrandAt(t testing.TB, addr vaultconn.Address, key *consent.PrivateKey) *brand.Client {
	t.Helper()
	c, err := brand.Dial(vaultconn.Config{Address: addr, Key: key, Now: v.opts.Now})
	if err != nil {
		t.Fatalf("vaulttest: dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// NewVault creates another vault on the same host and server and returns
// its address and an enrolment code.
func (v *Vault) NewVault(t testing.TB) (vaultconn.Address, string) {
	t.Helper()
	id, enr, err := v.Host.CreateVault(context.Background())
	if err != nil {
		t.Fatalf("vaulttest: create vault: %v", err)
	}
	return vaultconn.Address{HostPort: v.Address.HostPort, VaultID: id}, enr.Code
}

// ClientAt returns an owner client for the vault at addr signing with key.
func (v *Vault) ClientAt(t testing.TB, addr vaultconn.Address, key *consent.PrivateKey) *owner.Client {
	t.Helper()
	c, err := owner.Dial(vaultconn.Config{Address: addr, Key: key, Now: v.opts.Now})
	if err != nil {
		t.Fatalf("vaulttest: dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Client returns an owner client for v signing with key (not enrolled).
func (v *Vault) Client(t testing.TB, key *consent.PrivateKey) *owner.Client {
	t.Helper()
	return v.ClientAt(t, v.Address, key)
}
