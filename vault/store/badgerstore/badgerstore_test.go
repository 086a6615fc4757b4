package badgerstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/storetest"
)

// openTest opens a Store in dir (a new temporary directory if empty) and
// closes it at the end of the test, unless the test closed it already.
func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Config{}) })
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T, dir string) store.Store { return openTest(t, Config{Dir: dir}) })
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openTest(t, Config{Dir: dir})
	s, err := Open(Config{Dir: dir})
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of the same dir succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, dir)
	}
}

func TestOpenNeedsDir(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
}

func TestOptions(t *testing.T) {
	opts := badgerOptions(t.TempDir(), slog.New(slog.DiscardHandler))
	if !opts.SyncWrites {
		t.Error("SyncWrites is off: acknowledged writes would not survive a crash")
	}
	if !opts.DetectConflicts {
		t.Error("DetectConflicts is off: concurrent Updates would lose writes")
	}
}

func TestFormatMismatch(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Config{Dir: dir})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := badger.Open(badgerOptions(dir, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(formatKey), []byte{formatVersion + 1}) })
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if s, err := Open(Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "format") {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("Open of a DB in another format = %v, want a format error", err)
	}
}

// rawKeysWithPrefix lists the live badger keys under prefix.
func rawKeysWithPrefix(t *testing.T, s *Store, prefix []byte) []string {
	t.Helper()
	var keys []string
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			keys = append(keys, string(it.Item().Key()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// wantNoRows checks that no row of vault is left, tombstone included.
func wantNoRows(t *testing.T, s *Store, vault string) {
	t.Helper()
	for _, p := range [][]byte{vaultDataPrefix(vault), vaultChangePrefix(vault)} {
		if keys := rawKeysWithPrefix(t, s, p); len(keys) != 0 {
			t.Errorf("%d rows left under %q", len(keys), p)
		}
	}
	for _, k := range [][]byte{seqKey(vault), eraseKey(vault), markerKey(vault)} {
		if slices.Contains(rawKeysWithPrefix(t, s, k), string(k)) {
			t.Errorf("row %q left", k)
		}
	}
}

func fillVault(t *testing.T, s *Store, vault string, keys int) {
	t.Helper()
	err := s.Update(t.Context(), vault, func(tx store.Tx) error {
		for i := range keys {
			if err := tx.Put(fmt.Sprintf("k/%04d", i), []byte("v")); err != nil {
				return err
			}
		}
		for range 3 {
			if _, err := tx.AppendChange([]byte("c")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEraseInterruptedThenReopen: a crash after the marker is gone but
// before the rows are removed leaves a tombstone; Open finishes the erase.
func TestEraseInterruptedThenReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openTest(t, Config{Dir: dir})
	for _, v := range []string{"x", "xy"} {
		if err := s.CreateVault(ctx, v); err != nil {
			t.Fatal(err)
		}
		fillVault(t, s, v, 2*purgeBatchSize+10)
	}
	if err := s.markErased(ctx, "x"); err != nil { // the erase, stopped after its first step
		t.Fatal(err)
	}
	if keys := rawKeysWithPrefix(t, s, eraseKey("x")); len(keys) != 1 {
		t.Fatalf("tombstone rows = %q, want one", keys)
	}
	if err := s.View(ctx, "x", func(store.Tx) error { return nil }); !errors.Is(err, store.ErrVaultNotFound) {
		t.Fatalf("View after the first erase step = %v, want ErrVaultNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, Config{Dir: dir})
	wantNoRows(t, s, "x")
	if n := len(rawKeysWithPrefix(t, s, vaultDataPrefix("xy"))); n != 2*purgeBatchSize+10 {
		t.Errorf("vault xy has %d rows after the erase of x finished, want %d", n, 2*purgeBatchSize+10)
	}
	if err := s.CreateVault(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	err := s.View(ctx, "x", func(tx store.Tx) error {
		if seq, err := tx.LastSeq(); err != nil || seq != 0 {
			t.Errorf("LastSeq of the re-created vault = %d, %v", seq, err)
		}
		return tx.Scan("", "", 0, func(k string, _ []byte) error {
			t.Errorf("re-created vault holds %q", k)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEraseInterruptedThenCreate: CreateVault finishes an unfinished erase
// of the same id before it writes the new marker.
func TestEraseInterruptedThenCreate(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	fillVault(t, s, "x", 10)
	if err := s.markErased(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVault(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if keys := rawKeysWithPrefix(t, s, vaultDataPrefix("x")); len(keys) != 0 {
		t.Errorf("re-created vault holds %q", keys)
	}
	if keys := rawKeysWithPrefix(t, s, eraseKey("x")); len(keys) != 0 {
		t.Errorf("tombstone left: %q", keys)
	}
	var seq uint64
	err := s.Update(ctx, "x", func(tx store.Tx) error {
		var err error
		seq, err = tx.AppendChange(nil)
		return err
	})
	if err != nil || seq != 1 {
		t.Fatalf("first append of the re-created vault = %d, %v; want 1", seq, err)
	}
}

// TestEraseInterruptedThenErase: EraseVault of an id whose earlier erase
// is unfinished finishes it, and still reports ErrVaultNotFound.
func TestEraseInterruptedThenErase(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	fillVault(t, s, "x", 10)
	if err := s.markErased(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.EraseVault(ctx, "x"); !errors.Is(err, store.ErrVaultNotFound) {
		t.Fatalf("EraseVault = %v, want ErrVaultNotFound", err)
	}
	wantNoRows(t, s, "x")
}

// crashDirEnv names the directory TestKill9Child writes to; it is set only
// in the child process started by TestKill9.
const crashDirEnv = "BADGERSTORE_KILL9_DIR"

// TestKill9: a process killed with SIGKILL loses no write that Update
// acknowledged, and the directory opens again (badger recovers from its
// write-ahead log; the lock dies with the process).
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read acknowledgements until enough are in, then kill mid-stream.
	var acked uint64
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			if acked, err = strconv.ParseUint(n, 10, 64); err != nil {
				t.Fatal(err)
			}
			if acked >= 30 {
				break
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error is expected
	if acked < 30 {
		t.Fatalf("child acknowledged only %d writes", acked)
	}

	s := openTest(t, Config{Dir: dir})
	cs, err := s.Changes(t.Context(), "k9", 0, store.MaxChangesPerCall)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d acknowledged writes; %d changes recovered", acked, len(cs))
	if uint64(len(cs)) < acked || !slices.Equal(seqsOf(cs), seqRangeTo(uint64(len(cs)))) {
		t.Fatalf("after kill -9: %d changes, want a gapless 1..n with n >= %d acknowledged", len(cs), acked)
	}
	err = s.View(t.Context(), "k9", func(tx store.Tx) error {
		v, err := tx.Get("last")
		if err != nil {
			return err
		}
		if n, _ := strconv.ParseUint(string(v), 10, 64); n != uint64(len(cs)) {
			t.Errorf("key written with change %d holds %s", len(cs), v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKill9Child is the process TestKill9 kills: it writes until killed,
// printing each acknowledged change.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestKill9 only")
	}
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVault(t.Context(), "k9"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // the parent kills long before
	for time.Now().Before(deadline) {
		var seq uint64
		err := s.Update(t.Context(), "k9", func(tx store.Tx) error {
			var err error
			if seq, err = tx.AppendChange([]byte("c")); err != nil {
				return err
			}
			return tx.Put("last", []byte(strconv.FormatUint(seq, 10)))
		})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("acked %d\n", seq)
	}
	t.Fatal("not killed")
}

func seqsOf(cs []store.Change) []uint64 {
	seqs := make([]uint64, 0, len(cs))
	for _, c := range cs {
		seqs = append(seqs, c.Seq)
	}
	return seqs
}

func seqRangeTo(n uint64) []uint64 {
	r := make([]uint64, 0, n)
	for i := uint64(1); i <= n; i++ {
		r = append(r, i)
	}
	return r
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestTTLInjectedClock: expiry follows the injected clock exactly, and the
// row also carries a badger TTL so compaction drops it.
func TestTTLInjectedClock(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{t: time.Now()}
	s := openTest(t, Config{Now: clock.Now})
	if err := s.CreateVault(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, "t", func(tx store.Tx) error {
		if _, err := tx.AppendChange([]byte("c")); err != nil {
			return err
		}
		return tx.PutTTL("k", []byte("v"), time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	present := func() bool {
		t.Helper()
		var found bool
		err := s.View(ctx, "t", func(tx store.Tx) error {
			_, err := tx.Get("k")
			if errors.Is(err, store.ErrNotFound) {
				err = nil
			} else if err == nil {
				found = true
			}
			n := 0
			serr := tx.Scan("", "", 0, func(string, []byte) error { n++; return nil })
			if (n == 1) != found {
				t.Errorf("Get and Scan disagree: Get found %v, Scan saw %d keys", found, n)
			}
			return errors.Join(err, serr)
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	clock.Advance(time.Hour - time.Nanosecond)
	if !present() {
		t.Fatal("key gone before its ttl")
	}
	clock.Advance(time.Nanosecond)
	if present() {
		t.Fatal("key present at its expiry")
	}

	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append(vaultDataPrefix("t"), 'k'))
		if err != nil {
			return err
		}
		if floor := uint64(time.Now().Add(time.Hour).Unix()); item.ExpiresAt() < floor {
			t.Errorf("badger ExpiresAt = %d, want at least %d", item.ExpiresAt(), floor)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.Changes(ctx, "t", 0, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Changes = %v, %v", cs, err)
	}
	if want := clock.Now().Add(-time.Hour); !cs[0].Time.Equal(want) {
		t.Errorf("change time = %v, want the injected clock %v", cs[0].Time, want)
	}
}

// TestTransactionTooLarge: a transaction beyond badger's batch limit is
// ErrTooLarge and writes nothing.
func TestTransactionTooLarge(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 60<<10) // below valueThreshold: counts fully
	puts := 0
	err := s.Update(ctx, "big", func(tx store.Tx) error {
		puts = 0
		for i := 0; ; i++ {
			if err := tx.Put(fmt.Sprintf("k%d", i), value); err != nil {
				return err
			}
			puts++
		}
	})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Update = %v, want ErrTooLarge", err)
	}
	if puts == 0 || puts > memTableSize/len(value) {
		t.Errorf("ErrTooLarge after %d puts", puts)
	}
	if keys := rawKeysWithPrefix(t, s, vaultDataPrefix("big")); len(keys) != 0 {
		t.Errorf("%d rows written by a failed transaction", len(keys))
	}
}

// TestHalfWrittenChangeNeverCommits: if AppendChange fails after writing
// the change row but before the counter, Update refuses to commit even
// when fn ignores the error, so the feed can never get a row without its
// sequence number.
func TestHalfWrittenChangeNeverCommits(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	// fill leaves less room in the transaction than one more fill value.
	fill := func(tx store.Tx) {
		value := make([]byte, 60000)
		for i := 0; tx.Put(fmt.Sprintf("k%d", i), value) == nil; i++ {
		}
	}
	// outcome reports how far AppendChange of n bytes gets after fill:
	// 0 nothing written, 1 half written, 2 done.
	outcome := func(n int) int {
		var got int
		sentinel := errors.New("probe")
		err := s.Update(ctx, "h", func(stx store.Tx) error {
			fill(stx)
			_, err := stx.AppendChange(make([]byte, n))
			switch {
			case err == nil:
				got = 2
			case stx.(*tx).broken != nil:
				got = 1
			default:
				got = 0
			}
			return sentinel
		})
		if err != sentinel {
			t.Fatalf("probe Update: %v", err)
		}
		return got
	}
	// The largest size whose row still fits leaves no room for the
	// counter: binary search it.
	lo, hi := 0, 61000 // outcome(lo) >= 1, outcome(hi) == 0
	if outcome(lo) == 0 || outcome(hi) != 0 {
		t.Fatalf("unexpected bounds: outcome(%d)=%d outcome(%d)=%d", lo, outcome(lo), hi, outcome(hi))
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if outcome(mid) >= 1 {
			lo = mid
		} else {
			hi = mid
		}
	}
	if outcome(lo) != 1 {
		t.Fatalf("no size leaves AppendChange half written (largest fitting size %d)", lo)
	}
	err := s.Update(ctx, "h", func(tx store.Tx) error {
		fill(tx)
		_, _ = tx.AppendChange(make([]byte, lo)) // fn ignores the failure
		return nil
	})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Update after a half-written AppendChange = %v, want ErrTooLarge", err)
	}
	if keys := rawKeysWithPrefix(t, s, []byte("")); containsPrefix(keys, string(vaultDataPrefix("h"))) || containsPrefix(keys, string(vaultChangePrefix("h"))) {
		t.Errorf("a refused transaction wrote rows")
	}
}

func containsPrefix(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// TestConflictRetriesAreBounded: a transaction that conflicts on every
// attempt runs MaxRetries times and then returns ErrConflict.
func TestConflictRetriesAreBounded(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{MaxRetries: 3})
	if err := s.CreateVault(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	err := s.Update(ctx, "c", func(tx store.Tx) error {
		attempts++
		if _, err := tx.Get("k"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// Another writer commits k after this transaction read it.
		done := make(chan error, 1)
		go func() {
			done <- s.Update(ctx, "c", func(tx store.Tx) error { return tx.Put("k", []byte("other")) })
		}()
		if err := <-done; err != nil {
			return err
		}
		return tx.Put("k", []byte("mine"))
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Update = %v, want ErrConflict", err)
	}
	if attempts != 3 {
		t.Errorf("fn ran %d times, want 3", attempts)
	}
	err = s.View(ctx, "c", func(tx store.Tx) error {
		v, err := tx.Get("k")
		if err == nil && string(v) != "other" {
			t.Errorf("k = %q, want other", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTxAfterReturn: a Tx kept past its function fails instead of
// reaching a discarded badger transaction.
func TestTxAfterReturn(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Config{})
	if err := s.CreateVault(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	var leaked store.Tx
	if err := s.Update(ctx, "l", func(tx store.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.Get("k"); !errors.Is(err, errTxDone) {
		t.Errorf("Get on a leaked tx = %v", err)
	}
	if err := leaked.Put("k", nil); !errors.Is(err, errTxDone) {
		t.Errorf("Put on a leaked tx = %v", err)
	}
	if err := leaked.Scan("", "", 0, func(string, []byte) error { return nil }); !errors.Is(err, errTxDone) {
		t.Errorf("Scan on a leaked tx = %v", err)
	}
	if _, err := leaked.AppendChange(nil); !errors.Is(err, errTxDone) {
		t.Errorf("AppendChange on a leaked tx = %v", err)
	}
}

// TestNotifyAllWakesWaiters: notifyAll, which a restarted subscription
// calls so that changes committed in between are not missed, wakes a
// registered Wait.
func TestNotifyAllWakesWaiters(t *testing.T) {
	s := openTest(t, Config{})
	if err := s.CreateVault(t.Context(), "w"); err != nil {
		t.Fatal(err)
	}
	ch, release := s.waiters.register("w")
	defer release()
	s.waiters.notifyAll()
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("notifyAll did not wake a registered waiter")
	}
}

func TestVaultOfNotifiedKey(t *testing.T) {
	for key, want := range map[string]string{
		string(changeKey("ab", 7)):   "ab",
		string(changeKey("a", 0x2f)): "a", // a seq byte equal to '/'
		string(markerKey("a-b")):     "a-b",
		string(vaultDataPrefix("a")): "",
		string(seqKey("a")):          "",
		"x/":                         "",
		"x/noslash":                  "",
	} {
		if got := string(vaultOfNotifiedKey([]byte(key))); got != want {
			t.Errorf("vaultOfNotifiedKey(%q) = %q, want %q", key, got, want)
		}
	}
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	s := openTest(b, Config{})
	if err := s.CreateVault(b.Context(), "bench"); err != nil {
		b.Fatal(err)
	}
	err := s.Update(b.Context(), "bench", func(tx store.Tx) error {
		for i := range 100 {
			if err := tx.Put(fmt.Sprintf("p/field%03d", i), bytes.Repeat([]byte{'v'}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkViewGet measures a point read in its own read transaction.
func BenchmarkViewGet(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	for b.Loop() {
		err := s.View(ctx, "bench", func(tx store.Tx) error {
			_, err := tx.Get("p/field042")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan100 measures a scan of a 100-key vault prefix.
func BenchmarkScan100(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	for b.Loop() {
		n := 0
		err := s.View(ctx, "bench", func(tx store.Tx) error {
			return tx.Scan("p/", "", 0, func(string, []byte) error { n++; return nil })
		})
		if err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkUpdateAppend measures a synced Update writing one key and one
// change row.
func BenchmarkUpdateAppend(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	value := bytes.Repeat([]byte{'v'}, 100)
	for b.Loop() {
		err := s.Update(ctx, "bench", func(tx store.Tx) error {
			if err := tx.Put("p/field000", value); err != nil {
				return err
			}
			_, err := tx.AppendChange(value)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
