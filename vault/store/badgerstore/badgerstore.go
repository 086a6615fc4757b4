// Package badgerstore is the embedded storage engine of a vrmvault host:
// it implements store.Store on one badger v4 database that holds every
// vault of the host, because a million vaults must not mean a million open
// databases.
//
// # Key layout
//
// A vault id never contains '/' (store.ValidVaultID), so the trailing '/'
// after the id keeps vault "a" out of the range of vault "ab" or "a-b".
// Caller keys live under their own top prefix, so no caller key can
// collide with a row of this package whatever bytes it contains.
//
//	h/format               on-disk format version of the DB (1 byte)
//	h/subscribe-probe      written at Open to prove the change subscription is live
//	h/vault/<id>           vault marker: the vault exists (format byte, creation time)
//	h/erase/<id>           erase tombstone: the vault was erased and its rows
//	                       below are still being removed
//	v/<id>/<key>           caller row; value = format byte [+ 8-byte expiry] + value
//	x/<id>/<seq>           change row; seq is 8 bytes big-endian, so byte order is
//	                       numeric order; value = format byte + 8-byte time + data
//	s/<id>                 the vault's last change seq (8 bytes big-endian)
//
// Every transaction of a vault reads its marker, so a vault that does not
// exist (or was erased) answers store.ErrVaultNotFound, and an erase
// conflicts with every transaction of the vault that is still running.
//
// # Change sequence
//
// AppendChange reads s/<id> and writes it back incremented in the same
// transaction as the change row. badger's optimistic transactions fail the
// later of two concurrent appenders with a conflict, Update runs it again
// on a fresh snapshot, and so sequence numbers are gapless, unique and in
// commit order; a transaction that does not commit writes neither.
//
// # TTL
//
// A row written by PutTTL carries its own expiry (Unix ns, from the
// injected clock) in a small header, and reads treat it as absent from
// that instant on, exactly. The row also gets a badger TTL, computed from
// the wall clock and rounded up by one second (badger's TTL has one-second
// granularity), so that compaction eventually drops it; badger alone
// would expire rows up to a second early and ignore the injected clock.
//
// # Erase and re-create
//
// EraseVault first deletes the marker and writes the tombstone h/erase/<id>
// in one synced transaction: from then on the vault is gone for every
// caller. It then deletes the rows under v/<id>/, x/<id>/ and s/<id> in
// batches of transactions and finally the tombstone. If that removal is
// interrupted (a crash, an I/O error), the tombstone stays: Open finishes
// every pending erase before it returns, and CreateVault of the same id
// finishes it before writing the new marker, so a re-created vault never
// sees a leftover of its predecessor and starts at sequence 0. Erase and
// create of one id are serialized in-process, which is enough because
// badger's directory lock lets only one process open the database (a
// second Open fails with ErrLocked); each batch also re-reads the
// tombstone, so it can never delete a row of a re-created vault. badger's
// DropPrefix is not used: it blocks the writes of every vault of the host
// and flushes the memtables, for the sake of one vault.
//
// # Change notification
//
// One badger subscription on the prefixes x/ and h/vault/, started by Open
// and stopped by Close, wakes the Wait calls of the vault a change row or
// marker belongs to. Open proves the subscription is live (it writes
// h/subscribe-probe until the subscription reports it) before it returns,
// so no commit after Open can go unnoticed. Wait registers before it reads
// the vault's last sequence number, so a change committed before or during
// the call is never missed.
//
// # Durability and memory
//
// SyncWrites is on: a commit returns only after its write-ahead log is on
// disk, so an acknowledged write survives kill -9. badger syncs that log
// once per committed transaction, in its one writer goroutine, so Update
// calls of different vaults that arrive together share one transaction
// and one sync (see combiner, in combine.go): a host serving many vaults
// is then not bound by one sync per call. Each call still gets the answer
// it would have had alone. The memory options are
// sized for a small host (2 cores, a few GiB to spare), not badger's
// defaults for a dedicated database server: see badgerOptions.
package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/vrmvault/vrmvault/vault/store"
)

// Defaults for the zero fields of Config.
const (
	// DefaultMaxRetries is how many times Update runs a transaction that
	// keeps conflicting before it returns store.ErrConflict.
	DefaultMaxRetries = 16
	// DefaultValueLogGCInterval is how often the value log is compacted.
	DefaultValueLogGCInterval = 10 * time.Minute
)

// Memory and file sizes handed to badger. badger's defaults (64 MiB
// memtables, five of them, 1 GiB value log files, a 256 MiB block cache)
// suit a dedicated database server; a vault host shares a small machine
// with its gRPC server, and its tests open dozens of databases in a row.
const (
	// memTableSize bounds one in-memory table (and its write-ahead log).
	// It also bounds one transaction: badger refuses a transaction larger
	// than 15% of it (about 4.8 MiB here), which Update reports as
	// store.ErrTooLarge.
	memTableSize = 32 << 20
	// numMemtables is how many memtables may wait for a flush before
	// writes stall.
	numMemtables = 3
	// valueThreshold: values of this size and more go to the value log
	// instead of the LSM tree, so that a transaction may carry several
	// values of up to store.MaxValueLen without hitting the batch limit.
	// Vault values are usually far smaller and stay in the tree.
	valueThreshold = 64 << 10
	// valueLogFileSize is the size of one value log file; smaller files
	// make value log GC cheaper.
	valueLogFileSize = 64 << 20
	// numCompactors: two, the minimum that lets badger compact L0 and the
	// other levels at once, one per core.
	numCompactors = 2
	// valueLogGCDiscardRatio: rewrite a value log file when half of it is
	// garbage (badger's recommended ratio).
	valueLogGCDiscardRatio = 0.5
	// subscribeTimeout bounds how long Open waits for the change
	// subscription to prove it is live.
	subscribeTimeout = 10 * time.Second
)

// ErrLocked is returned by Open when another process (or another Store in
// this process) has the data directory open.
var ErrLocked = errors.New("badgerstore: data dir is locked")

// Config configures Open.
type Config struct {
	// Dir is the directory of the database; it is created if absent.
	Dir string
	// Logger receives the engine's warnings and errors, and badger's
	// (nil: discard).
	Logger *slog.Logger
	// Now is the clock used for change times and TTLs (nil: time.Now).
	Now func() time.Time
	// MaxRetries bounds the attempts of one Update (0:
	// DefaultMaxRetries).
	MaxRetries int
	// ValueLogGCInterval is how often the value log is garbage-collected
	// (0: DefaultValueLogGCInterval, negative: never).
	ValueLogGCInterval time.Duration
	// CommitDelay is how long a shared transaction may wait for more
	// Update calls when the cores are busy (0: DefaultCommitDelay,
	// negative: never; at most MaxCommitDelay).
	CommitDelay time.Duration
}

// Store is a store.Store on one badger database. Its methods are safe for
// concurrent use.
type Store struct {
	db         *badger.DB
	log        *slog.Logger
	now        func() time.Time
	maxRetries int

	vaultLocks keyedMutex // serializes CreateVault and EraseVault of one id
	combiner   combiner   // shares transactions among Update calls of different vaults
	waiters    waiters    // Wait calls per vault

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup // running calls, waited for by Close
	done     chan struct{}  // closed by Close: wakes Wait calls

	stopBackground context.CancelFunc
	background     sync.WaitGroup // subscription and value log GC
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database in cfg.Dir, finishes any
// vault erase a crash interrupted, and starts the change subscription. It
// returns an error wrapping ErrLocked if the directory is in use.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("badgerstore: open: empty data dir")
	}
	s := &Store{
		log:        cfg.Logger,
		now:        cfg.Now,
		maxRetries: cfg.MaxRetries,
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
	gcInterval := cfg.ValueLogGCInterval
	if gcInterval == 0 {
		gcInterval = DefaultValueLogGCInterval
	}
	if cfg.CommitDelay > MaxCommitDelay {
		return nil, fmt.Errorf("badgerstore: open: commit delay %v is above the limit of %v", cfg.CommitDelay, MaxCommitDelay)
	}
	s.combiner.delay = max(cfg.CommitDelay, 0)
	if cfg.CommitDelay == 0 {
		s.combiner.delay = DefaultCommitDelay
	}
	s.combiner.backlog = newCoreLoad().backlogged
	s.combiner.sleep = time.Sleep

	db, err := badger.Open(badgerOptions(cfg.Dir, s.log))
	if err != nil {
		// badger flattens the flock error into text, so it can only be
		// recognised by its message; TestOpenLocked pins it.
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%w: %s is in use by another process", ErrLocked, cfg.Dir)
		}
		return nil, fmt.Errorf("badgerstore: open %s: %w", cfg.Dir, err)
	}
	s.db = db
	fail := func(err error) (*Store, error) {
		if s.stopBackground != nil {
			s.stopBackground()
			s.background.Wait()
		}
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close after failed open: %w", cerr))
		}
		return nil, fmt.Errorf("badgerstore: open %s: %w", cfg.Dir, err)
	}
	if err := s.checkFormat(); err != nil {
		return fail(err)
	}
	if err := s.finishErasures(); err != nil {
		return fail(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	live := make(chan error, 1)
	s.background.Add(1)
	go s.subscribeLoop(ctx, live)
	select {
	case err := <-live:
		if err != nil {
			return fail(fmt.Errorf("change subscription: %w", err))
		}
	case <-time.After(subscribeTimeout):
		return fail(errors.New("change subscription did not start"))
	}
	if gcInterval > 0 {
		s.background.Add(1)
		go s.valueLogGCLoop(ctx, gcInterval)
	}
	return s, nil
}

// badgerOptions returns the badger options of a Store in dir.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		// An acknowledged write must survive kill -9.
		WithSyncWrites(true).
		WithDetectConflicts(true).
		WithLogger(badgerLogger{log: log}).
		// Our own metrics come later; badger's are process-global expvars.
		WithMetricsEnabled(false).
		// Values are sealed (AES-GCM) by package vault, and ciphertext
		// does not compress. Without compression (or badger encryption)
		// badger needs no block cache: tables are memory-mapped, so the
		// OS page cache is the read cache.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		WithNumCompactors(numCompactors)
}

// checkFormat records the on-disk format in a new database and refuses a
// database written in another one.
func (s *Store) checkFormat() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(formatKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set([]byte(formatKey), []byte{formatVersion})
		}
		if err != nil {
			return fmt.Errorf("read format: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read format: %w", err)
		}
		if len(v) != 1 || v[0] != formatVersion {
			return fmt.Errorf("unsupported on-disk format %x (want %d)", v, formatVersion)
		}
		return nil
	})
}

// Close waits for running calls to end (Wait calls return
// store.ErrClosed), stops the subscription and closes badger. Later calls,
// Close included, return store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("badgerstore: close: %w", store.ErrClosed)
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	s.inflight.Wait()
	s.stopBackground()
	s.background.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("badgerstore: close: %w", err)
	}
	return nil
}

// enter registers a running call, or returns store.ErrClosed. A nil
// return must be paired with leave.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("badgerstore: %w", store.ErrClosed)
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

// ListVaults returns up to limit vault ids in ascending byte order, after
// the id after. limit must be positive.
func (s *Store) ListVaults(ctx context.Context, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("badgerstore: list vaults: limit %d is not positive", limit)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(markerPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := []byte(markerPrefix)
		if after != "" {
			seek = append([]byte(markerPrefix+after), 0)
		}
		for it.Seek(seek); it.ValidForPrefix(opts.Prefix) && len(ids) < limit; it.Next() {
			ids = append(ids, string(it.Item().Key()[len(markerPrefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: list vaults: %w", err)
	}
	return ids, nil
}

// View runs fn in a read-only snapshot of the vault.
func (s *Store) View(ctx context.Context, vault string, fn func(store.Tx) error) error {
	if err := s.begin("view", vault); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	if err := checkVault(txn, vault); err != nil {
		return err
	}
	t := newTx(s, txn, vault, false)
	defer t.finish()
	return fn(t)
}

// Update runs fn in a read-write transaction of the vault, running it
// again on a conflict, up to the configured number of attempts. Calls of
// different vaults that arrive together share one transaction and its
// synced commit (see combiner).
func (s *Store) Update(ctx context.Context, vault string, fn func(store.Tx) error) error {
	if err := s.begin("update", vault); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.combiner.run(ctx, s, vault, fn)
}

// Changes returns up to limit change rows of the vault after seq after.
func (s *Store) Changes(ctx context.Context, vault string, after uint64, limit int) ([]store.Change, error) {
	if limit < 1 || limit > store.MaxChangesPerCall {
		return nil, fmt.Errorf("badgerstore: changes of vault %s: limit %d not in [1, %d]", vault, limit, store.MaxChangesPerCall)
	}
	if err := s.begin("changes", vault); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if after == ^uint64(0) {
		return nil, nil
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	if err := checkVault(txn, vault); err != nil {
		return nil, err
	}
	prefix := vaultChangePrefix(vault)
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	var out []store.Change
	for it.Seek(changeKey(vault, after+1)); it.ValidForPrefix(prefix) && len(out) < limit; it.Next() {
		item := it.Item()
		seq, err := decodeSeq(item.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("badgerstore: changes of vault %s: %w", vault, err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, fmt.Errorf("badgerstore: changes of vault %s: read seq %d: %w", vault, seq, err)
		}
		t, data, err := decodeChange(v)
		if err != nil {
			return nil, fmt.Errorf("badgerstore: changes of vault %s: seq %d: %w", vault, seq, err)
		}
		out = append(out, store.Change{Seq: seq, Time: t, Data: data})
	}
	return out, nil
}

// checkVault returns store.ErrVaultNotFound unless the vault's marker is
// present in txn's snapshot. In a read-write transaction the read makes a
// concurrent erase conflict with txn.
func checkVault(txn *badger.Txn, vault string) error {
	_, err := txn.Get(markerKey(vault))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return fmt.Errorf("vault %s: %w", vault, store.ErrVaultNotFound)
	default:
		return fmt.Errorf("badgerstore: vault %s: read marker: %w", vault, err)
	}
}

// retry runs attempt in fresh read-write transactions and commits, until a
// commit succeeds, attempt fails (its error is returned as is), or
// s.maxRetries attempts conflicted (store.ErrConflict).
func (s *Store) retry(ctx context.Context, what string, attempt func(*badger.Txn) error) error {
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		committed, err := s.try(attempt)
		switch {
		case !committed:
			return err
		case err == nil:
			return nil
		case errors.Is(err, badger.ErrConflict):
			// Run fn again on a fresh snapshot, below.
		case errors.Is(err, badger.ErrTxnTooBig):
			return fmt.Errorf("%s: %w", what, store.ErrTooLarge)
		default:
			return fmt.Errorf("badgerstore: %s: commit: %w", what, err)
		}
		if i >= s.maxRetries {
			return fmt.Errorf("%s: %w after %d attempts", what, store.ErrConflict, i)
		}
		if !sleepJitter(ctx, i) {
			return ctx.Err()
		}
	}
}

// try runs one attempt and, if it succeeds, commits. committed reports
// whether err (possibly nil) came from the commit rather than attempt.
func (s *Store) try(attempt func(*badger.Txn) error) (committed bool, err error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := attempt(txn); err != nil {
		return false, err
	}
	return true, txn.Commit()
}

// valueLogGCLoop reclaims value log space every interval until ctx ends.
func (s *Store) valueLogGCLoop(ctx context.Context, interval time.Duration) {
	defer s.background.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for ctx.Err() == nil {
			err := s.db.RunValueLogGC(valueLogGCDiscardRatio)
			if err == nil {
				continue // a file was rewritten; there may be more
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log gc failed", "err", err)
			}
			break
		}
	}
}

// badgerLogger routes badger's log to slog: errors and warnings at their
// level, the chatty info and debug lines at debug level.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, args ...any)   { l.emit(slog.LevelError, f, args) }
func (l badgerLogger) Warningf(f string, args ...any) { l.emit(slog.LevelWarn, f, args) }
func (l badgerLogger) Infof(f string, args ...any)    { l.emit(slog.LevelDebug, f, args) }
func (l badgerLogger) Debugf(f string, args ...any)   { l.emit(slog.LevelDebug, f, args) }

func (l badgerLogger) emit(level slog.Level, f string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(f, args...)), "component", "badger")
}
