// Package pgtest gives tests a real PostgreSQL: the server named by the
// VAULT_PG_DSN environment variable (.ci/postgres.sh starts one), with a
// fresh schema per test that is dropped when the test ends, so tests never
// see each other's vaults.
//
// Where VAULT_PG_DSN is unset the tests that need it are skipped with a
// message saying so, unless VAULT_PG_REQUIRED is set (as .ci/run does):
// then they fail, so that CI can never pass by skipping them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by this package.
const (
	// DSNEnv names the PostgreSQL server the tests use.
	DSNEnv = "VAULT_PG_DSN"
	// RequiredEnv, when non-empty, turns the skip for a missing DSNEnv
	// into a failure.
	RequiredEnv = "VAULT_PG_REQUIRED"
)

// SkipMessage is the message of a test skipped for want of a server.
const SkipMessage = DSNEnv + " not set: skipping PostgreSQL tests"

// Available reports whether a server is configured.
func Available() bool { return os.Getenv(DSNEnv) != "" }

// DSN returns the server's DSN, or skips the test (fails it when
// RequiredEnv is set) if there is none.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(DSNEnv)
	if dsn == "" {
		if os.Getenv(RequiredEnv) != "" {
			t.Fatalf("%s not set, but %s is: the PostgreSQL tests must run", DSNEnv, RequiredEnv)
		}
		t.Skip(SkipMessage)
	}
	return dsn
}

// NewSchema creates a schema with a fresh random name on the server of
// dsn and drops it, with everything in it, when the test ends. Register
// it before anything that uses the schema, so that the drop comes after
// their cleanup.
func NewSchema(t testing.TB, dsn string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "vt_" + hex.EncodeToString(b[:])
	if err := exec(dsn, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	DropAtCleanup(t, dsn, schema)
	return schema
}

// DropAtCleanup drops schema, with everything in it, if it exists when
// the test ends: for a schema that the code under test creates itself.
func DropAtCleanup(t testing.TB, dsn, schema string) {
	t.Helper()
	t.Cleanup(func() {
		if err := exec(dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
}

// exec runs one statement on a connection of its own.
func exec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// WithSchema returns dsn with its search_path set to schema, for a
// program that takes only a DSN (vaultd --store). schema must be a plain
// lower-case identifier, as NewSchema makes.
func WithSchema(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url.Error quotes the URL, password included: drop it.
			return "", errors.New("pgtest: the DSN is not a valid URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}
