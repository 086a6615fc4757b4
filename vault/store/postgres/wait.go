package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

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
		// Register before reading: PostgreSQL delivers a commit's
		// notification after the commit is visible, so a commit the read
		// misses is notified after this registration.
		ch, release := s.waiters.register(vault)
		last, err := s.lastSeq(ctx, vault)
		if err != nil || last > after {
			release()
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return err
		}
		poll := time.NewTimer(s.poll)
		select {
		case <-ch:
		case <-poll.C:
		case <-ctx.Done():
		case <-s.done:
			poll.Stop()
			release()
			return fmt.Errorf("wait vault %s: %w", vault, store.ErrClosed)
		}
		poll.Stop()
		release()
	}
}

// waiters holds, for each vault with Wait calls, a channel that is closed
// (and replaced) when a notification for the vault arrives.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	ch    chan struct{}
	users int // registered Wait calls; the entry is dropped at 0
}

// register returns the channel of the vault's next notification and the
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
func (w *waiters) notify(vault string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[vault]; ok {
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

// listenLoop keeps one connection LISTENing on the store's channel until
// ctx ends, waking the waiters of each notified vault. It sends on ready
// once the first connection listens, or its error. When a connection
// breaks it connects again, with backoff, and then wakes every Wait call,
// since the commits in between were not heard.
func (s *Store) listenLoop(ctx context.Context, ready chan<- error) {
	defer s.background.Done()
	first := true
	delay := 100 * time.Millisecond
	for {
		err := s.listen(ctx, func() {
			if first {
				first = false
				ready <- nil
				return
			}
			s.reconnects.Add(1)
			s.waiters.notifyAll()
			s.log.Warn("change notifications restored")
			delay = 100 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		if first {
			ready <- err
			return
		}
		s.log.Error("change notifications lost; reconnecting", "err", err, "retry_in", delay)
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

// listen runs one listening connection until ctx ends or the connection
// fails; it calls live once LISTEN has taken effect.
func (s *Store) listen(ctx context.Context, live func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.listenPID.Store(conn.PgConn().PID())
	live()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == s.channel {
			s.waiters.notify(n.Payload)
		}
	}
}

// vaultLocks serializes, within one Store, the writers of each vault
// before they take a connection: the writers of a vault would queue on its
// row lock anyway, and waiting here instead keeps them from holding pool
// connections meanwhile, so that a writer's own reads (or a nested call
// on the Store) always find a connection.
type vaultLocks struct {
	mu sync.Mutex
	m  map[string]*vaultLock
}

type vaultLock struct {
	ch    chan struct{} // holds a token while the lock is held
	users int           // holders and waiters; the entry is dropped at 0
}

// lock takes the vault's lock, or returns ctx.Err(). A nil error must be
// paired with a call of unlock.
func (l *vaultLocks) lock(ctx context.Context, vault string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*vaultLock)
	}
	e := l.m[vault]
	if e == nil {
		e = &vaultLock{ch: make(chan struct{}, 1)}
		l.m[vault] = e
	}
	e.users++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		e.users--
		if e.users == 0 {
			delete(l.m, vault)
		}
		l.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
