package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store/postgres/pgtest"
)

func TestStoreFlag(t *testing.T) {
	const pgURL = "postgres://u:hunter2@db.example:5432/vrm"
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name       string
		args       []string
		getenv     func(string) string
		store      string
		keysStore  string
		errContain string
	}{
		{name: "default badger", getenv: env(), store: "badger"},
		{name: "flag", args: []string{"--store", pgURL}, getenv: env(), store: pgURL},
		{name: "env", getenv: env(storeEnv, pgURL), store: pgURL},
		{name: "flag beats env", args: []string{"--store", "badger"}, getenv: env(storeEnv, pgURL), store: "badger"},
		{name: "postgresql scheme", args: []string{"--store", "postgresql://h/db"}, getenv: env(), store: "postgresql://h/db"},
		{name: "keys store env", args: []string{"--store", pgURL}, getenv: env(keysStoreEnv, "postgres://k/keys"), store: pgURL, keysStore: "postgres://k/keys"},
		{name: "unknown engine", args: []string{"--store", "mysql://u:hunter2@h/db"}, getenv: env(), errContain: "must be badger or a postgres:// URL"},
		{name: "keys-dir with postgres", args: []string{"--store", pgURL, "--keys-dir", "/k"}, getenv: env(), errContain: "--keys-dir is for the badger store"},
		{name: "keys-store with badger", args: []string{"--keys-store", "postgres://k/keys"}, getenv: env(), errContain: "goes with a PostgreSQL --store"},
		{name: "pg-poll with badger", args: []string{"--pg-poll", "1s"}, getenv: env(), errContain: "--pg-poll goes with a PostgreSQL --store"},
		{name: "pg-poll negative", args: []string{"--store", pgURL, "--pg-poll", "-1s"}, getenv: env(), errContain: "must not be negative"},
		{name: "keys-store not postgres", args: []string{"--store", pgURL, "--keys-store", "/k"}, getenv: env(), errContain: "must be a postgres:// URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := parseFlags(c.args, io.Discard, c.getenv)
			if c.errContain != "" {
				if err == nil || !strings.Contains(err.Error(), c.errContain) {
					t.Fatalf("parseFlags = %v, want an error containing %q", err, c.errContain)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.store != c.store || o.keysStore != c.keysStore {
				t.Fatalf("store %q, keys store %q; want %q, %q", o.store, o.keysStore, c.store, c.keysStore)
			}
		})
	}
	o, err := parseFlags([]string{"--store", pgURL}, io.Discard, env())
	if err != nil {
		t.Fatal(err)
	}
	if d := o.storeDescription(); strings.Contains(d, "hunter2") || !strings.Contains(d, "db.example:5432/vrm") {
		t.Fatalf("store description %q", d)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writing process and a reading
// test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPostgresPasswordNeverLogged: vaultd on PostgreSQL, at debug level,
// prints and logs its store without the password, from start to shutdown.
func TestPostgresPasswordNeverLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real vaultd")
	}
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal("VAULT_PG_DSN must be a postgres:// URL for this test")
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		t.Skip("VAULT_PG_DSN carries no password")
	}
	schema := pgtest.NewSchema(t, dsn)
	pgtest.DropAtCleanup(t, dsn, schema+"_keys")
	withSchema, err := pgtest.WithSchema(dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildVaultd(t)
	var out lockedBuffer
	cmd := exec.Command(bin, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "debug")
	cmd.Env = append(os.Environ(), storeEnv+"="+withSchema)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for !strings.Contains(out.String(), " ready (store postgres://") {
		if ctx.Err() != nil {
			t.Fatalf("vaultd did not become ready: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vaultd after SIGTERM: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), pw) {
		t.Fatalf("vaultd printed the database password:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "store open") {
		t.Errorf("no store log line at debug level:\n%s", out.String())
	}
}
