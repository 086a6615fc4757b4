// Package storetest is the conformance suite of the storage boundary: the
// executable form of the contract written on the types of package store.
// Every engine's tests call Run, and engines that keep their data in a
// directory also call RunReopen, so that all engines behave alike behind
// store.Store.
//
// The suite uses only the store.Store interface and real time: it bounds
// every blocking call (at most a few seconds), sleeps only where a TTL
// must pass, and runs in a few seconds on two cores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

// waitFor bounds how long the suite waits for anything that should happen
// promptly (a Wait to return, Close to finish).
const waitFor = 5 * time.Second

// Run runs the conformance suite, one subtest per part of the contract.
// newStore is called once per subtest and must return an open store with
// no vaults; it may register the cleanup of its own resources (such as a
// temporary directory) with t.Cleanup. Run closes every store it gets.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"CreateVault", testCreateVault},
		{"InvalidVaultIDs", testInvalidVaultIDs},
		{"MissingVault", testMissingVault},
		{"GetPutDelete", testGetPutDelete},
		{"ValuesAreCopies", testValuesAreCopies},
		{"FailedUpdateWritesNothing", testFailedUpdateWritesNothing},
		{"ReadOnly", testReadOnly},
		{"Scan", testScan},
		{"ScanSeesOwnWrites", testScanSeesOwnWrites},
		{"VaultIsolation", testVaultIsolation},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"NoLostUpdate", testNoLostUpdate},
		{"ChangeFeed", testChangeFeed},
		{"ChangesVisibleAtCommit", testChangesVisibleAtCommit},
		{"ConcurrentAppenders", testConcurrentAppenders},
		{"Wait", testWait},
		{"TTL", testTTL},
		{"EraseVault", testEraseVault},
		{"EraseUnderConcurrentWrites", testEraseUnderConcurrentWrites},
		{"ListVaults", testListVaults},
		{"Limits", testLimits},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { closeStore(t, s) })
			tc.fn(t, s)
		})
	}
}

// RunReopen checks that committed data, the change feed and its sequence,
// TTLs and erasures survive closing the store and opening the same
// directory again. open must return an open store on dir (creating it if
// empty); RunReopen closes every store it gets.
func RunReopen(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()

	s := open(t, dir)
	t.Cleanup(func() { closeStore(t, s) })
	for _, v := range []string{"r1", "r2", "gone"} {
		mustCreate(t, s, v)
	}
	mustUpdate(t, s, "r1", func(tx store.Tx) error {
		if err := tx.Put("p/name", []byte("Ada")); err != nil {
			return err
		}
		if err := tx.PutTTL("j/replay", []byte("x"), time.Hour); err != nil {
			return err
		}
		for _, d := range []string{"c1", "c2", "c3"} {
			if _, err := tx.AppendChange([]byte(d)); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, s, "r2", func(tx store.Tx) error { return tx.Put("p/name", []byte("Grace")) })
	mustUpdate(t, s, "gone", func(tx store.Tx) error { return tx.Put("p/name", []byte("Erased")) })
	if err := s.EraseVault(ctx, "gone"); err != nil {
		t.Fatalf("EraseVault: %v", err)
	}
	before := changes(t, s, "r1", 0, 100)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := open(t, dir)
	t.Cleanup(func() { closeStore(t, s2) })
	if got := listAll(t, s2, 10); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("vaults after reopen = %q, want [r1 r2]", got)
	}
	wantValue(t, s2, "r1", "p/name", "Ada")
	wantValue(t, s2, "r1", "j/replay", "x")
	wantValue(t, s2, "r2", "p/name", "Grace")
	if err := s2.View(ctx, "gone", func(store.Tx) error { return nil }); !errors.Is(err, store.ErrVaultNotFound) {
		t.Errorf("View of erased vault after reopen = %v, want ErrVaultNotFound", err)
	}
	after := changes(t, s2, "r1", 0, 100)
	if len(after) != len(before) {
		t.Fatalf("%d changes after reopen, want %d", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Seq != b.Seq || !a.Time.Equal(b.Time) || string(a.Data) != string(b.Data) {
			t.Errorf("change %d after reopen = {%d %v %q}, want {%d %v %q}", i, a.Seq, a.Time, a.Data, b.Seq, b.Time, b.Data)
		}
	}
	if seq := appendChange(t, s2, "r1", "c4"); seq != 4 {
		t.Errorf("first append after reopen got seq %d, want 4", seq)
	}
	if err := s2.CreateVault(ctx, "gone"); err != nil {
		t.Fatalf("re-create erased vault after reopen: %v", err)
	}
	wantEmptyVault(t, s2, "gone")
	if err := s2.Close(); err != nil {
		t.Fatalf("Close after reopen: %v", err)
	}
}

// closeStore closes s at the end of a test; a store the test closed
// already answers store.ErrClosed, which is fine.
func closeStore(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("Close: %v", err)
	}
}

func mustCreate(t *testing.T, s store.Store, vault string) {
	t.Helper()
	if err := s.CreateVault(t.Context(), vault); err != nil {
		t.Fatalf("CreateVault(%q): %v", vault, err)
	}
}

func mustUpdate(t *testing.T, s store.Store, vault string, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), vault, fn); err != nil {
		t.Fatalf("Update(%q): %v", vault, err)
	}
}

func mustView(t *testing.T, s store.Store, vault string, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), vault, fn); err != nil {
		t.Fatalf("View(%q): %v", vault, err)
	}
}

// updateRetrying runs Update, again as long as it reports
// store.ErrConflict (which the contract allows under contention), and
// returns how many conflicts it saw.
func updateRetrying(ctx context.Context, s store.Store, vault string, fn func(store.Tx) error) (int, error) {
	for conflicts := 0; ; conflicts++ {
		err := s.Update(ctx, vault, fn)
		if !errors.Is(err, store.ErrConflict) || conflicts >= 1000 {
			return conflicts, err
		}
	}
}

func put(t *testing.T, s store.Store, vault string, kv ...string) {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatal("put: odd number of arguments")
	}
	mustUpdate(t, s, vault, func(tx store.Tx) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put(kv[i], []byte(kv[i+1])); err != nil {
				return fmt.Errorf("Put(%q): %w", kv[i], err)
			}
		}
		return nil
	})
}

// get reads one key in its own View.
func get(t *testing.T, s store.Store, vault, key string) ([]byte, error) {
	t.Helper()
	var v []byte
	err := s.View(t.Context(), vault, func(tx store.Tx) error {
		var err error
		v, err = tx.Get(key)
		return err
	})
	return v, err
}

func wantValue(t *testing.T, s store.Store, vault, key, want string) {
	t.Helper()
	v, err := get(t, s, vault, key)
	if err != nil {
		t.Errorf("Get(%q) in vault %q: %v, want %q", key, vault, err, want)
		return
	}
	if string(v) != want {
		t.Errorf("Get(%q) in vault %q = %q, want %q", key, vault, v, want)
	}
}

func wantNotFound(t *testing.T, s store.Store, vault, key string) {
	t.Helper()
	v, err := get(t, s, vault, key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) in vault %q = %q, %v; want ErrNotFound", key, vault, v, err)
	}
}

// kv is one key and value seen by Scan.
type kv struct{ k, v string }

// scan collects what Tx.Scan passes to fn.
func scan(tx store.Tx, prefix, after string, limit int) ([]kv, error) {
	var got []kv
	err := tx.Scan(prefix, after, limit, func(k string, v []byte) error {
		got = append(got, kv{k, string(v)})
		return nil
	})
	return got, err
}

func keysOf(kvs []kv) []string {
	keys := make([]string, 0, len(kvs))
	for _, e := range kvs {
		keys = append(keys, e.k)
	}
	return keys
}

func scanKeys(t *testing.T, s store.Store, vault, prefix, after string, limit int) []string {
	t.Helper()
	var got []kv
	mustView(t, s, vault, func(tx store.Tx) error {
		var err error
		got, err = scan(tx, prefix, after, limit)
		return err
	})
	return keysOf(got)
}

func lastSeq(t *testing.T, s store.Store, vault string) uint64 {
	t.Helper()
	var seq uint64
	mustView(t, s, vault, func(tx store.Tx) error {
		var err error
		seq, err = tx.LastSeq()
		return err
	})
	return seq
}

func appendChange(t *testing.T, s store.Store, vault, data string) uint64 {
	t.Helper()
	var seq uint64
	mustUpdate(t, s, vault, func(tx store.Tx) error {
		var err error
		seq, err = tx.AppendChange([]byte(data))
		return err
	})
	return seq
}

func changes(t *testing.T, s store.Store, vault string, after uint64, limit int) []store.Change {
	t.Helper()
	cs, err := s.Changes(t.Context(), vault, after, limit)
	if err != nil {
		t.Fatalf("Changes(%q, %d, %d): %v", vault, after, limit, err)
	}
	return cs
}

func seqsOf(cs []store.Change) []uint64 {
	seqs := make([]uint64, 0, len(cs))
	for _, c := range cs {
		seqs = append(seqs, c.Seq)
	}
	return seqs
}

// seqRange returns from, from+1, ..., to.
func seqRange(from, to uint64) []uint64 {
	var r []uint64
	for s := from; s <= to; s++ {
		r = append(r, s)
	}
	return r
}

func listAll(t *testing.T, s store.Store, page int) []string {
	t.Helper()
	var all []string
	after := ""
	for {
		ids, err := s.ListVaults(t.Context(), after, page)
		if err != nil {
			t.Fatalf("ListVaults(%q, %d): %v", after, page, err)
		}
		if len(ids) > page {
			t.Fatalf("ListVaults(%q, %d) returned %d ids", after, page, len(ids))
		}
		if len(ids) == 0 {
			return all
		}
		all = append(all, ids...)
		after = ids[len(ids)-1]
	}
}

// wantEmptyVault checks that vault exists and holds no key and no change.
func wantEmptyVault(t *testing.T, s store.Store, vault string) {
	t.Helper()
	if keys := scanKeys(t, s, vault, "", "", 0); len(keys) != 0 {
		t.Errorf("vault %q holds keys %q, want none", vault, keys)
	}
	if seq := lastSeq(t, s, vault); seq != 0 {
		t.Errorf("LastSeq of vault %q = %d, want 0", vault, seq)
	}
	if cs := changes(t, s, vault, 0, store.MaxChangesPerCall); len(cs) != 0 {
		t.Errorf("vault %q has changes %v, want none", vault, seqsOf(cs))
	}
}

// recv waits up to waitFor for a value from ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("%s did not happen within %v", what, waitFor)
		var zero T
		return zero
	}
}

// goErr runs fn in a goroutine and returns the channel of its result.
func goErr(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}
