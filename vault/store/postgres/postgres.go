// Package postgres is the scale-out storage engine of a vrmvault host: it
// implements store.Store on PostgreSQL through pgx, with every table keyed
// and distributed by vault id, so that a host that outgrows one machine
// can shard its vaults with Citus and every vault transaction stays on one
// shard.
//
// # Schema
//
// The tables live in one schema (Config.Schema, or the DSN's search_path;
// usually public), created and migrated by Open: the SQL files embedded
// from migrations/ are applied in one transaction under an advisory lock,
// and recorded in schema_migrations, so that any number of vaultd
// processes may start at once. Open refuses a schema at a newer version
// than it knows.
//
//	vaults(vault PK, created_at, last_seq)          one row per vault
//	kv(vault, key bytea, value bytea, expires_at)   the caller's keys, PK (vault, key)
//	changes(vault, seq, time, data bytea)           the change feed, PK (vault, seq)
//
// Keys are bytea, because the contract allows any bytes in a key; bytea
// compares as unsigned bytes, which is the order Scan promises. Every
// query of a vault's data filters by its vault id (tenant isolation is in
// this code, not in row-level security); only ListVaults and the TTL
// cleanup read across vaults, and neither returns a vault's content.
//
// # Transactions
//
// Update runs at READ COMMITTED and first locks the vault's row in vaults
// (SELECT ... FOR NO KEY UPDATE): the writers of one vault run one after
// the other, and since each statement of a READ COMMITTED transaction
// reads the latest committed state, and nothing else commits to the vault
// while the lock is held, fn sees a stable view that includes its own
// writes. That makes every Update of a vault serializable without
// SERIALIZABLE's predicate locks and retries: almost every vault write
// appends a change row, and so would conflict on the sequence counter
// anyway. It also works unchanged on Citus, where the lock is an ordinary
// row lock on the vault's shard. Update still retries (with jittered
// backoff, up to Config.MaxRetries attempts, then store.ErrConflict) when
// PostgreSQL reports a serialization failure or a deadlock, which the TTL
// cleanup or a Citus distributed deadlock can cause. Within one Store the
// writers of a vault also queue in memory before they take a connection,
// so that writers waiting for the lock hold no pool connection (and a
// writer's fn that reads through the Store always finds one).
//
// View runs at REPEATABLE READ, READ ONLY: one snapshot, taking no lock,
// never blocked by writers.
//
// A transaction begins with one round trip (BEGIN and the vault's row,
// pipelined) and commits with one. Writes cost no round trip of their
// own: Put, Delete and AppendChange queue their statement, which is sent
// pipelined before the next read of the transaction or with the sequence
// counter, the notification and COMMIT. A queued write that fails fails
// that read or the commit, and Update writes nothing.
//
// # Change sequence
//
// AppendChange numbers its row with the vault's last_seq (read under the
// vault lock) plus one for each change of the transaction; the rows go
// to the server with the transaction's next read or its commit, the new
// last_seq with the commit (and the primary key (vault, seq) would refuse
// a duplicate all the same). A transaction that does not
// commit writes neither, so sequence numbers are gapless and unique, and
// since writers commit in lock order, Seq order is commit order: a reader
// never sees Seq n+1 without n.
//
// # Change notification
//
// A transaction that appended a change, and EraseVault, call pg_notify on
// the store's channel with the vault id as payload, inside the
// transaction, so the notification is delivered exactly when the commit
// is visible. One dedicated connection per Store LISTENs on the channel
// and wakes the Wait calls of that vault; any number of vaultd processes
// on one database wake each other's watchers. Notifications are hints: Wait
// registers before it reads the vault's last sequence number (so a commit
// it misses has not been notified yet), and if the listening connection
// breaks, the Store reconnects and wakes every Wait, since commits in
// between were not heard. Wait also re-reads every Config.PollInterval,
// which is the whole mechanism when notifications are disabled
// (Config.DisableNotify: for Citus clusters where writes do not pass
// through the coordinator the store listens on).
//
// # TTL
//
// PutTTL stores expires_at = Now() + ttl from the injected clock, rounded
// up to PostgreSQL's microsecond; reads treat the row as absent once the
// injected clock reaches it (so a row is never absent early, and at most a
// microsecond late). A cleanup loop deletes expired rows every
// Config.CleanupInterval. Change times are kept to the microsecond too.
//
// # Erase
//
// EraseVault locks the vault's row (waiting for its running writers),
// deletes its kv and changes rows and then the vault row, and notifies,
// all in one transaction: the vault disappears at once and entirely, and a
// crash leaves either all of it or none, so no tombstone is needed.
//
// # Durability
//
// Update returns nil only after COMMIT returned: with PostgreSQL's default
// synchronous_commit=on the commit record is flushed first, so an
// acknowledged write survives a crash of vaultd or of the database server.
// Open warns when the server runs with synchronous_commit=off or
// fsync=off.
//
// # Secrets
//
// The DSN is never logged or put into an error by this package: logs name
// the host, port, database, user and schema only (Redact does the same for
// callers).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vrmvault/vrmvault/vault/store"
)

// Defaults for the zero fields of Config.
const (
	// DefaultMaxRetries is how many times Update runs a transaction that
	// keeps failing with a serialization failure or deadlock before it
	// returns store.ErrConflict.
	DefaultMaxRetries = 16
	// DefaultMaxConns is the connection pool size when neither
	// Config.MaxConns nor the DSN's pool_max_conns sets one.
	DefaultMaxConns = 16
	// DefaultCleanupInterval is how often expired TTL rows are deleted.
	DefaultCleanupInterval = time.Minute
	// DefaultPollInterval is how often Wait re-reads the vault's sequence
	// without a notification; notifications make it a safety net only.
	DefaultPollInterval = 30 * time.Second
	// DefaultPollIntervalNoNotify is the poll interval when notifications
	// are disabled.
	DefaultPollIntervalNoNotify = time.Second
)

// Sizes and timeouts the package uses internally.
const (
	// scanPageSize is how many rows one query of Scan fetches; Scan
	// calls fn between pages, not while a query is open, so fn may use
	// the Tx.
	scanPageSize = 128
	// listenTimeout bounds how long Open waits for the listening
	// connection.
	listenTimeout = 10 * time.Second
	// maxPendingBytes is how many bytes of writes a transaction queues
	// before it sends them without waiting for its next read.
	maxPendingBytes = 4 << 20
	// finishTimeout bounds COMMIT and ROLLBACK, which run even when the
	// caller's context is done, so that a commit has a known outcome.
	finishTimeout = 30 * time.Second
)

// SQLSTATE codes the engine handles.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// Config configures Open.
type Config struct {
	// DSN is the PostgreSQL connection string: a postgres:// URL or
	// key=value pairs, as pgx accepts them (including pool_max_conns and
	// the PG* environment variables). It is never logged.
	DSN string
	// Schema is the schema that holds the tables; it is created if
	// absent. Empty means the search_path of the DSN if it names one
	// schema, otherwise the connection's current schema (usually public).
	Schema string
	// Now is the clock used for change times and TTLs (nil: time.Now).
	Now func() time.Time
	// Logger receives the engine's information, warnings and errors
	// (nil: discard).
	Logger *slog.Logger
	// MaxRetries bounds the attempts of one Update (0:
	// DefaultMaxRetries).
	MaxRetries int
	// MaxConns is the size of the connection pool, the listening
	// connection not included (0: the DSN's pool_max_conns, or
	// DefaultMaxConns).
	MaxConns int32
	// CleanupInterval is how often expired TTL rows are deleted (0:
	// DefaultCleanupInterval; negative: never).
	CleanupInterval time.Duration
	// DisableNotify turns off LISTEN/NOTIFY: writers send no
	// notification and Wait polls every PollInterval.
	DisableNotify bool
	// PollInterval is how often Wait re-reads the vault without a
	// notification (0: DefaultPollInterval, or
	// DefaultPollIntervalNoNotify when DisableNotify is set).
	PollInterval time.Duration
}

// Store is a store.Store on a PostgreSQL database. Its methods are safe
// for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	connCfg    *pgx.ConnConfig // for the listening connection
	log        *slog.Logger
	now        func() time.Time
	maxRetries int
	poll       time.Duration
	schema     string
	channel    string // notification channel; "" when notifications are disabled
	q          queries

	waiters    waiters
	writers    vaultLocks   // in-process queue of each vault's writers
	reconnects atomic.Int64 // listening connection re-established (tests)
	listenPID  atomic.Uint32

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	done     chan struct{} // closed by Close: wakes Wait calls

	stopBackground context.CancelFunc
	background     sync.WaitGroup // listener and cleanup loops
}

var _ store.Store = (*Store)(nil)

// Open connects to the database, creates or migrates the schema, checks
// that acknowledged writes will be durable (warning if not), and starts
// listening for change notifications and the TTL cleanup. ctx bounds the
// start only.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.DSN == "" {
		return nil, errors.New("postgres: open: empty DSN")
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	switch {
	case cfg.MaxConns > 0:
		pc.MaxConns = cfg.MaxConns
	case !strings.Contains(cfg.DSN, "pool_max_conns"):
		pc.MaxConns = DefaultMaxConns
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "vrmvault"
	}
	s := &Store{
		log:        cfg.Logger,
		now:        cfg.Now,
		maxRetries: cfg.MaxRetries,
		poll:       cfg.PollInterval,
		schema:     cfg.Schema,
		done:       make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxRetries <= 0 {
		s.maxRetries = DefaultMaxRetries
	}
	if s.poll <= 0 {
		s.poll = DefaultPollInterval
		if cfg.DisableNotify {
			s.poll = DefaultPollIntervalNoNotify
		}
	}
	if s.schema == "" {
		s.schema = singleSchema(pc.ConnConfig.RuntimeParams["search_path"])
	}
	target := describe(&pc.ConnConfig.Config)
	s.log = s.log.With("component", "postgres")

	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", target, err)
	}
	s.pool = pool
	fail := func(err error) (*Store, error) {
		if s.stopBackground != nil {
			s.stopBackground()
			s.background.Wait()
		}
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", target, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fail(err)
	}
	from, to, err := s.prepareSchema(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		return fail(err)
	}
	s.q = newQueries(pgx.Identifier{s.schema}.Sanitize())
	s.checkDurability(ctx)

	bg, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	if !cfg.DisableNotify {
		s.channel = channelName(s.schema)
		s.connCfg = pc.ConnConfig.Copy()
		ready := make(chan error, 1)
		s.background.Add(1)
		go s.listenLoop(bg, ready)
		select {
		case err := <-ready:
			if err != nil {
				return fail(fmt.Errorf("listen for change notifications: %w", err))
			}
		case <-time.After(listenTimeout):
			return fail(errors.New("listen for change notifications: timed out"))
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
	cleanup := cfg.CleanupInterval
	if cleanup == 0 {
		cleanup = DefaultCleanupInterval
	}
	if cleanup > 0 {
		s.background.Add(1)
		go s.cleanupLoop(bg, cleanup)
	}
	attrs := []any{"target", target, "schema", s.schema, "schema_version", to, "notify", !cfg.DisableNotify}
	if from != to {
		attrs = append(attrs, "migrated_from", from)
	}
	s.log.Info("store open", attrs...)
	return s, nil
}

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// prepareSchema resolves the schema (if Config and DSN named none) and
// migrates it.
func (s *Store) prepareSchema(ctx context.Context, conn *pgx.Conn) (from, to int, err error) {
	if s.schema == "" {
		var cur *string
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&cur); err != nil {
			return 0, 0, fmt.Errorf("read current schema: %w", err)
		}
		if cur == nil {
			return 0, 0, errNoSchema
		}
		s.schema = *cur
	}
	return migrate(ctx, conn, s.schema)
}

// checkDurability warns when the server may lose acknowledged commits.
func (s *Store) checkDurability(ctx context.Context) {
	for setting, bad := range map[string]string{"synchronous_commit": "off", "fsync": "off"} {
		var v string
		if err := s.pool.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&v); err != nil {
			s.log.Warn("cannot read server setting", "setting", setting, "err", err)
			continue
		}
		if v == bad {
			s.log.Warn("the server may lose acknowledged writes in a crash", "setting", setting, "value", v)
		}
	}
}

// singleSchema returns the schema a search_path names if it names exactly
// one (unquoted or quoted), else "".
func singleSchema(searchPath string) string {
	p := strings.TrimSpace(searchPath)
	if p == "" || strings.Contains(p, ",") {
		return ""
	}
	if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
		return strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
	}
	if strings.ContainsAny(p, `"$ `) {
		return "" // "$user" and other forms PostgreSQL resolves itself
	}
	return strings.ToLower(p) // PostgreSQL folds unquoted identifiers
}

// channelName returns the notification channel of a schema: one channel
// per schema, so that stores on different schemas of one database do not
// wake each other. Channel names are identifiers (at most 63 bytes).
func channelName(schema string) string {
	c := "vrmvault." + schema
	if len(c) <= 63 {
		return c
	}
	return fmt.Sprintf("vrmvault.%016x", uint64(migrationLockKey(schema)))
}

// Close waits for running calls to end (Wait calls return
// store.ErrClosed), stops the listener and the cleanup, and closes the
// pool. Later calls, Close included, return store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("postgres: close: %w", store.ErrClosed)
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	s.inflight.Wait()
	s.stopBackground()
	s.background.Wait()
	s.pool.Close()
	return nil
}

// enter registers a running call, or returns store.ErrClosed. A nil
// return must be paired with leave.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("postgres: %w", store.ErrClosed)
	}
	s.inflight.Add(1)
	return nil
}

func (s *Store) leave() { s.inflight.Done() }

// begin validates a vault id and registers a running call.
func (s *Store) begin(op, vault string) error {
	if !store.ValidVaultID(vault) {
		return fmt.Errorf("%s: vault id %q: %w", op, vault, store.ErrInvalidKey)
	}
	return s.enter()
}

// CreateVault inserts the row of a new, empty vault.
func (s *Store) CreateVault(ctx context.Context, vault string) error {
	if err := s.begin("create vault", vault); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.pool.Exec(ctx, s.q.createVault, vault, s.now())
	if isCode(err, codeUniqueViolation) {
		return fmt.Errorf("vault %s: %w", vault, store.ErrVaultExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create vault %s: %w", vault, err)
	}
	return nil
}

// EraseVault deletes every row of the vault in one transaction, after its
// running writers.
func (s *Store) EraseVault(ctx context.Context, vault string) error {
	if err := s.begin("erase vault", vault); err != nil {
		return err
	}
	defer s.leave()
	unlock, err := s.writers.lock(ctx, vault)
	if err != nil {
		return err
	}
	defer unlock()
	var kvRows, changeRows int64
	err = s.retry(ctx, "erase vault "+vault, func() error {
		var err error
		kvRows, changeRows, err = s.erase(ctx, vault)
		return err
	})
	if err != nil {
		return err
	}
	s.log.Info("vault erased", "vault", vault, "kv_rows", kvRows, "change_rows", changeRows)
	return nil
}

// erase is one attempt of EraseVault.
func (s *Store) erase(ctx context.Context, vault string) (kvRows, changeRows int64, err error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: erase vault %s: %w", vault, err)
	}
	defer c.Release()
	conn := c.Conn()
	if _, err := beginAndRead(ctx, conn, beginUpdate, s.q.lockVaultForErase, vault); err != nil {
		rollback(ctx, conn)
		return 0, 0, wrapBeginErr("erase", vault, err)
	}
	b := &pgx.Batch{}
	b.Queue(s.q.eraseKV, vault)
	b.Queue(s.q.eraseChanges, vault)
	b.Queue(s.q.eraseVault, vault)
	if s.channel != "" {
		b.Queue(notifySQL, s.channel, vault)
	}
	b.Queue("COMMIT")
	// Once begun, an erase is finished even if the caller gives up.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	br := conn.SendBatch(fctx, b)
	tags := make([]pgconn.CommandTag, 0, b.Len())
	for range b.Len() {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			rollback(ctx, conn)
			return 0, 0, fmt.Errorf("postgres: erase vault %s: %w", vault, err)
		}
		tags = append(tags, tag)
	}
	if err := br.Close(); err != nil {
		rollback(ctx, conn)
		return 0, 0, fmt.Errorf("postgres: erase vault %s: %w", vault, err)
	}
	if tags[len(tags)-1].String() != "COMMIT" {
		return 0, 0, fmt.Errorf("postgres: erase vault %s: the transaction was rolled back", vault)
	}
	return tags[0].RowsAffected(), tags[1].RowsAffected(), nil
}

// ListVaults returns up to limit vault ids in ascending byte order, after
// the id after. limit must be positive.
func (s *Store) ListVaults(ctx context.Context, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: list vaults: limit %d is not positive", limit)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	bound, inclusive, none := listBound(after)
	if none {
		return nil, nil
	}
	q := s.q.listVaultsAfter
	if inclusive {
		q = s.q.listVaultsFrom
	}
	rows, err := s.pool.Query(ctx, q, bound, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list vaults: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list vaults: %w", err)
	}
	return ids, nil
}

// listBound turns the cursor of ListVaults, which may hold any bytes,
// into a bound that PostgreSQL text accepts (no NUL, valid UTF-8). Vault
// ids are ASCII without NUL, so the ids after the cursor are the ids
// greater than bound (or, if inclusive, at least bound); none reports that
// no id can follow the cursor.
func listBound(after string) (bound string, inclusive, none bool) {
	i := strings.IndexFunc(after, func(r rune) bool { return r == 0 || r >= 0x80 })
	switch {
	case i < 0:
		return after, false, false
	case after[i] == 0:
		// An id extending after[:i] continues with a byte above NUL, so
		// it follows the cursor; after[:i] itself precedes it.
		return after[:i], false, false
	default:
		// A byte of 0x80 or more: every id extending after[:i] precedes
		// the cursor, so the first candidate is the least string above
		// all of them.
		p := []byte(after[:i])
		for len(p) > 0 && p[len(p)-1] == 0x7f {
			p = p[:len(p)-1]
		}
		if len(p) == 0 {
			return "", false, true
		}
		p[len(p)-1]++
		return string(p), true, false
	}
}

// View runs fn in a read-only REPEATABLE READ transaction of the vault.
func (s *Store) View(ctx context.Context, vault string, fn func(store.Tx) error) error {
	if err := s.begin("view", vault); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: view vault %s: %w", vault, err)
	}
	defer c.Release()
	conn := c.Conn()
	last, err := beginAndRead(ctx, conn, beginView, s.q.readVault, vault)
	if err != nil {
		rollback(ctx, conn)
		return wrapBeginErr("view", vault, err)
	}
	t := newTx(ctx, s, conn, vault, last, false)
	err = fn(t)
	t.finish()
	rollback(ctx, conn) // read-only: nothing to commit
	return err
}

// Update runs fn in a read-write transaction of the vault that holds the
// vault's lock, running it again on a serialization failure or deadlock.
func (s *Store) Update(ctx context.Context, vault string, fn func(store.Tx) error) error {
	if err := s.begin("update", vault); err != nil {
		return err
	}
	defer s.leave()
	unlock, err := s.writers.lock(ctx, vault)
	if err != nil {
		return err
	}
	defer unlock()
	return s.retry(ctx, "update vault "+vault, func() error { return s.update(ctx, vault, fn) })
}

// update is one attempt of Update. It returns a retryable error (see
// retryable) when the attempt should run again.
func (s *Store) update(ctx context.Context, vault string, fn func(store.Tx) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: update vault %s: %w", vault, err)
	}
	defer c.Release()
	conn := c.Conn()
	last, err := beginAndRead(ctx, conn, beginUpdate, s.q.lockVault, vault)
	if err != nil {
		rollback(ctx, conn)
		return wrapBeginErr("update", vault, err)
	}
	t := newTx(ctx, s, conn, vault, last, true)
	ferr := fn(t)
	t.finish()
	switch {
	case t.broken != nil && retryable(t.broken):
		// fn saw a statement fail with a serialization failure or a
		// deadlock, whatever it returned: run it again.
		rollback(ctx, conn)
		return t.broken
	case ferr != nil:
		rollback(ctx, conn)
		return ferr // as is: the contract
	case t.broken != nil:
		// A statement failed and fn ignored it: PostgreSQL has aborted
		// the transaction, and committing would lose the write.
		rollback(ctx, conn)
		return t.broken
	}
	return t.commit()
}

// Changes returns up to limit change rows of the vault after seq after,
// reading the vault row and the changes in one statement (one snapshot).
func (s *Store) Changes(ctx context.Context, vault string, after uint64, limit int) ([]store.Change, error) {
	if limit < 1 || limit > store.MaxChangesPerCall {
		return nil, fmt.Errorf("postgres: changes of vault %s: limit %d not in [1, %d]", vault, limit, store.MaxChangesPerCall)
	}
	if err := s.begin("changes", vault); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.pool.Query(ctx, s.q.changes, vault, int64(min(after, math.MaxInt64)), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: changes of vault %s: %w", vault, err)
	}
	defer rows.Close()
	found := false
	var out []store.Change
	for rows.Next() {
		found = true
		var (
			seq  *int64
			at   *time.Time
			data []byte
		)
		if err := rows.Scan(&seq, &at, &data); err != nil {
			return nil, fmt.Errorf("postgres: changes of vault %s: %w", vault, err)
		}
		if seq == nil {
			continue // the vault exists but has no change after the cursor
		}
		if data == nil {
			data = []byte{}
		}
		out = append(out, store.Change{Seq: uint64(*seq), Time: at.UTC(), Data: data})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: changes of vault %s: %w", vault, err)
	}
	if !found {
		return nil, fmt.Errorf("vault %s: %w", vault, store.ErrVaultNotFound)
	}
	return out, nil
}

// lastSeq returns the vault's last change seq, or store.ErrVaultNotFound.
func (s *Store) lastSeq(ctx context.Context, vault string) (uint64, error) {
	var last int64
	err := s.pool.QueryRow(ctx, s.q.readVault, vault).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("vault %s: %w", vault, store.ErrVaultNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: read vault %s: %w", vault, err)
	}
	return uint64(last), nil
}

// retry runs attempt until it returns nil, a non-retryable error (returned
// as is), or s.maxRetries retryable ones (store.ErrConflict).
func (s *Store) retry(ctx context.Context, what string, attempt func() error) error {
	for i := 1; ; i++ {
		err := attempt()
		if err == nil || !retryable(err) {
			return err
		}
		if i >= s.maxRetries {
			return fmt.Errorf("%s: %w after %d attempts (last: %v)", what, store.ErrConflict, i, err)
		}
		// A jittered backoff, so that the transactions that just
		// collided do not collide again in lockstep.
		d := time.Duration(rand.Int64N(int64(100*time.Microsecond) << min(i, 10)))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// retryable reports whether err is a serialization failure or a deadlock,
// after which the transaction may succeed if run again.
func retryable(err error) bool {
	return isCode(err, codeSerializationFailure) || isCode(err, codeDeadlockDetected)
}

// isCode reports whether err is a PostgreSQL error with the SQLSTATE code.
func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// Transaction openings, sent pipelined with the vault's row.
const (
	// beginUpdate names the isolation level, in case the server's
	// default_transaction_isolation is another one.
	beginUpdate = "BEGIN ISOLATION LEVEL READ COMMITTED"
	beginView   = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	notifySQL   = "SELECT pg_notify($1, $2)"
)

// errVaultMissing is beginAndRead's report that the vault row is absent.
var errVaultMissing = errors.New("vault row absent")

// beginAndRead opens a transaction on conn and reads (or locks) the
// vault's row in one round trip, returning its last_seq. On error the
// caller rolls back.
func beginAndRead(ctx context.Context, conn *pgx.Conn, begin, read, vault string) (uint64, error) {
	b := &pgx.Batch{}
	b.Queue(begin)
	b.Queue(read, vault)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return 0, err
	}
	var last int64
	err := br.QueryRow().Scan(&last)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errVaultMissing
	}
	if err != nil {
		return 0, err
	}
	return uint64(last), nil
}

// wrapBeginErr maps an error of beginAndRead.
func wrapBeginErr(op, vault string, err error) error {
	switch {
	case errors.Is(err, errVaultMissing):
		return fmt.Errorf("vault %s: %w", vault, store.ErrVaultNotFound)
	case retryable(err):
		return err // retried by the caller, unwrapped
	default:
		return fmt.Errorf("postgres: %s vault %s: begin: %w", op, vault, err)
	}
}

// rollback ends conn's transaction, if any, even when ctx is done. Should
// it fail, the pool discards the connection on release (its transaction
// status is not idle), so the error needs no handling.
func rollback(ctx context.Context, conn *pgx.Conn) {
	if conn.PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	_, _ = conn.Exec(rctx, "ROLLBACK")
}

// cleanupLoop deletes expired TTL rows every interval until ctx ends.
func (s *Store) cleanupLoop(ctx context.Context, interval time.Duration) {
	defer s.background.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := s.deleteExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("ttl cleanup failed", "err", err)
		case n > 0:
			s.log.Debug("ttl cleanup", "rows", n)
		}
	}
}

// deleteExpired deletes the TTL rows of every vault that have expired by
// the store's clock, and returns how many.
func (s *Store) deleteExpired(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, s.q.deleteExpired, s.now())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired rows: %w", err)
	}
	return tag.RowsAffected(), nil
}
