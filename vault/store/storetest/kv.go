package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

func testGetPutDelete(t *testing.T, s store.Store) {
	mustCreate(t, s, "kv")
	wantNotFound(t, s, "kv", "k")
	put(t, s, "kv", "k", "v1", "empty", "")
	wantValue(t, s, "kv", "k", "v1")
	wantValue(t, s, "kv", "empty", "")
	put(t, s, "kv", "k", "v2")
	wantValue(t, s, "kv", "k", "v2")

	mustUpdate(t, s, "kv", func(tx store.Tx) error {
		if err := tx.Delete("k"); err != nil {
			return err
		}
		if _, err := tx.Get("k"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get after delete in the same tx: %v, want ErrNotFound", err)
		}
		if err := tx.Delete("never-written"); err != nil {
			return fmt.Errorf("delete of an absent key: %w", err)
		}
		return nil
	})
	wantNotFound(t, s, "kv", "k")
	wantNotFound(t, s, "kv", "never-written")

	// Binary keys and values round-trip unchanged.
	key, val := "bin/\x00\xff/\n", "\x00\x01\xfe\xff"
	put(t, s, "kv", key, val)
	wantValue(t, s, "kv", key, val)

	mustView(t, s, "kv", func(tx store.Tx) error {
		if tx.Now().IsZero() {
			t.Error("Tx.Now() is the zero time")
		}
		return nil
	})
}

func testValuesAreCopies(t *testing.T, s store.Store) {
	mustCreate(t, s, "cp")
	mustUpdate(t, s, "cp", func(tx store.Tx) error {
		v := []byte("hello")
		if err := tx.Put("k", v); err != nil {
			return err
		}
		v[0] = 'J' // must not reach the store, before or after commit
		got, err := tx.Get("k")
		if err != nil {
			return err
		}
		if string(got) != "hello" {
			t.Errorf("Get in the tx after mutating the Put slice = %q, want hello", got)
		}
		got[0] = 'X'
		again, err := tx.Get("k")
		if err != nil {
			return err
		}
		if string(again) != "hello" {
			t.Errorf("Get in the tx after mutating a returned slice = %q, want hello", again)
		}
		return nil
	})
	wantValue(t, s, "cp", "k", "hello")
	v, err := get(t, s, "cp", "k")
	if err != nil {
		t.Fatal(err)
	}
	v[0] = 'Y'
	wantValue(t, s, "cp", "k", "hello")
}

var errRollback = errors.New("storetest: roll back")

func testFailedUpdateWritesNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, "rb")
	put(t, s, "rb", "keep", "1", "doomed", "1")
	appendChange(t, s, "rb", "first")

	err := s.Update(ctx, "rb", func(tx store.Tx) error {
		if err := tx.Put("new", []byte("x")); err != nil {
			return err
		}
		if err := tx.PutTTL("new-ttl", []byte("x"), time.Hour); err != nil {
			return err
		}
		if err := tx.Put("keep", []byte("2")); err != nil {
			return err
		}
		if err := tx.Delete("doomed"); err != nil {
			return err
		}
		if _, err := tx.AppendChange([]byte("rolled back")); err != nil {
			return err
		}
		return errRollback
	})
	if err != errRollback { // the contract: fn's error itself, not wrapped
		t.Fatalf("Update returned %v, want fn's error itself", err)
	}
	wantNotFound(t, s, "rb", "new")
	wantNotFound(t, s, "rb", "new-ttl")
	wantValue(t, s, "rb", "keep", "1")
	wantValue(t, s, "rb", "doomed", "1")
	if seq := lastSeq(t, s, "rb"); seq != 1 {
		t.Errorf("LastSeq after a failed Update = %d, want 1", seq)
	}
	if got := seqsOf(changes(t, s, "rb", 0, 10)); !slices.Equal(got, []uint64{1}) {
		t.Errorf("changes after a failed Update = %v, want [1]", got)
	}
	// The rolled-back change consumed no sequence number.
	if seq := appendChange(t, s, "rb", "second"); seq != 2 {
		t.Errorf("append after a failed Update got seq %d, want 2", seq)
	}
}

func testReadOnly(t *testing.T, s store.Store) {
	mustCreate(t, s, "ro")
	put(t, s, "ro", "k", "v")
	appendChange(t, s, "ro", "c")
	mustView(t, s, "ro", func(tx store.Tx) error {
		if err := tx.Put("k", []byte("x")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Put in View = %v, want ErrReadOnly", err)
		}
		if err := tx.PutTTL("k", []byte("x"), time.Hour); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("PutTTL in View = %v, want ErrReadOnly", err)
		}
		if err := tx.Delete("k"); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Delete in View = %v, want ErrReadOnly", err)
		}
		if _, err := tx.AppendChange([]byte("x")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("AppendChange in View = %v, want ErrReadOnly", err)
		}
		// Reads still work.
		if v, err := tx.Get("k"); err != nil || string(v) != "v" {
			t.Errorf("Get in View = %q, %v; want v", v, err)
		}
		if got, err := scan(tx, "", "", 0); err != nil || !slices.Equal(keysOf(got), []string{"k"}) {
			t.Errorf("Scan in View = %v, %v; want [k]", got, err)
		}
		if seq, err := tx.LastSeq(); err != nil || seq != 1 {
			t.Errorf("LastSeq in View = %d, %v; want 1", seq, err)
		}
		return nil
	})
	wantValue(t, s, "ro", "k", "v")
	if seq := lastSeq(t, s, "ro"); seq != 1 {
		t.Errorf("LastSeq = %d, want 1", seq)
	}
}

// scanKeySet is the vault content of the Scan test: prefixes of one
// another, binary bytes around the separator, numbers that sort as text.
var scanKeySet = []string{
	"a", "a/1", "a/10", "a/2", "a\x00", "a0", "ab", "b", "b/1", "\x00", "\xff", "\xff\xff",
}

func testScan(t *testing.T, s store.Store) {
	mustCreate(t, s, "sc")
	if keys := scanKeys(t, s, "sc", "", "", 0); len(keys) != 0 {
		t.Fatalf("Scan of an empty vault = %q", keys)
	}
	var kvs []string
	for _, k := range scanKeySet {
		kvs = append(kvs, k, "val:"+k)
	}
	put(t, s, "sc", kvs...)
	sorted := slices.Clone(scanKeySet)
	sort.Strings(sorted) // byte order

	// want returns the sorted keys with prefix after after, at most limit.
	want := func(prefix, after string, limit int) []string {
		var out []string
		for _, k := range sorted {
			if strings.HasPrefix(k, prefix) && k > after && (limit <= 0 || len(out) < limit) {
				out = append(out, k)
			}
		}
		return out
	}
	cases := []struct {
		prefix, after string
		limit         int
	}{
		{"", "", 0},
		{"", "", -1},
		{"", "", 3},
		{"a", "", 0},
		{"a/", "", 0},
		{"a/", "a/1", 0},
		{"a/", "a/10", 1},
		{"a/", "a/05", 0},    // cursor between keys
		{"a/", "0", 0},       // cursor before the prefix
		{"a/", "b", 0},       // cursor after the prefix range
		{"a/", "a/", 0},      // cursor equal to the prefix
		{"b", "", 0},         // "b" and "b/1", not "ab"
		{"c", "", 0},         // nothing
		{"\xff", "\xff", 0},  // high bytes
		{"", "\xff\xff", 0},  // past the last key
		{"a/2/", "", 0},      // prefix longer than a key
		{"", "a", 2},         // cursor on a key, limit
		{"a\x00", "", 0},     // NUL inside the prefix
		{"", "\x00", 0},      // cursor on the first key
		{"a", "a/2", 100000}, // large limit
	}
	mustView(t, s, "sc", func(tx store.Tx) error {
		for _, c := range cases {
			got, err := scan(tx, c.prefix, c.after, c.limit)
			if err != nil {
				t.Errorf("Scan(%q, %q, %d): %v", c.prefix, c.after, c.limit, err)
				continue
			}
			if w := want(c.prefix, c.after, c.limit); !slices.Equal(keysOf(got), w) {
				t.Errorf("Scan(%q, %q, %d) = %q, want %q", c.prefix, c.after, c.limit, keysOf(got), w)
			}
			for _, e := range got {
				if e.v != "val:"+e.k {
					t.Errorf("Scan passed value %q for key %q", e.v, e.k)
				}
			}
		}

		// Paging with the last key as cursor visits every key once.
		var paged []string
		after := ""
		for range len(sorted) + 1 {
			got, err := scan(tx, "", after, 5)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				break
			}
			paged = append(paged, keysOf(got)...)
			after = got[len(got)-1].k
		}
		if !slices.Equal(paged, sorted) {
			t.Errorf("paged Scan = %q, want %q", paged, sorted)
		}

		// An error from fn stops the scan and is returned.
		calls := 0
		stop := errors.New("stop")
		err := tx.Scan("", "", 0, func(string, []byte) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("Scan with failing fn: err %v after %d calls, want stop after 1", err, calls)
		}
		return nil
	})
}

func testScanSeesOwnWrites(t *testing.T, s store.Store) {
	mustCreate(t, s, "own")
	put(t, s, "own", "a/1", "old", "a/2", "old", "a/3", "old", "b/1", "old")
	mustUpdate(t, s, "own", func(tx store.Tx) error {
		for _, step := range []error{
			tx.Delete("a/1"),
			tx.Put("a/2", []byte("new")),
			tx.Put("a/25", []byte("new")),
			tx.PutTTL("a/4", []byte("new"), time.Hour),
			tx.Put("a/0", []byte("new")),
		} {
			if step != nil {
				return step
			}
		}
		got, err := scan(tx, "a/", "", 0)
		if err != nil {
			return err
		}
		want := []kv{{"a/0", "new"}, {"a/2", "new"}, {"a/25", "new"}, {"a/3", "old"}, {"a/4", "new"}}
		if !slices.Equal(got, want) {
			t.Errorf("Scan in the writing tx = %q, want %q", got, want)
		}
		got, err = scan(tx, "a/", "a/2", 2)
		if err != nil {
			return err
		}
		if want := []kv{{"a/25", "new"}, {"a/3", "old"}}; !slices.Equal(got, want) {
			t.Errorf("Scan after a/2 limit 2 in the writing tx = %q, want %q", got, want)
		}
		return nil
	})
	if got, want := scanKeys(t, s, "own", "", "", 0), []string{"a/0", "a/2", "a/25", "a/3", "a/4", "b/1"}; !slices.Equal(got, want) {
		t.Errorf("Scan after commit = %q, want %q", got, want)
	}
}

func testVaultIsolation(t *testing.T, s store.Store) {
	// Ids that are prefixes of one another or differ by a separator-like
	// character must not see each other's keys or changes.
	ids := []string{"a", "ab", "a-b", "a_b", "b", "A"}
	for i, id := range ids {
		mustCreate(t, s, id)
		put(t, s, id, "k", id, "x/y", id)
		for range i + 1 {
			appendChange(t, s, id, id)
		}
	}
	for i, id := range ids {
		wantValue(t, s, id, "k", id)
		if got := scanKeys(t, s, id, "", "", 0); !slices.Equal(got, []string{"k", "x/y"}) {
			t.Errorf("vault %q: Scan = %q, want [k x/y]", id, got)
		}
		if seq := lastSeq(t, s, id); seq != uint64(i+1) {
			t.Errorf("vault %q: LastSeq = %d, want %d", id, seq, i+1)
		}
		cs := changes(t, s, id, 0, 100)
		if !slices.Equal(seqsOf(cs), seqRange(1, uint64(i+1))) {
			t.Errorf("vault %q: changes %v, want 1..%d", id, seqsOf(cs), i+1)
		}
		for _, c := range cs {
			if string(c.Data) != id {
				t.Errorf("vault %q: change %d holds %q", id, c.Seq, c.Data)
			}
		}
	}
	// A delete in one vault leaves the same key of the others.
	mustUpdate(t, s, "a", func(tx store.Tx) error { return tx.Delete("k") })
	wantNotFound(t, s, "a", "k")
	for _, id := range ids[1:] {
		wantValue(t, s, id, "k", id)
	}
}

// testConcurrentIncrements: writers incrementing one counter through
// read-modify-write Updates lose no increment.
func testConcurrentIncrements(t *testing.T, s store.Store) {
	const writers, increments = 8, 50
	mustCreate(t, s, "ctr")
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var conflictsMu sync.Mutex
	conflicts := 0
	for range writers {
		wg.Go(func() {
			for range increments {
				n, err := updateRetrying(ctx, s, "ctr", func(tx store.Tx) error {
					v, err := tx.Get("n")
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					n := 0
					if err == nil {
						if n, err = strconv.Atoi(string(v)); err != nil {
							return err
						}
					}
					return tx.Put("n", []byte(strconv.Itoa(n+1)))
				})
				conflictsMu.Lock()
				conflicts += n
				conflictsMu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("increment: %v", err)
	}
	wantValue(t, s, "ctr", "n", strconv.Itoa(writers*increments))
	if conflicts > 0 {
		t.Logf("Update returned ErrConflict %d times (allowed; each was retried)", conflicts)
	}
}

// testNoLostUpdate: a commit that lands between a transaction's read and
// its commit makes the store run fn again (or, for an engine that
// serializes the writers of a vault, order the two), never lose it.
func testNoLostUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, "lu")
	put(t, s, "lu", "k", "v0")
	calls := 0
	var other <-chan error
	err := s.Update(ctx, "lu", func(tx store.Tx) error {
		calls++
		old, err := tx.Get("k")
		if err != nil {
			return err
		}
		if calls == 1 {
			other = goErr(func() error {
				return s.Update(ctx, "lu", func(tx store.Tx) error { return tx.Put("k", []byte("other")) })
			})
			select {
			case err := <-other:
				other = nil
				if err != nil {
					return fmt.Errorf("concurrent Update: %w", err)
				}
			case <-time.After(time.Second):
				// The engine makes the other writer wait for this one.
			}
		}
		return tx.Put("k", append(old, '!'))
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if other != nil {
		if err := recv(t, other, "the concurrent Update"); err != nil {
			t.Fatalf("concurrent Update: %v", err)
		}
	}
	v, err := get(t, s, "lu", "k")
	if err != nil {
		t.Fatal(err)
	}
	switch string(v) {
	case "other!": // the other commit first, then fn again on it
		if calls < 2 {
			t.Errorf("fn ran %d times, yet saw the other commit", calls)
		}
	case "other": // this commit first, then the other
	default:
		t.Errorf("final value %q: the concurrent commit was lost (want other! or other)", v)
	}
}

func testTTL(t *testing.T, s store.Store) {
	const ttl = 300 * time.Millisecond
	mustCreate(t, s, "ttl")
	start := time.Now()
	mustUpdate(t, s, "ttl", func(tx store.Tx) error {
		for _, step := range []error{
			tx.PutTTL("short", []byte("v"), ttl),
			tx.PutTTL("renewed", []byte("v"), ttl),
			tx.PutTTL("long", []byte("v"), time.Hour),
			tx.PutTTL("forever", []byte("v"), time.Duration(math.MaxInt64)),
			tx.Put("plain", []byte("v")),
		} {
			if step != nil {
				return step
			}
		}
		if v, err := tx.Get("short"); err != nil || string(v) != "v" {
			t.Errorf("Get of a fresh TTL key in its tx = %q, %v", v, err)
		}
		for _, bad := range []time.Duration{0, -time.Second} {
			if err := tx.PutTTL("bad", []byte("v"), bad); err == nil {
				t.Errorf("PutTTL with ttl %v succeeded", bad)
			}
		}
		return nil
	})
	// Put replaces an earlier TTL.
	put(t, s, "ttl", "renewed", "v2")
	if time.Since(start) < ttl/2 {
		wantValue(t, s, "ttl", "short", "v")
	}

	deadline := start.Add(ttl + waitFor)
	for {
		_, err := get(t, s, "ttl", "short")
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("Get(short): %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("key with ttl %v still present after %v", ttl, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if elapsed := time.Since(start); elapsed < ttl {
		t.Errorf("key with ttl %v gone after %v", ttl, elapsed)
	}
	if got, want := scanKeys(t, s, "ttl", "", "", 0), []string{"forever", "long", "plain", "renewed"}; !slices.Equal(got, want) {
		t.Errorf("Scan after expiry = %q, want %q", got, want)
	}
	wantValue(t, s, "ttl", "renewed", "v2")
	wantValue(t, s, "ttl", "long", "v")
	wantValue(t, s, "ttl", "forever", "v")
	// An expired key can be written again.
	put(t, s, "ttl", "short", "again")
	wantValue(t, s, "ttl", "short", "again")
}

func testLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, "lim")
	longKey := strings.Repeat("k", store.MaxKeyLen)
	tooLongKey := longKey + "k"
	bigValue := bytes.Repeat([]byte{0xa5}, store.MaxValueLen)
	tooBig := make([]byte, store.MaxValueLen+store.ValueSlack+1)

	mustUpdate(t, s, "lim", func(tx store.Tx) error {
		for _, key := range []string{"", tooLongKey} {
			if err := tx.Put(key, []byte("v")); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Put with a key of %d bytes = %v, want ErrInvalidKey", len(key), err)
			}
			if err := tx.PutTTL(key, []byte("v"), time.Hour); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("PutTTL with a key of %d bytes = %v, want ErrInvalidKey", len(key), err)
			}
			if _, err := tx.Get(key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Get with a key of %d bytes = %v, want ErrInvalidKey", len(key), err)
			}
			if err := tx.Delete(key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Delete with a key of %d bytes = %v, want ErrInvalidKey", len(key), err)
			}
		}
		if err := tx.Put("big", tooBig); !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("Put of %d bytes = %v, want ErrTooLarge", len(tooBig), err)
		}
		if err := tx.PutTTL("big", tooBig, time.Hour); !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("PutTTL of %d bytes = %v, want ErrTooLarge", len(tooBig), err)
		}
		if _, err := tx.AppendChange(tooBig); !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("AppendChange of %d bytes = %v, want ErrTooLarge", len(tooBig), err)
		}
		// The largest key and value are accepted.
		if err := tx.Put(longKey, []byte("v")); err != nil {
			return fmt.Errorf("put with a key of MaxKeyLen: %w", err)
		}
		if err := tx.Put("big", bigValue); err != nil {
			return fmt.Errorf("put of MaxValueLen: %w", err)
		}
		return nil
	})
	wantValue(t, s, "lim", longKey, "v")
	wantValue(t, s, "lim", "big", string(bigValue))
	if seq := lastSeq(t, s, "lim"); seq != 0 {
		t.Errorf("LastSeq after a refused AppendChange = %d, want 0", seq)
	}
	if seq := appendChange(t, s, "lim", string(bigValue)); seq != 1 {
		t.Errorf("AppendChange of MaxValueLen got seq %d, want 1", seq)
	}
	if cs := changes(t, s, "lim", 0, 1); len(cs) != 1 || !bytes.Equal(cs[0].Data, bigValue) {
		t.Errorf("change of MaxValueLen did not round-trip")
	}

	// A write refused for its size, returned by fn, writes nothing.
	err := s.Update(ctx, "lim", func(tx store.Tx) error {
		if err := tx.Put("before", []byte("v")); err != nil {
			return err
		}
		return tx.Put("big2", tooBig)
	})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Update with an oversized Put = %v, want ErrTooLarge", err)
	}
	wantNotFound(t, s, "lim", "before")

	for _, limit := range []int{0, -1, store.MaxChangesPerCall + 1} {
		if _, err := s.Changes(ctx, "lim", 0, limit); err == nil {
			t.Errorf("Changes with limit %d succeeded", limit)
		}
	}
	if _, err := s.Changes(ctx, "lim", 0, store.MaxChangesPerCall); err != nil {
		t.Errorf("Changes with limit MaxChangesPerCall: %v", err)
	}
}
