package vault

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

// groupCommit runs the short transactions of one vault that arrive
// together as one store transaction: one synced commit for a group
// instead of one each, and no conflicts among them (they would all append
// to the vault's audit chain, so run apart they conflict and retry). Each
// operation still sees what the ones before it in the group wrote, so the
// group behaves as the operations run one after another; a caller gets
// its answer only once the group's commit is durable.
//
// There is no goroutine per vault: the first caller for an idle vault
// commits a group; callers arriving meanwhile queue, and when the commit
// is done the first of them is woken to commit the next group.
type groupCommit struct {
	mu     sync.Mutex
	queues map[string]*groupQueue // vaults with a commit under way
}

const (
	// maxGroup bounds the operations of one group, so that a group stays
	// a small transaction.
	maxGroup = 64
	// groupTimeout bounds one group's commit, which does not end with the
	// leader's call.
	groupTimeout = 30 * time.Second
)

type groupQueue struct {
	pending []*groupOp
}

// groupOp is one operation of a group.
type groupOp struct {
	// fn runs in the group's transaction. It returns a *refusal when the
	// operation is refused before it wrote anything (the group goes on);
	// any other error ends the group, whose operations are then run one
	// per transaction.
	fn   func(store.Tx) error
	err  error
	lead bool          // set before wake is closed: this op's caller commits the next group
	wake chan struct{} // closed when err is set or lead is
}

// refusal marks an operation refused before it wrote anything.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refuse wraps err as a refusal of one operation of a group.
func refuse(err error) error { return &refusal{err: err} }

// run runs fn in a transaction of the vault shared with the other
// operations that arrive meanwhile, and returns its result once the
// transaction is durable (or failed). fn may run more than once (the
// store retries conflicts), each time on a fresh transaction.
func (g *groupCommit) run(ctx context.Context, h *Host, vaultID string, fn func(store.Tx) error) error {
	op := &groupOp{fn: fn, wake: make(chan struct{})}
	g.mu.Lock()
	if g.queues == nil {
		g.queues = make(map[string]*groupQueue)
	}
	q, busy := g.queues[vaultID]
	if !busy {
		q = &groupQueue{}
		g.queues[vaultID] = q
	}
	q.pending = append(q.pending, op)
	g.mu.Unlock()
	if busy {
		// The running commit wakes this op with its result, or to lead.
		// It is not abandoned on ctx: the group it is in may be running.
		<-op.wake
		if !op.lead {
			return unwrapRefusal(op.err)
		}
	}
	g.mu.Lock()
	n := min(len(q.pending), maxGroup)
	group := q.pending[:n:n]
	q.pending = q.pending[n:]
	g.mu.Unlock()

	// The group commits whatever becomes of the leader's own call, within
	// a bound of its own.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	g.commit(gctx, h, vaultID, group)
	cancel()

	g.mu.Lock()
	if len(q.pending) > 0 {
		next := q.pending[0]
		next.lead = true
		close(next.wake)
	} else {
		delete(g.queues, vaultID)
	}
	g.mu.Unlock()
	for _, o := range group {
		if o != op {
			close(o.wake)
		}
	}
	return unwrapRefusal(op.err)
}

// commit runs group in one transaction; if that fails for another reason
// than a refusal, it runs each operation in a transaction of its own, so
// that each gets the answer it would have had alone.
func (g *groupCommit) commit(ctx context.Context, h *Host, vaultID string, group []*groupOp) {
	if len(group) > 1 {
		err := h.updateAlone(ctx, vaultID, func(tx store.Tx) error {
			for _, o := range group {
				o.err = o.fn(tx)
				var r *refusal
				if o.err != nil && !errors.As(o.err, &r) {
					return o.err
				}
			}
			return nil
		})
		if err == nil {
			return
		}
	}
	for _, o := range group {
		o.err = h.updateAlone(ctx, vaultID, o.fn)
	}
}

func unwrapRefusal(err error) error {
	var r *refusal
	if errors.As(err, &r) {
		return r.err
	}
	return err
}
