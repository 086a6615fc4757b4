package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/seal"
	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
	"github.com/vrmvault/vrmvault/vault/store/postgres"
)

// hostKeyEnv is the environment variable that may carry the host key.
const hostKeyEnv = "VAULTD_HOST_KEY"

// loadHostKey reads the host key from --host-key-file, else from the
// environment, else from <data>/host.key, created on first start. The key
// is never logged.
func loadHostKey(o options, getenv func(string) string, log *slog.Logger) (*seal.HostKey, error) {
	if o.hostKeyFile != "" {
		b, err := os.ReadFile(o.hostKeyFile)
		if err != nil {
			return nil, fmt.Errorf("host key: %w", err)
		}
		return seal.ParseHostKey(b)
	}
	if v := getenv(hostKeyEnv); v != "" {
		return seal.ParseHostKey([]byte(v))
	}
	path := filepath.Join(o.data, "host.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		enc, err := seal.GenerateHostKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(path, []byte(enc+"\n")); err != nil {
			return nil, fmt.Errorf("host key: %w", err)
		}
		log.Warn("generated a host key beside the data; for crypto-shredding to hold against backups, keep it (and --keys-dir) apart from the data and pass --host-key-file or "+hostKeyEnv, "file", path)
		b = []byte(enc)
	} else if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	return seal.ParseHostKey(b)
}

// writeFileAtomic writes data to path with mode 0600 via a temp file and
// a rename, so a crash never leaves half a secret.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// openedStore is the sealed data store and the key store behind it.
type openedStore struct {
	*seal.Store
	keys store.Store
}

// Close closes the data store, then the key store.
func (s openedStore) Close() error {
	err := s.Store.Close()
	if kerr := s.keys.Close(); err == nil {
		err = kerr
	}
	return err
}

// storeDescription names where the data is, for the ready line: the data
// directory, or the PostgreSQL database without its password.
func (o options) storeDescription() string {
	if isPostgresURL(o.store) {
		return "store " + postgres.Redact(o.store)
	}
	return "data dir " + o.data
}

// openStore opens the data store sealed with the data keys kept in the
// key store: badger in <data>/data and --keys-dir (default <data>/keys),
// or PostgreSQL (see openPostgres).
func openStore(ctx context.Context, o options, hk *seal.HostKey, log *slog.Logger) (openedStore, error) {
	data, keys, err := openEngines(ctx, o, log)
	if err != nil {
		return openedStore{}, err
	}
	kr, err := seal.OpenKeyring(ctx, keys, hk, rand.Reader)
	if err != nil {
		_ = data.Close()
		_ = keys.Close()
		return openedStore{}, err
	}
	return openedStore{Store: seal.New(data, kr), keys: keys}, nil
}

// openEngines opens the data store and the key store, unsealed.
func openEngines(ctx context.Context, o options, log *slog.Logger) (data, keys store.Store, err error) {
	if isPostgresURL(o.store) {
		return openPostgres(ctx, o, log)
	}
	dataDir := filepath.Join(o.data, "data")
	d, err := badgerstore.Open(badgerstore.Config{Dir: dataDir, Logger: log})
	if errors.Is(err, badgerstore.ErrLocked) {
		return nil, nil, fmt.Errorf("data dir %s is in use by another vaultd; stop it first", o.data)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	k, err := openKeys(o, log)
	if err != nil {
		_ = d.Close()
		return nil, nil, err
	}
	return d, k, nil
}

// keysStoreConns is the connection pool size of a PostgreSQL key store:
// data keys are read once per vault and then cached.
const keysStoreConns = 4

// openPostgres opens the data store on the PostgreSQL database of --store
// (in the schema its search_path names, else the current schema) and the
// key store on --keys-store, by default the same database in the schema
// <data schema>_keys. Several vaultd may share them (give them all the
// same --host-key-file and --host-id); the key store must not be the data
// store itself.
func openPostgres(ctx context.Context, o options, log *slog.Logger) (data, keys store.Store, err error) {
	d, err := postgres.Open(ctx, postgres.Config{
		DSN: o.store, Logger: log.With("store", "data"),
		DisableNotify: o.pgPoll > 0, PollInterval: o.pgPoll,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	// Nothing waits on the key store: it needs no notifications and few
	// connections.
	cfg := postgres.Config{DSN: o.keysStore, Logger: log.With("store", "keys"), DisableNotify: true, MaxConns: keysStoreConns}
	if cfg.DSN == "" {
		cfg.DSN, cfg.Schema = o.store, d.Schema()+"_keys"
	}
	k, err := postgres.Open(ctx, cfg)
	if err != nil {
		_ = d.Close()
		return nil, nil, fmt.Errorf("open key store: %w", err)
	}
	if k.Schema() == d.Schema() && postgres.Redact(cfg.DSN) == postgres.Redact(o.store) {
		_ = d.Close()
		_ = k.Close()
		return nil, nil, fmt.Errorf("the key store is the data store (schema %s): give --keys-store another schema or database", d.Schema())
	}
	return d, k, nil
}

func openKeys(o options, log *slog.Logger) (*badgerstore.Store, error) {
	dir := o.keysDir
	if dir == "" {
		dir = filepath.Join(o.data, "keys")
	}
	keys, err := badgerstore.Open(badgerstore.Config{Dir: dir, Logger: log})
	if errors.Is(err, badgerstore.ErrLocked) {
		return nil, fmt.Errorf("key store %s is in use by another vaultd; stop it first", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	return keys, nil
}

// rotateHostKey re-wraps every data key with the key in newFile.
func rotateHostKey(ctx context.Context, o options, old *seal.HostKey, newFile string, log *slog.Logger) (int, error) {
	b, err := os.ReadFile(newFile)
	if err != nil {
		return 0, fmt.Errorf("new host key: %w", err)
	}
	next, err := seal.ParseHostKey(b)
	if err != nil {
		return 0, fmt.Errorf("new host key: %w", err)
	}
	var keys store.Store
	if isPostgresURL(o.store) {
		// The data store names the key store's default schema.
		var data store.Store
		if data, keys, err = openPostgres(ctx, o, log); err != nil {
			return 0, err
		}
		if err := data.Close(); err != nil {
			_ = keys.Close()
			return 0, err
		}
	} else if keys, err = openKeys(o, log); err != nil {
		return 0, err
	}
	defer keys.Close()
	kr, err := seal.OpenKeyring(ctx, keys, old, rand.Reader)
	if err != nil {
		return 0, err
	}
	return kr.Rotate(ctx, next)
}

// hostIdentity returns the host id (from --host-id, else <data>/host-id,
// created on first start) and the admin keys from --admin-key files.
func hostIdentity(o options) (string, []consent.PublicKey, error) {
	id := o.hostID
	if id == "" {
		path := filepath.Join(o.data, "host-id")
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			id, err = consent.NewID(rand.Reader)
			if err != nil {
				return "", nil, err
			}
			if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
				return "", nil, fmt.Errorf("host id: %w", err)
			}
		case err != nil:
			return "", nil, fmt.Errorf("host id: %w", err)
		default:
			id = strings.TrimSpace(string(b))
		}
	}
	if !consent.ValidID(id) {
		return "", nil, fmt.Errorf("host id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	if len(o.adminKeys) == 0 {
		return "", nil, errors.New("host mode needs at least one --admin-key FILE (a public JWK from vrm-host keygen)")
	}
	var keys []consent.PublicKey
	for _, f := range o.adminKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", nil, fmt.Errorf("admin key: %w", err)
		}
		k, err := consent.ParsePublicKey([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return "", nil, fmt.Errorf("admin key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return id, keys, nil
}
