package badgerstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/vrmvault/vrmvault/vault/store"
)

// maxCombined bounds the Update calls of different vaults combined into
// one badger transaction, so that a combined transaction stays far below
// badger's size limit (an operation that hits it anyway runs alone).
const maxCombined = 64

// maxCombineWait bounds how long a call waits in the queue for its
// group to start. A call still waiting then leaves the queue and runs in
// a transaction of its own: a slow commit (a slow disk) costs at most
// this much extra latency, and an Update called from inside the fn of
// another (which would otherwise wait for its own caller) makes progress.
// A call woken to lead may still wait the commit delay (MaxCommitDelay
// at most) before its group starts.
const maxCombineWait = 100 * time.Millisecond

// combineTimeout bounds the waits (conflict backoff) of one combined
// transaction, which runs on behalf of several callers and so is not
// bounded by any one of their contexts; badger's own commit takes no
// context.
const combineTimeout = 30 * time.Second

// combiner commits the Update calls of different vaults that arrive
// together in one badger transaction: one synced commit, and one
// write-ahead-log sync, for all of them instead of one each.
//
// With SyncWrites, badger syncs its write-ahead log once per committed
// transaction, in its single writer goroutine, and every new transaction
// waits until the commits before it are written. Run one transaction per
// call, a host serving many vaults at once is bound by that writer's
// syncs, however many cores it has; combined, the syncs are shared.
//
// Combining does not change what a caller sees: the transactions of
// different vaults touch disjoint keys, so running them one after another
// in one transaction is the same as running them side by side, and a
// combined transaction holds at most one call per vault (a second call of
// the same vault waits for the next one). There is no goroutine of its
// own: the first caller commits; callers that arrive meanwhile queue, and
// when the commit is durable the first of them is woken to commit the
// next group. When the cores are busy the leader first waits a little
// for more calls (see pacer and DefaultCommitDelay), so that fewer syncs
// serve them.
type combiner struct {
	// Set by Open, then read only.
	delay   time.Duration       // a group's wait for more calls, when pace says so (0: never)
	backlog func() bool         // whether the cores are backlogged (a coreLoad's); called by the leader only
	sleep   func(time.Duration) // time.Sleep; tests replace it

	mu         sync.Mutex
	busy       bool
	pending    []*updateOp
	last       int   // calls in the last group (0 once idle)
	backlogged bool  // whether the cores were backlogged when the last group was durable (false once idle)
	pace       pacer // whether the next group waits
}

// updateOp is one Update call.
type updateOp struct {
	ctx   context.Context
	vault string
	fn    func(store.Tx) error
	err   error
	lead  bool          // set before wake is closed: this caller commits the next group
	wake  chan struct{} // closed when err is set, or lead is
}

// run runs fn as one Update of vault, combined with the Update calls of
// other vaults that arrive meanwhile, and returns once the transaction is
// durable or failed.
func (c *combiner) run(ctx context.Context, s *Store, vault string, fn func(store.Tx) error) error {
	op := &updateOp{ctx: ctx, vault: vault, fn: fn, wake: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, op)
	if c.busy {
		c.mu.Unlock()
		switch c.await(ctx, op) {
		case answered:
			return op.err
		case withdrawn:
			if err := ctx.Err(); err != nil {
				return err
			}
			return s.updateAlone(ctx, vault, fn)
		}
		c.mu.Lock()
	}
	c.busy = true
	group := c.nextGroup()
	c.mu.Unlock()

	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), combineTimeout)
	s.commitGroup(gctx, group)
	cancel()

	// Read before the group's callers are woken: the goroutines waiting
	// for a core now are the work that went on during the commit, not
	// the callers about to run.
	backlogged := c.delay > 0 && c.backlog()
	c.mu.Lock()
	c.handOff(backlogged)
	c.mu.Unlock()
	for _, o := range group {
		if o != op {
			close(o.wake)
		}
	}
	return op.err
}

// nextGroup takes the next group from the queue; if the pacer says so, it
// first waits c.delay for more calls to join it, with c.mu released.
// c.mu must be held, by the leader.
func (c *combiner) nextGroup() []*updateOp {
	waited := -1 // the group's size before the wait, if it waited
	if c.delay > 0 && c.pace.wait(c.last, c.backlogged) {
		if n := c.groupSize(); n < maxCombined {
			// More calls are likely on their way: let them join this
			// group rather than pay a sync of their own.
			waited = n
			c.mu.Unlock()
			c.sleep(c.delay)
			c.mu.Lock()
		}
	}
	group := c.take()
	if waited >= 0 {
		c.pace.gathered(len(group) - waited)
	}
	c.last = len(group)
	return group
}

// handOff ends the leader's turn once its group is durable: it records
// whether the cores were backlogged meanwhile and wakes the first queued
// call to lead the next group, or, with none queued, leaves the combiner
// idle and forgets the load (a lone call after a pause does not wait).
// c.mu must be held.
func (c *combiner) handOff(backlogged bool) {
	if len(c.pending) == 0 {
		c.busy = false
		c.last = 0
		c.backlogged = false
		return
	}
	c.backlogged = backlogged
	next := c.pending[0]
	next.lead = true
	close(next.wake)
}

// How a queued call's wait ended.
const (
	answered  = iota // its group ran: op.err is its answer
	leading          // it commits the next group
	withdrawn        // it left the queue before its group started
)

// await waits until op is answered or chosen to lead. If its group has
// not started within maxCombineWait, or ctx ends first, op leaves the
// queue instead. Once in a group, op is not abandoned: the commit under
// way may hold it.
func (c *combiner) await(ctx context.Context, op *updateOp) int {
	t := time.NewTimer(maxCombineWait)
	defer t.Stop()
	select {
	case <-op.wake:
	case <-t.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	if !op.lead {
		if i := slices.Index(c.pending, op); i >= 0 {
			c.pending = slices.Delete(c.pending, i, i+1)
			c.mu.Unlock()
			return withdrawn
		}
	}
	c.mu.Unlock()
	<-op.wake
	if op.lead {
		return leading
	}
	return answered
}

// groupSize returns how many calls take would take now. c.mu must be
// held.
func (c *combiner) groupSize() int {
	seen := make(map[string]struct{}, min(len(c.pending), maxCombined))
	for _, o := range c.pending {
		if len(seen) == maxCombined {
			break
		}
		seen[o.vault] = struct{}{}
	}
	return len(seen)
}

// take removes from the queue the next group: the first pending call
// (the leader's own) and the following ones, in arrival order, at most
// one per vault and maxCombined in all. The calls left behind keep their
// order. c.mu must be held.
func (c *combiner) take() []*updateOp {
	var (
		group []*updateOp
		left  = c.pending[:0]
		seen  = make(map[string]bool, min(len(c.pending), maxCombined))
	)
	for _, o := range c.pending {
		if len(group) < maxCombined && !seen[o.vault] {
			seen[o.vault] = true
			group = append(group, o)
			continue
		}
		left = append(left, o)
	}
	clear(c.pending[len(left):])
	c.pending = left
	return group
}

// commitGroup runs the calls of group and sets each one's err. Calls of
// one vault each, they run in one transaction; one that fails without
// writing gets its error and is left out; one that fails after writing,
// or hits the transaction size limit, voids the transaction (its writes
// cannot be taken back alone) and runs in a transaction of its own, and
// the others run again. A conflict reruns the transaction, a bounded
// number of times, then each call runs alone.
func (s *Store) commitGroup(ctx context.Context, group []*updateOp) {
	live := make([]*updateOp, 0, len(group))
	for _, o := range group {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		live = append(live, o)
	}
	for attempt := 1; len(live) > 1; {
		txn := s.db.NewTransaction(true)
		done, alone := runGroup(s, txn, live)
		if alone != nil {
			txn.Discard()
			alone.err = s.updateAlone(alone.ctx, alone.vault, alone.fn)
			live = done
			continue
		}
		err := txn.Commit()
		txn.Discard()
		switch {
		case err == nil:
			for _, o := range done {
				o.err = nil
			}
			return
		case errors.Is(err, badger.ErrConflict) && attempt < s.maxRetries:
			attempt++
			live = done
			if !sleepJitter(ctx, attempt) {
				for _, o := range live {
					o.err = ctx.Err()
				}
				return
			}
		default:
			// Conflicts that do not settle, a transaction too big, an
			// I/O error: each call gets the answer it has alone.
			for _, o := range done {
				o.err = s.updateAlone(o.ctx, o.vault, o.fn)
			}
			return
		}
	}
	for _, o := range live {
		o.err = s.updateAlone(o.ctx, o.vault, o.fn)
	}
}

// runGroup runs the calls of live in txn, one after another. It returns
// the calls that succeeded (to commit) and, if one failed after writing
// or hit the size limit, that call (then txn must be discarded, and the
// calls after it have not run: they are in done too, to run again). A
// call that failed without writing has its err set and is in neither.
func runGroup(s *Store, txn *badger.Txn, live []*updateOp) (done []*updateOp, alone *updateOp) {
	done = make([]*updateOp, 0, len(live))
	for i, o := range live {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		if err := checkVault(txn, o.vault); err != nil {
			o.err = err
			continue
		}
		t := newTx(s, txn, o.vault, true)
		err := o.fn(t)
		if err == nil {
			err = t.broken
		}
		t.finish()
		switch {
		case err == nil:
			done = append(done, o)
		case !t.wrote && !errors.Is(err, store.ErrTooLarge):
			o.err = err
		default:
			return append(done, live[i+1:]...), o
		}
	}
	return done, nil
}

// updateAlone runs fn in read-write transactions of its own, retrying
// conflicts.
func (s *Store) updateAlone(ctx context.Context, vault string, fn func(store.Tx) error) error {
	return s.retry(ctx, "update vault "+vault, func(txn *badger.Txn) error {
		if err := checkVault(txn, vault); err != nil {
			return err
		}
		t := newTx(s, txn, vault, true)
		defer t.finish()
		if err := fn(t); err != nil {
			return err
		}
		// A write of fn failed half-way (and fn ignored the error):
		// committing would store a half-written change.
		return t.broken
	})
}

// sleepJitter waits a short random time that grows with attempt, so that
// writers that just conflicted do not collide again in lockstep. It
// reports false if ctx ended first.
func sleepJitter(ctx context.Context, attempt int) bool {
	d := time.Duration(rand.Int64N(int64(50*time.Microsecond) << min(attempt, 8)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
