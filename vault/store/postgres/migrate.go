package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationFiles holds the schema migrations, one file per version,
// named NNNN_description.sql. A released file is never edited: a change
// of schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one version of the schema.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order. The
// versions must be 1, 2, ... without gaps.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration file %q is not named NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration file %q: %w", name, err)
		}
		b, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration versions are not 1..%d: found %d at position %d", len(ms), m.version, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this package writes and reads: the
// number of its embedded migrations. Open refuses a schema at a later
// version (written by a newer vaultd).
var SchemaVersion = func() int {
	ms, err := loadMigrations()
	if err != nil {
		panic(err) // the embedded files are part of the binary; TestMigrations checks them
	}
	return len(ms)
}()

// migrationLockKey returns the advisory lock key that serializes the
// migrations of one schema, so that vaultd processes starting at once
// apply each migration exactly once.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("vrmvault.migrate." + schema))
	return int64(h.Sum64())
}

// migrate brings schema up to SchemaVersion in one transaction, under a
// transaction-scoped advisory lock: creating the schema if absent, then
// applying every migration not yet recorded in schema_migrations. It
// returns the version it found and the version it left.
func migrate(ctx context.Context, conn *pgx.Conn, schema string) (from, to int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, 0, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey(schema)); err != nil {
		return 0, 0, fmt.Errorf("take the migration lock: %w", err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	// CREATE SCHEMA IF NOT EXISTS would need the CREATE privilege on the
	// database even when the schema exists: ask first.
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return 0, 0, err
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
			return 0, 0, fmt.Errorf("create schema %s: %w", schema, err)
		}
	}
	// The migration files name their tables unqualified.
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+ident); err != nil {
		return 0, 0, err
	}
	_, err = tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return 0, 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return 0, 0, err
	}
	if current > len(ms) {
		return current, current, fmt.Errorf("schema %s is at version %d, newer than this program knows (%d): upgrade it", schema, current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return current, current, fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return current, current, fmt.Errorf("record migration %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return current, current, fmt.Errorf("commit migrations: %w", err)
	}
	return current, len(ms), nil
}

// errNoSchema is returned by Open when neither Config.Schema nor the
// connection's search_path names a schema.
var errNoSchema = errors.New("no schema: set one in the DSN (search_path=NAME) or create the first schema of the search_path")
