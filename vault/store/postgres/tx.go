package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vrmvault/vrmvault/vault/store"
)

// errTxDone is returned by a Tx method called after the function the Tx
// was passed to has returned.
var errTxDone = errors.New("postgres: transaction used after its function returned")

// tx is a store.Tx on one PostgreSQL transaction of one vault.
type tx struct {
	s      *Store
	ctx    context.Context // the context of View or Update
	conn   *pgx.Conn
	vault  string
	update bool
	done   bool

	base uint64 // the vault's last_seq when the transaction began
	seq  uint64 // the last seq as seen by this transaction

	// pending are writes not yet sent: they go to the server pipelined
	// with the next read, or with COMMIT, so that a write costs no round
	// trip of its own.
	pending      []write
	pendingBytes int

	// broken is the error of the first statement that failed:
	// PostgreSQL has aborted the transaction, so Update must not commit
	// (and runs fn again if the error is retryable).
	broken error
}

// write is a statement queued by a write method.
type write struct {
	op   string // for messages: put, delete, append change
	sql  string
	args []any
}

func newTx(ctx context.Context, s *Store, conn *pgx.Conn, vault string, last uint64, update bool) *tx {
	return &tx{s: s, ctx: ctx, conn: conn, vault: vault, update: update, base: last, seq: last}
}

// finish marks the tx unusable; a leaked Tx must not reach a connection
// that is back in the pool.
func (t *tx) finish() { t.done = true }

func (t *tx) usable() error {
	if t.done {
		return errTxDone
	}
	if t.broken != nil {
		return fmt.Errorf("an earlier statement of this transaction failed: %w", t.broken)
	}
	return nil
}

func (t *tx) writable() error {
	if t.done {
		return errTxDone
	}
	if !t.update {
		return store.ErrReadOnly
	}
	return t.usable()
}

// fail records a failed statement and returns its error, wrapped.
func (t *tx) fail(op string, err error) error {
	err = fmt.Errorf("postgres: vault %s: %s: %w", t.vault, op, err)
	if t.broken == nil {
		t.broken = err
	}
	return err
}

// queue adds a write to the pending ones; size is roughly its bytes. Past
// maxPendingBytes the pending writes are sent at once, so that a large
// transaction does not hold all its values in memory until it commits.
func (t *tx) queue(w write, size int) error {
	t.pending = append(t.pending, w)
	t.pendingBytes += size
	if t.pendingBytes < maxPendingBytes {
		return nil
	}
	br, err := t.send("")
	if err != nil {
		return err
	}
	if err := br.Close(); err != nil {
		return t.fail("write", err)
	}
	return nil
}

// send sends the pending writes and then the statement sql (if not
// empty), pipelined in one round trip, and returns the results positioned
// at sql's result. A failed write breaks the transaction. The caller
// reads sql's result and closes the results.
func (t *tx) send(sql string, args ...any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	for _, w := range t.pending {
		b.Queue(w.sql, w.args...)
	}
	if sql != "" {
		b.Queue(sql, args...)
	}
	pending := t.pending
	t.pending, t.pendingBytes = nil, 0
	br := t.conn.SendBatch(t.ctx, b)
	for _, w := range pending {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, t.fail(w.op, err)
		}
	}
	return br, nil
}

// checkKey returns store.ErrInvalidKey for a key the contract refuses.
func checkKey(key string) error {
	if len(key) == 0 || len(key) > store.MaxKeyLen {
		return fmt.Errorf("key of %d bytes: %w", len(key), store.ErrInvalidKey)
	}
	return nil
}

// Get returns a copy of the value at key, or store.ErrNotFound if it is
// absent or expired.
func (t *tx) Get(key string) ([]byte, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	br, err := t.send(t.s.q.get, t.vault, []byte(key), t.s.now())
	if err != nil {
		return nil, err
	}
	var v []byte
	err = br.QueryRow().Scan(&v)
	cerr := br.Close()
	switch {
	case errors.Is(err, pgx.ErrNoRows) && cerr == nil:
		return nil, store.ErrNotFound
	case err == nil:
		err = cerr
	}
	if err != nil {
		return nil, t.fail("get", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Put stores a copy of value at key, without TTL.
func (t *tx) Put(key string, value []byte) error { return t.put(key, value, 0) }

// PutTTL stores a copy of value at key, reading as absent once ttl has
// passed on the store's clock.
func (t *tx) PutTTL(key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		if err := t.writable(); err != nil {
			return err
		}
		return fmt.Errorf("postgres: vault %s: ttl %v is not positive", t.vault, ttl)
	}
	return t.put(key, value, ttl)
}

// put writes a kv row; ttl 0 means none.
func (t *tx) put(key string, value []byte, ttl time.Duration) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > store.MaxValueLen+store.ValueSlack {
		return fmt.Errorf("value of %d bytes: %w", len(value), store.ErrTooLarge)
	}
	// A copy (never nil, which pgx would send as NULL): the write is
	// sent later, and the caller may reuse value.
	value = append([]byte{}, value...)
	var expires *time.Time
	if ttl > 0 {
		e := expiry(t.s.now(), ttl)
		expires = &e
	}
	return t.queue(write{"put", t.s.q.put, []any{t.vault, []byte(key), value, expires}}, len(key)+len(value))
}

// expiry returns now+ttl rounded up to the microsecond, PostgreSQL's
// resolution, so that a row never reads as expired before its ttl.
func expiry(now time.Time, ttl time.Duration) time.Time {
	e := now.Add(ttl)
	if r := e.Truncate(time.Microsecond); !r.Equal(e) {
		e = r.Add(time.Microsecond)
	}
	return e
}

// Delete removes key; an absent key is not an error.
func (t *tx) Delete(key string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return t.queue(write{"delete", t.s.q.del, []any{t.vault, []byte(key)}}, len(key))
}

// scanRow is one row of a Scan page.
type scanRow struct {
	key, value []byte
}

// Scan calls fn for the live keys with prefix after after, in byte order,
// including this transaction's own writes. It reads in pages and calls fn
// between queries, so fn may use the Tx.
func (t *tx) Scan(prefix, after string, limit int, fn func(key string, value []byte) error) error {
	if err := t.usable(); err != nil {
		return err
	}
	if len(prefix) > store.MaxKeyLen || len(after) > store.MaxKeyLen {
		return fmt.Errorf("scan prefix or cursor longer than %d bytes: %w", store.MaxKeyLen, store.ErrInvalidKey)
	}
	lower, strict := []byte(prefix), false
	if after != "" && after >= prefix {
		lower, strict = []byte(after), true
	}
	upper := prefixEnd([]byte(prefix))
	now := t.s.now()
	n := 0
	for {
		page := scanPageSize
		if limit > 0 {
			page = min(page, limit-n)
		}
		q, args := t.s.q.scanQuery(strict, upper != nil, t.vault, lower, upper, now, page)
		br, err := t.send(q, args...)
		if err != nil {
			return err
		}
		rows, err := br.Query()
		var got []scanRow
		if err == nil {
			got, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (scanRow, error) {
				var sr scanRow
				err := r.Scan(&sr.key, &sr.value)
				return sr, err
			})
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return t.fail("scan", err)
		}
		for _, r := range got {
			if r.value == nil {
				r.value = []byte{}
			}
			if err := fn(string(r.key), r.value); err != nil {
				return err
			}
			n++
		}
		if len(got) < page || (limit > 0 && n >= limit) {
			return nil
		}
		if err := t.usable(); err != nil {
			return err // fn ran a statement that failed
		}
		lower, strict = got[len(got)-1].key, true
	}
}

// prefixEnd returns the least byte string greater than every string with
// the prefix, or nil if there is none (prefix empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for len(end) > 0 {
		if end[len(end)-1] != 0xff {
			end[len(end)-1]++
			return end
		}
		end = end[:len(end)-1]
	}
	return nil
}

// AppendChange queues the change row with the next sequence number; the
// vault's counter is written at commit. The vault lock, held since the
// transaction began, keeps every other writer of the vault out until then.
func (t *tx) AppendChange(data []byte) (uint64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	if len(data) > store.MaxValueLen+store.ValueSlack {
		return 0, fmt.Errorf("change of %d bytes: %w", len(data), store.ErrTooLarge)
	}
	next := t.seq + 1
	args := []any{t.vault, int64(next), t.s.now(), append([]byte{}, data...)}
	if err := t.queue(write{"append change", t.s.q.appendChange, args}, len(data)); err != nil {
		return 0, err
	}
	t.seq = next
	return next, nil
}

// LastSeq returns the vault's last change seq as seen by this
// transaction.
func (t *tx) LastSeq() (uint64, error) {
	if err := t.usable(); err != nil {
		return 0, err
	}
	return t.seq, nil
}

// Now returns the store's clock.
func (t *tx) Now() time.Time { return t.s.now() }

// commit sends the pending writes, the vault's sequence counter and the
// notification (if the transaction appended changes) and COMMIT, in one
// round trip. It runs
// even if the caller's context is done, so that the outcome is known: an
// error means nothing was written, unless the connection broke during the
// COMMIT itself (as with any database, the outcome is then unknown).
func (t *tx) commit() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), finishTimeout)
	defer cancel()
	b := &pgx.Batch{}
	ops := make([]string, 0, len(t.pending)+3)
	for _, w := range t.pending {
		b.Queue(w.sql, w.args...)
		ops = append(ops, w.op)
	}
	t.pending, t.pendingBytes = nil, 0
	if t.seq != t.base {
		b.Queue(t.s.q.setLastSeq, t.vault, int64(t.seq))
		ops = append(ops, "write the sequence counter")
		if t.s.channel != "" {
			b.Queue(notifySQL, t.s.channel, t.vault)
			ops = append(ops, "notify")
		}
	}
	b.Queue("COMMIT")
	ops = append(ops, "commit")
	br := t.conn.SendBatch(ctx, b)
	var err error
	for i, op := range ops {
		tag, xerr := br.Exec()
		if xerr != nil {
			err = fmt.Errorf("%s: %w", op, xerr)
			break
		}
		if i == len(ops)-1 && tag.String() != "COMMIT" {
			err = errors.New("commit: the transaction was rolled back")
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("commit: %w", cerr)
	}
	if err != nil {
		rollback(ctx, t.conn)
		if retryable(err) {
			return err
		}
		return fmt.Errorf("postgres: update vault %s: %w", t.vault, err)
	}
	return nil
}
