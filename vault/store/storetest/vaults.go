package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

func testCreateVault(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"v1", strings.Repeat("z", store.MaxVaultIDLen), "A-_9"} {
		if err := s.CreateVault(ctx, id); err != nil {
			t.Fatalf("CreateVault(%q): %v", id, err)
		}
		wantEmptyVault(t, s, id)
	}
	if err := s.CreateVault(ctx, "v1"); !errors.Is(err, store.ErrVaultExists) {
		t.Errorf("second CreateVault = %v, want ErrVaultExists", err)
	}
	// A duplicate create leaves the vault alone.
	put(t, s, "v1", "k", "v")
	if err := s.CreateVault(ctx, "v1"); !errors.Is(err, store.ErrVaultExists) {
		t.Errorf("third CreateVault = %v, want ErrVaultExists", err)
	}
	wantValue(t, s, "v1", "k", "v")

	// Concurrent creates of one id: exactly one wins.
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Go(func() { results <- s.CreateVault(ctx, "race") })
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrVaultExists):
			t.Errorf("concurrent CreateVault: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent CreateVault calls succeeded, want 1", won)
	}
}

func testInvalidVaultIDs(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	mustCreate(t, s, "ok")
	bad := []string{
		"", "a/b", "/", "a b", "a.b", "..", "a\x00", "\x00", "ä", "a:b", "a\n",
		strings.Repeat("a", store.MaxVaultIDLen+1),
	}
	for _, id := range bad {
		called := false
		fn := func(store.Tx) error { called = true; return nil }
		checks := map[string]error{
			"CreateVault": s.CreateVault(ctx, id),
			"EraseVault":  s.EraseVault(ctx, id),
			"View":        s.View(ctx, id, fn),
			"Update":      s.Update(ctx, id, fn),
			"Wait":        s.Wait(ctx, id, 0),
		}
		_, checks["Changes"] = s.Changes(ctx, id, 0, 10)
		for op, err := range checks {
			if !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, id, err)
			}
		}
		if called {
			t.Errorf("fn called for vault id %q", id)
		}
	}
	if got := listAll(t, s, 10); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("vaults = %q, want [ok]", got)
	}
}

func testMissingVault(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	mustCreate(t, s, "present")
	called := false
	fn := func(store.Tx) error { called = true; return nil }
	checks := map[string]error{
		"View":       s.View(ctx, "absent", fn),
		"Update":     s.Update(ctx, "absent", fn),
		"EraseVault": s.EraseVault(ctx, "absent"),
		"Wait":       s.Wait(ctx, "absent", 0),
	}
	_, checks["Changes"] = s.Changes(ctx, "absent", 0, 10)
	for op, err := range checks {
		if !errors.Is(err, store.ErrVaultNotFound) {
			t.Errorf("%s on a missing vault = %v, want ErrVaultNotFound", op, err)
		}
	}
	if called {
		t.Error("fn called for a missing vault")
	}
	// Nothing was created by those calls.
	if got := listAll(t, s, 10); !slices.Equal(got, []string{"present"}) {
		t.Errorf("vaults = %q, want [present]", got)
	}
}

// fill writes keys, a TTL key and changes into vault.
func fill(t *testing.T, s store.Store, vault string, changes int) {
	t.Helper()
	mustUpdate(t, s, vault, func(tx store.Tx) error {
		for _, k := range []string{"p/name", "p/email", "c/1"} {
			if err := tx.Put(k, []byte(vault)); err != nil {
				return err
			}
		}
		if err := tx.PutTTL("j/jti", []byte(vault), time.Hour); err != nil {
			return err
		}
		for range changes {
			if _, err := tx.AppendChange([]byte(vault)); err != nil {
				return err
			}
		}
		return nil
	})
}

func testEraseVault(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*waitFor)
	defer cancel()
	ids := []string{"e", "e2", "e-x", "ee", "d"}
	for _, id := range ids {
		mustCreate(t, s, id)
		fill(t, s, id, 3)
	}
	// More rows than one erase batch of a typical engine.
	for i := 0; i < 2500; i += 500 {
		mustUpdate(t, s, "e", func(tx store.Tx) error {
			for j := i; j < i+500; j++ {
				if err := tx.Put(fmt.Sprintf("bulk/%05d", j), []byte("x")); err != nil {
					return err
				}
			}
			return nil
		})
	}

	if err := s.EraseVault(ctx, "e"); err != nil {
		t.Fatalf("EraseVault: %v", err)
	}
	fn := func(store.Tx) error { return nil }
	checks := map[string]error{
		"View":       s.View(ctx, "e", fn),
		"Update":     s.Update(ctx, "e", fn),
		"EraseVault": s.EraseVault(ctx, "e"),
		"Wait":       s.Wait(ctx, "e", 0),
	}
	_, checks["Changes"] = s.Changes(ctx, "e", 0, 10)
	for op, err := range checks {
		if !errors.Is(err, store.ErrVaultNotFound) {
			t.Errorf("%s after erase = %v, want ErrVaultNotFound", op, err)
		}
	}
	if got, want := listAll(t, s, 10), []string{"d", "e-x", "e2", "ee"}; !slices.Equal(got, want) {
		t.Errorf("vaults after erase = %q, want %q", got, want)
	}

	// The other vaults, including those whose id extends "e", are intact.
	for _, id := range ids[1:] {
		if got, want := scanKeys(t, s, id, "", "", 0), []string{"c/1", "j/jti", "p/email", "p/name"}; !slices.Equal(got, want) {
			t.Errorf("vault %q after erasing e: keys %q, want %q", id, got, want)
		}
		if got := seqsOf(changes(t, s, id, 0, 10)); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Errorf("vault %q after erasing e: changes %v", id, got)
		}
	}

	// The id can be created again and starts empty, at sequence 0.
	mustCreate(t, s, "e")
	wantEmptyVault(t, s, "e")
	for _, k := range []string{"p/name", "j/jti", "bulk/00000", "bulk/02499"} {
		wantNotFound(t, s, "e", k)
	}
	if seq := appendChange(t, s, "e", "new"); seq != 1 {
		t.Errorf("first change of the re-created vault got seq %d, want 1", seq)
	}
	if err := s.CreateVault(ctx, "e"); !errors.Is(err, store.ErrVaultExists) {
		t.Errorf("CreateVault of the re-created vault = %v, want ErrVaultExists", err)
	}
	// Erasing an empty vault works too.
	mustCreate(t, s, "empty")
	if err := s.EraseVault(ctx, "empty"); err != nil {
		t.Errorf("EraseVault of an empty vault: %v", err)
	}
}

// testEraseUnderConcurrentWrites: writers racing an erase either commit
// before it (and their rows are erased) or fail; the re-created vault
// holds nothing of theirs.
func testEraseUnderConcurrentWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, "busy")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				_, err := updateRetrying(ctx, s, "busy", func(tx store.Tx) error {
					if err := tx.Put(fmt.Sprintf("w%d/%d", w, i), []byte("x")); err != nil {
						return err
					}
					_, err := tx.AppendChange([]byte("x"))
					return err
				})
				if errors.Is(err, store.ErrVaultNotFound) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.EraseVault(ctx, "busy"); err != nil {
		t.Fatalf("EraseVault: %v", err)
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	recv(t, stopped, "writers seeing the erase")
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	mustCreate(t, s, "busy")
	wantEmptyVault(t, s, "busy")
}

func testListVaults(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ids, err := s.ListVaults(ctx, "", 10); err != nil || len(ids) != 0 {
		t.Fatalf("ListVaults of an empty store = %q, %v", ids, err)
	}
	var want []string
	for i := range 23 {
		want = append(want, fmt.Sprintf("lv-%02d", i))
	}
	want = append(want, "A", "Z", "_", "a", "lv", "lv-", "lw")
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, id := range shuffled {
		mustCreate(t, s, id)
	}
	slices.Sort(want) // byte order
	for _, page := range []int{1, 5, 7, len(want), 1000} {
		if got := listAll(t, s, page); !slices.Equal(got, want) {
			t.Errorf("ListVaults in pages of %d = %q, want %q", page, got, want)
		}
	}
	cases := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 3, want[:3]},
		{"lv-05", 2, []string{"lv-06", "lv-07"}},
		{"lv-05x", 2, []string{"lv-06", "lv-07"}}, // cursor that is not a vault
		{"lv", 2, []string{"lv-", "lv-00"}},
		{"lw", 10, nil},
		{"zzz", 10, nil},
		{"\x00", 1, want[:1]},
	}
	for _, c := range cases {
		got, err := s.ListVaults(ctx, c.after, c.limit)
		if err != nil {
			t.Errorf("ListVaults(%q, %d): %v", c.after, c.limit, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ListVaults(%q, %d) = %q, want %q", c.after, c.limit, got, c.want)
		}
	}
}

func testClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, "c")
	appendChange(t, s, "c", "1")

	// A running transaction holds Close until it ends.
	entered, release := make(chan struct{}), make(chan struct{})
	viewDone := goErr(func() error {
		return s.View(ctx, "c", func(tx store.Tx) error {
			close(entered)
			<-release
			if _, err := tx.Get("absent"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("get in a tx running across Close: %v", err)
			}
			return nil
		})
	})
	recv(t, entered, "View starting")
	waitCtx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	waitDone := goErr(func() error { return s.Wait(waitCtx, "c", 1) })
	time.Sleep(20 * time.Millisecond) // let Wait block

	closeDone := goErr(s.Close)
	if err := recv(t, waitDone, "Wait returning on Close"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Wait across Close = %v, want ErrClosed", err)
	}
	select {
	case err := <-closeDone:
		t.Fatalf("Close returned (%v) while a View was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := recv(t, viewDone, "View ending"); err != nil {
		t.Errorf("View across Close: %v", err)
	}
	if err := recv(t, closeDone, "Close returning"); err != nil {
		t.Fatalf("Close: %v", err)
	}

	fn := func(store.Tx) error {
		t.Error("fn called after Close")
		return nil
	}
	checks := map[string]error{
		"CreateVault": s.CreateVault(ctx, "new"),
		"EraseVault":  s.EraseVault(ctx, "c"),
		"View":        s.View(ctx, "c", fn),
		"Update":      s.Update(ctx, "c", fn),
		"Wait":        s.Wait(ctx, "c", 0),
		"Close":       s.Close(),
	}
	_, checks["ListVaults"] = s.ListVaults(ctx, "", 10)
	_, checks["Changes"] = s.Changes(ctx, "c", 0, 10)
	for op, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
}
