package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/vrmvault/vrmvault/vault/store"
)

// holdCombiner starts an Update of vault that blocks until the returned
// release is called, so that the Updates started meanwhile queue and run
// as one group once it ends. release returns that Update's error.
func holdCombiner(t *testing.T, s *Store, vault string) (release func() error) {
	t.Helper()
	entered := make(chan struct{})
	unblock := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(t.Context(), vault, func(tx store.Tx) error {
			close(entered)
			<-unblock
			return tx.Put("hold", []byte("x"))
		})
	}()
	<-entered
	return func() error {
		close(unblock)
		return <-done
	}
}

// waitQueued waits until n Updates wait in the combiner's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(maxCombineWait / 2)
	for time.Now().Before(deadline) {
		s.combiner.mu.Lock()
		got := len(s.combiner.pending)
		s.combiner.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Fatalf("fewer than %d Updates queued", n)
}

// version returns the badger version (the commit timestamp) of a
// caller row: rows committed by one transaction share it.
func version(t *testing.T, s *Store, vault, key string) uint64 {
	t.Helper()
	var v uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append(vaultDataPrefix(vault), key...))
		if err != nil {
			return err
		}
		v = item.Version()
		return nil
	})
	if err != nil {
		t.Fatalf("version of %s/%s: %v", vault, key, err)
	}
	return v
}

func createVaults(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateVault(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
}

// wantAbsent fails unless key is absent from vault.
func wantAbsent(t *testing.T, s *Store, vault, key string) {
	t.Helper()
	err := s.View(t.Context(), vault, func(tx store.Tx) error {
		_, err := tx.Get(key)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s/%s: %v, want it absent", vault, key, err)
	}
}

// TestCombinedUpdates: Updates of different vaults that queue together
// commit in one transaction, and each caller still gets the answer it
// would have had alone: a call refused without writing gets its error
// and leaves the others be; a call that wrote and then failed writes
// nothing, and the others commit all the same.
func TestCombinedUpdates(t *testing.T) {
	s := openTest(t, Config{})
	createVaults(t, s, "hold", "a", "b", "refused", "failed")
	release := holdCombiner(t, s, "hold")

	errRefused := errors.New("refused before writing")
	errFailed := errors.New("failed after writing")
	calls := map[string]func(store.Tx) error{
		"a": func(tx store.Tx) error { return tx.Put("k", []byte("a")) },
		"b": func(tx store.Tx) error {
			if _, err := tx.AppendChange([]byte("b")); err != nil {
				return err
			}
			return tx.Put("k", []byte("b"))
		},
		"refused": func(tx store.Tx) error {
			if _, err := tx.Get("k"); !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return errRefused
		},
		"failed": func(tx store.Tx) error {
			if err := tx.Put("k", []byte("half")); err != nil {
				return err
			}
			return errFailed
		},
	}
	var wg sync.WaitGroup
	errs := make(map[string]error)
	var mu sync.Mutex
	for i, id := range []string{"a", "refused", "failed", "b"} {
		wg.Go(func() {
			err := s.Update(t.Context(), id, calls[id])
			mu.Lock()
			errs[id] = err
			mu.Unlock()
		})
		waitQueued(t, s, i+1) // keep the queue in this order
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	for id, want := range map[string]error{"a": nil, "b": nil, "refused": errRefused, "failed": errFailed} {
		if !errors.Is(errs[id], want) || (want == nil && errs[id] != nil) {
			t.Errorf("Update of %s = %v, want %v", id, errs[id], want)
		}
	}
	wantAbsent(t, s, "failed", "k")
	wantAbsent(t, s, "refused", "k")
	if va, vb := version(t, s, "a", "k"), version(t, s, "b", "k"); va != vb {
		t.Errorf("a and b committed at versions %d and %d, want one shared transaction", va, vb)
	}
	changes, err := s.Changes(t.Context(), "b", 0, 10)
	if err != nil || len(changes) != 1 || changes[0].Seq != 1 {
		t.Errorf("changes of b = %v, %v; want one, seq 1", changes, err)
	}
}

// TestCombinedOneCallPerVault: two queued Updates of one vault never
// share a transaction; the second sees the first's write.
func TestCombinedOneCallPerVault(t *testing.T) {
	s := openTest(t, Config{})
	createVaults(t, s, "hold", "v")
	release := holdCombiner(t, s, "hold")
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			results[i] = s.Update(t.Context(), "v", func(tx store.Tx) error {
				n := 0
				err := tx.Scan("k", "", 0, func(string, []byte) error { n++; return nil })
				if err != nil {
					return err
				}
				return tx.Put(fmt.Sprintf("k%d", n), []byte{byte(i)})
			})
		})
		waitQueued(t, s, i+1)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := errors.Join(results...); err != nil {
		t.Fatal(err)
	}
	if v0, v1 := version(t, s, "v", "k0"), version(t, s, "v", "k1"); v0 == v1 {
		t.Errorf("both Updates of one vault committed at version %d", v0)
	}
}

// TestCombinedTooLargeRunsAlone: a call that fits a transaction alone
// but not with the others of its group still commits.
func TestCombinedTooLargeRunsAlone(t *testing.T) {
	s := openTest(t, Config{})
	createVaults(t, s, "hold", "x", "y")
	// Each call writes a bit more than half of what badger takes in one
	// transaction: alone each fits, together they do not.
	value := make([]byte, 60<<10)
	n := memTableSize * 15 / 100 * 6 / 10 / len(value)
	fill := func(tx store.Tx) error {
		for i := range n {
			if err := tx.Put(fmt.Sprintf("k%04d", i), value); err != nil {
				return err
			}
		}
		return nil
	}
	release := holdCombiner(t, s, "hold")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"x", "y"} {
		wg.Go(func() { errs[i] = s.Update(t.Context(), id, fill) })
		waitQueued(t, s, i+1)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Updates = %v, want both to commit", err)
	}
	last := fmt.Sprintf("k%04d", n-1)
	if vx, vy := version(t, s, "x", last), version(t, s, "y", last); vx == vy {
		t.Errorf("x and y committed together at version %d, over badger's limit", vx)
	}
}

// TestCombinedCallWithdraws: a queued call whose context ends before its
// group starts is not run; one whose group does not start within
// maxCombineWait runs alone. An Update called from inside another's fn
// (which waits for it) so gets through.
func TestCombinedCallWithdraws(t *testing.T) {
	s := openTest(t, Config{})
	createVaults(t, s, "outer", "inner", "cancelled")
	ctx, cancel := context.WithCancel(t.Context())
	ran := false
	err := s.Update(t.Context(), "outer", func(tx store.Tx) error {
		done := make(chan error, 1)
		go func() {
			done <- s.Update(ctx, "cancelled", func(tx store.Tx) error { ran = true; return nil })
		}()
		waitQueued(t, s, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			return fmt.Errorf("cancelled Update = %v, want context.Canceled", err)
		}
		if err := s.Update(t.Context(), "inner", func(tx store.Tx) error { return tx.Put("k", []byte("in")) }); err != nil {
			return fmt.Errorf("nested Update: %w", err)
		}
		return tx.Put("k", []byte("out"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Error("the cancelled Update ran")
	}
	version(t, s, "inner", "k")
	version(t, s, "outer", "k")
}

// TestCombinedManyVaults: many writers of many vaults at once (the
// conformance suite covers one vault) each see their own writes
// committed, with gapless change sequences.
func TestCombinedManyVaults(t *testing.T) {
	s := openTest(t, Config{})
	const vaults, writers, writes = 16, 4, 25
	for i := range vaults {
		createVaults(t, s, fmt.Sprintf("m%d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, vaults*writers)
	for i := range vaults {
		for w := range writers {
			wg.Go(func() {
				for j := range writes {
					err := s.Update(t.Context(), fmt.Sprintf("m%d", i), func(tx store.Tx) error {
						if _, err := tx.AppendChange(nil); err != nil {
							return err
						}
						return tx.Put(fmt.Sprintf("w%d-%d", w, j), nil)
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range vaults {
		id := fmt.Sprintf("m%d", i)
		cs, err := s.Changes(t.Context(), id, 0, store.MaxChangesPerCall)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != writers*writes || cs[len(cs)-1].Seq != writers*writes {
			t.Errorf("vault %s: %d changes, last %d; want %d", id, len(cs), cs[len(cs)-1].Seq, writers*writes)
		}
		n := 0
		if err := s.View(t.Context(), id, func(tx store.Tx) error {
			return tx.Scan("w", "", 0, func(string, []byte) error { n++; return nil })
		}); err != nil || n != writers*writes {
			t.Errorf("vault %s: %d rows (%v), want %d", id, n, err, writers*writes)
		}
	}
}

// TestScanReusesIteratorSafely: a tx keeps one iterator for its Scans;
// a write makes the next Scan see it, and a write or a Scan from inside a
// Scan's fn neither disturbs that Scan nor hides the write afterwards.
func TestScanReusesIteratorSafely(t *testing.T) {
	s := openTest(t, Config{})
	createVaults(t, s, "it")
	keys := func(tx store.Tx, prefix string) []string {
		var out []string
		if err := tx.Scan(prefix, "", 0, func(k string, _ []byte) error { out = append(out, k); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	err := s.Update(t.Context(), "it", func(tx store.Tx) error {
		for _, k := range []string{"a1", "a2"} {
			if err := tx.Put(k, nil); err != nil {
				return err
			}
		}
		if got := keys(tx, "a"); !slices.Equal(got, []string{"a1", "a2"}) {
			t.Errorf("first scan %v", got)
		}
		if err := tx.Put("a3", nil); err != nil {
			return err
		}
		if err := tx.Delete("a1"); err != nil {
			return err
		}
		if got := keys(tx, "a"); !slices.Equal(got, []string{"a2", "a3"}) {
			t.Errorf("scan after a put and a delete %v", got)
		}
		var outer, inner []string
		err := tx.Scan("a", "", 0, func(k string, _ []byte) error {
			outer = append(outer, k)
			if err := tx.Put("b"+k, nil); err != nil {
				return err
			}
			inner = keys(tx, "b")
			return nil
		})
		if err != nil {
			return err
		}
		if !slices.Equal(outer, []string{"a2", "a3"}) || !slices.Equal(inner, []string{"ba2", "ba3"}) {
			t.Errorf("scan with writes and scans in its fn: outer %v, inner %v", outer, inner)
		}
		if got := keys(tx, "b"); !slices.Equal(got, []string{"ba2", "ba3"}) {
			t.Errorf("scan after writes made inside a scan %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(t.Context(), "it", func(tx store.Tx) error {
		if got := keys(tx, ""); !slices.Equal(got, []string{"a2", "a3", "ba2", "ba3"}) {
			t.Errorf("committed %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
