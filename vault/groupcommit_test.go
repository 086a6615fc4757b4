package vault

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vrmvault/vrmvault/vault/store"
	"github.com/vrmvault/vrmvault/vault/store/badgerstore"
)

// countingStore counts the transactions Update commits.
type countingStore struct {
	store.Store
	updates atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, vault string, fn func(store.Tx) error) error {
	err := s.Store.Update(ctx, vault, fn)
	if err == nil {
		s.updates.Add(1)
	}
	return err
}

func TestGroupCommit(t *testing.T) {
	bs, err := badgerstore.Open(badgerstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	st := &countingStore{Store: bs}
	h, err := NewHost(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, _, err := h.CreateVault(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each operation increments one counter: run apart they would
	// conflict; grouped, each sees the ones before it.
	incr := func(tx store.Tx) error {
		n := 0
		if b, err := tx.Get("t/counter"); err == nil {
			if n, err = strconv.Atoi(string(b)); err != nil {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put("t/counter", []byte(strconv.Itoa(n+1)))
	}
	errBoom := errors.New("boom")
	const callers, rounds = 32, 20
	st.updates.Store(0)
	var (
		wg                    sync.WaitGroup
		refused, failed, good atomic.Int64
	)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				fn := incr
				switch {
				case c == 0 && r%5 == 0: // refused before writing: the group goes on
					fn = func(store.Tx) error { return refuse(errNotPermitted(r)) }
				case c == 1 && r%5 == 0: // fails after writing: the group is rerun one by one
					fn = func(tx store.Tx) error {
						if err := tx.Put("t/half", []byte("x")); err != nil {
							return err
						}
						return errBoom
					}
				}
				switch err := h.groups.run(ctx, h, id, fn); {
				case err == nil:
					good.Add(1)
				case errors.Is(err, ErrNotPermitted):
					refused.Add(1)
				case errors.Is(err, errBoom):
					failed.Add(1)
				default:
					t.Errorf("caller %d round %d: %v", c, r, err)
				}
			}
		}()
	}
	wg.Wait()
	if refused.Load() != rounds/5 || failed.Load() != rounds/5 {
		t.Errorf("refused %d and failed %d, want %d each", refused.Load(), failed.Load(), rounds/5)
	}
	var counter int
	var half bool
	err = h.store.View(ctx, id, func(tx store.Tx) error {
		b, err := tx.Get("t/counter")
		if err != nil {
			return err
		}
		counter, err = strconv.Atoi(string(b))
		_, herr := tx.Get("t/half")
		half = herr == nil
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if int64(counter) != good.Load() {
		t.Errorf("counter = %d after %d successful increments", counter, good.Load())
	}
	if half {
		t.Error("a failed operation's write was committed")
	}
	if u := st.updates.Load(); u >= good.Load() {
		t.Errorf("%d commits for %d operations: nothing was grouped", u, good.Load())
	} else {
		t.Logf("%d successful operations in %d commits", good.Load(), u)
	}
	h.groups.mu.Lock()
	defer h.groups.mu.Unlock()
	if len(h.groups.queues) != 0 {
		t.Errorf("%d queues left after the last commit", len(h.groups.queues))
	}
}

func errNotPermitted(r int) error { return fmt.Errorf("%w: round %d", ErrNotPermitted, r) }
