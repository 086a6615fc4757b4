package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"

	"github.com/vrmvault/vrmvault/vault/store"
)

// Wait blocks until the vault's last change seq exceeds after, the vault
// is erased (store.ErrVaultNotFound), ctx is done (ctx.Err()) or the store
// closes (store.ErrClosed).
func (s *Store) Wait(ctx context.Context, vault string, after uint64) error {
	if err := s.begin("wait", vault); err != nil {
		return err
	}
	defer s.leave()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Register before reading: a commit the read misses has not been
		// published yet (badger publishes after assigning the commit
		// timestamp that the read would have waited for), so it closes ch.
		ch, release := s.waiters.register(vault)
		last, err := s.lastSeq(vault)
		if err != nil || last > after {
			release()
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
		case <-s.done:
			release()
			return fmt.Errorf("wait vault %s: %w", vault, store.ErrClosed)
		}
		release()
	}
}

// lastSeq returns the vault's last change seq, or store.ErrVaultNotFound.
func (s *Store) lastSeq(vault string) (uint64, error) {
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	if err := checkVault(txn, vault); err != nil {
		return 0, err
	}
	t := newTx(s, txn, vault, false)
	defer t.finish()
	return t.LastSeq()
}

// waiters holds, for each vault with Wait calls, a channel that is closed
// (and replaced) when a change row or the marker of the vault is written.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	ch    chan struct{}
	users int // registered Wait calls; the entry is dropped at 0
}

// register returns the channel of the vault's next change and the
// function that unregisters it.
func (w *waiters) register(vault string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]*waitEntry)
	}
	e := w.m[vault]
	if e == nil {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[vault] = e
	}
	e.users++
	return e.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		e.users--
		if e.users == 0 {
			delete(w.m, vault)
		}
	}
}

// notify wakes the Wait calls of a vault.
func (w *waiters) notify(vault []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[string(vault)]; ok {
		close(e.ch)
		e.ch = make(chan struct{})
	}
}

// notifyAll wakes every Wait call.
func (w *waiters) notifyAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.m {
		close(e.ch)
		e.ch = make(chan struct{})
	}
}

// subscribeLoop keeps one badger subscription running until ctx ends. It
// sends on live once the first subscription is live, or its error. Should
// a subscription end, it starts a new one and then wakes every Wait call,
// since commits in between produced no hint.
func (s *Store) subscribeLoop(ctx context.Context, live chan<- error) {
	defer s.background.Done()
	first := true
	delay := 100 * time.Millisecond
	for {
		err := s.subscribe(ctx, func() {
			if first {
				first = false
				live <- nil
				return
			}
			s.waiters.notifyAll()
			s.log.Warn("change subscription restored")
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("subscription ended")
		}
		if first {
			live <- err
			return
		}
		s.log.Error("change subscription ended; restarting", "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// subscribe runs one badger subscription on change rows and vault markers
// until ctx ends or the subscription fails. Because badger gives no sign
// of when a subscription starts to receive writes, it writes the probe key
// until the subscription reports it, and then calls live.
func (s *Store) subscribe(ctx context.Context, live func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	probedCh := make(chan struct{})
	var probedOnce sync.Once
	ended := make(chan error, 1)
	matches := []pb.Match{
		{Prefix: []byte(changePrefix)},
		{Prefix: []byte(markerPrefix)},
		{Prefix: []byte(probeKey)},
	}
	go func() {
		ended <- s.db.Subscribe(ctx, func(kvs *pb.KVList) error {
			for _, kv := range kvs.GetKv() {
				if string(kv.GetKey()) == probeKey {
					probedOnce.Do(func() { close(probedCh) })
					continue
				}
				if vault := vaultOfNotifiedKey(kv.GetKey()); len(vault) > 0 {
					s.waiters.notify(vault)
				}
			}
			return nil
		}, matches)
	}()

	var probed <-chan struct{} = probedCh
	probe := time.NewTimer(0)
	defer probe.Stop()
	interval := time.Millisecond
	for {
		select {
		case err := <-ended:
			return err
		case <-probed:
			probed = nil
			probe.Stop()
			live()
		case <-probe.C:
			err := s.db.Update(func(txn *badger.Txn) error {
				return txn.Set([]byte(probeKey), nil)
			})
			if err != nil {
				cancel()
				<-ended
				return fmt.Errorf("write probe: %w", err)
			}
			probe.Reset(interval)
			interval = min(2*interval, 100*time.Millisecond)
		}
	}
}
