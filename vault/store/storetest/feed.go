package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

func testChangeFeed(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, "feed")
	if seq := lastSeq(t, s, "feed"); seq != 0 {
		t.Fatalf("LastSeq of a new vault = %d, want 0", seq)
	}
	if cs := changes(t, s, "feed", 0, 10); len(cs) != 0 {
		t.Fatalf("changes of a new vault: %v", seqsOf(cs))
	}

	var txNow []time.Time // the tx clock of each change, by seq-1
	mustUpdate(t, s, "feed", func(tx store.Tx) error {
		txNow = txNow[:0]
		for i, d := range []string{"one", "two", "three"} {
			seq, err := tx.AppendChange([]byte(d))
			if err != nil {
				return err
			}
			txNow = append(txNow, tx.Now())
			if seq != uint64(i+1) {
				t.Errorf("AppendChange #%d got seq %d", i+1, seq)
			}
			if last, err := tx.LastSeq(); err != nil || last != seq {
				t.Errorf("LastSeq after appending %d = %d, %v", seq, last, err)
			}
		}
		return nil
	})
	mustUpdate(t, s, "feed", func(tx store.Tx) error {
		txNow = txNow[:3]
		data := []byte("four")
		if _, err := tx.AppendChange(data); err != nil {
			return err
		}
		data[0] = 'X' // must not reach the store
		txNow = append(txNow, tx.Now())
		if _, err := tx.AppendChange(nil); err != nil {
			return err
		}
		txNow = append(txNow, tx.Now())
		return nil
	})
	if seq := lastSeq(t, s, "feed"); seq != 5 {
		t.Errorf("LastSeq = %d, want 5", seq)
	}
	cs := changes(t, s, "feed", 0, 100)
	if !slices.Equal(seqsOf(cs), seqRange(1, 5)) {
		t.Fatalf("changes = %v, want 1..5", seqsOf(cs))
	}
	for i, want := range []string{"one", "two", "three", "four", ""} {
		c := cs[i]
		if string(c.Data) != want {
			t.Errorf("change %d data = %q, want %q", c.Seq, c.Data, want)
		}
		if c.Time.IsZero() || c.Time.Sub(txNow[i]).Abs() > time.Minute {
			t.Errorf("change %d time = %v, want the engine clock (about %v)", c.Seq, c.Time, txNow[i])
		}
	}
	cs[0].Data[0] = 'X' // returned data is a copy
	if again := changes(t, s, "feed", 0, 1); string(again[0].Data) != "one" {
		t.Errorf("change 1 after mutating a returned copy = %q", again[0].Data)
	}

	pages := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 2, []uint64{1, 2}},
		{2, 2, []uint64{3, 4}},
		{4, 2, []uint64{5}},
		{5, 2, nil},
		{3, store.MaxChangesPerCall, []uint64{4, 5}},
		{1 << 40, 10, nil},
		{math.MaxUint64, 10, nil},
	}
	for _, p := range pages {
		got, err := s.Changes(ctx, "feed", p.after, p.limit)
		if err != nil {
			t.Errorf("Changes(after %d, limit %d): %v", p.after, p.limit, err)
			continue
		}
		if !slices.Equal(seqsOf(got), p.want) {
			t.Errorf("Changes(after %d, limit %d) = %v, want %v", p.after, p.limit, seqsOf(got), p.want)
		}
	}
}

func testChangesVisibleAtCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, "vis")
	appendChange(t, s, "vis", "committed")
	mustUpdate(t, s, "vis", func(tx store.Tx) error {
		seq, err := tx.AppendChange([]byte("pending"))
		if err != nil {
			return err
		}
		if seq != 2 {
			t.Errorf("pending change got seq %d, want 2", seq)
		}
		// Readers outside the transaction do not see it yet.
		cs, err := s.Changes(ctx, "vis", 0, 10)
		if err != nil {
			return err
		}
		if !slices.Equal(seqsOf(cs), []uint64{1}) {
			t.Errorf("Changes during the writing tx = %v, want [1]", seqsOf(cs))
		}
		err = s.View(ctx, "vis", func(other store.Tx) error {
			if last, err := other.LastSeq(); err != nil || last != 1 {
				t.Errorf("LastSeq in another tx during the writing tx = %d, %v; want 1", last, err)
			}
			return nil
		})
		return err
	})
	if got := seqsOf(changes(t, s, "vis", 0, 10)); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("Changes after commit = %v, want [1 2]", got)
	}
}

// testConcurrentAppenders: writers appending at once get a gapless set of
// sequence numbers without duplicates, each the one AppendChange returned
// in the attempt that committed.
func testConcurrentAppenders(t *testing.T, s store.Store) {
	const writers, appends = 8, 25
	ctx := t.Context()
	mustCreate(t, s, "app")
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqOf := map[string]uint64{} // data -> seq returned by the committed attempt
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				data := fmt.Sprintf("w%d-%d", w, i)
				var seq uint64
				_, err := updateRetrying(ctx, s, "app", func(tx store.Tx) error {
					var err error
					seq, err = tx.AppendChange([]byte(data))
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seqOf[data] = seq
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}

	// Read the feed in pages of an odd size.
	var all []store.Change
	for after := uint64(0); ; {
		cs := changes(t, s, "app", after, 7)
		if len(cs) == 0 {
			break
		}
		all = append(all, cs...)
		after = cs[len(cs)-1].Seq
	}
	if want := seqRange(1, writers*appends); !slices.Equal(seqsOf(all), want) {
		t.Fatalf("feed seqs = %v, want 1..%d", seqsOf(all), writers*appends)
	}
	seen := map[string]bool{}
	for _, c := range all {
		d := string(c.Data)
		if seen[d] {
			t.Errorf("data %q appears twice", d)
		}
		seen[d] = true
		if want, ok := seqOf[d]; !ok || want != c.Seq {
			t.Errorf("change %d holds %q, which AppendChange numbered %d", c.Seq, d, want)
		}
	}
	if seq := lastSeq(t, s, "app"); seq != writers*appends {
		t.Errorf("LastSeq = %d, want %d", seq, writers*appends)
	}
}

func testWait(t *testing.T, s store.Store) {
	mustCreate(t, s, "w")

	t.Run("ReturnsAtOnceWhenBehind", func(t *testing.T) {
		appendChange(t, s, "w", "c")
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		defer cancel()
		if err := s.Wait(ctx, "w", 0); err != nil {
			t.Fatalf("Wait behind the feed: %v", err)
		}
	})

	t.Run("WakesOnCommit", func(t *testing.T) {
		last := lastSeq(t, s, "w")
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		defer cancel()
		done := goErr(func() error { return s.Wait(ctx, "w", last) })
		time.Sleep(20 * time.Millisecond) // let Wait block
		appendChange(t, s, "w", "wake")
		if err := recv(t, done, "Wait returning after a commit"); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if cs := changes(t, s, "w", last, 10); len(cs) == 0 {
			t.Fatal("Wait returned, but no change after the cursor")
		}
	})

	t.Run("NeverMissesACommit", func(t *testing.T) {
		// Commit while Wait is starting, again and again: whatever the
		// interleaving, Wait must return.
		for i := range 30 {
			last := lastSeq(t, s, "w")
			ctx, cancel := context.WithTimeout(t.Context(), waitFor)
			done := goErr(func() error { return s.Wait(ctx, "w", last) })
			appendChange(t, s, "w", "race")
			err := recv(t, done, "Wait returning after a racing commit")
			cancel()
			if err != nil {
				t.Fatalf("round %d: Wait: %v", i, err)
			}
		}
	})

	t.Run("WakesEveryWaiter", func(t *testing.T) {
		last := lastSeq(t, s, "w")
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		defer cancel()
		var dones []<-chan error
		for range 5 {
			dones = append(dones, goErr(func() error { return s.Wait(ctx, "w", last) }))
		}
		time.Sleep(20 * time.Millisecond)
		appendChange(t, s, "w", "all")
		for _, done := range dones {
			if err := recv(t, done, "every Wait returning"); err != nil {
				t.Fatalf("Wait: %v", err)
			}
		}
	})

	t.Run("DeadlineWithoutChange", func(t *testing.T) {
		last := lastSeq(t, s, "w")
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		// Wait may return early (it is a hint); then the feed must not
		// have moved, and the caller would wait again.
		for {
			err := s.Wait(ctx, "w", last)
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("Wait: %v, want DeadlineExceeded", err)
			}
			if cs := changes(t, s, "w", last, 10); len(cs) != 0 {
				t.Fatalf("unexpected changes %v", seqsOf(cs))
			}
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		last := lastSeq(t, s, "w")
		ctx, cancel := context.WithCancel(t.Context())
		done := goErr(func() error { return s.Wait(ctx, "w", last) })
		time.Sleep(20 * time.Millisecond)
		cancel()
		if err := recv(t, done, "Wait returning on cancel"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
		}
	})

	t.Run("Erase", func(t *testing.T) {
		mustCreate(t, s, "w-erased")
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		defer cancel()
		done := goErr(func() error { return s.Wait(ctx, "w-erased", 0) })
		time.Sleep(20 * time.Millisecond)
		if err := s.EraseVault(t.Context(), "w-erased"); err != nil {
			t.Fatalf("EraseVault: %v", err)
		}
		if err := recv(t, done, "Wait returning on erase"); !errors.Is(err, store.ErrVaultNotFound) {
			t.Fatalf("Wait on an erased vault = %v, want ErrVaultNotFound", err)
		}
		if err := s.Wait(ctx, "w-erased", 0); !errors.Is(err, store.ErrVaultNotFound) {
			t.Fatalf("Wait after erase = %v, want ErrVaultNotFound", err)
		}
	})
}
