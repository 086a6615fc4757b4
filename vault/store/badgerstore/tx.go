package badgerstore

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/vrmvault/vrmvault/vault/store"
)

// maxBadgerTTL is the longest TTL handed to badger, whose expiry
// arithmetic would overflow on absurd durations; a longer-lived row just
// keeps its own expiry header.
const maxBadgerTTL = 100 * 365 * 24 * time.Hour

// errTxDone is returned by a Tx method called after the function the Tx
// was passed to has returned.
var errTxDone = errors.New("badgerstore: transaction used after its function returned")

// tx is a store.Tx on one badger transaction of one vault.
type tx struct {
	s      *Store
	txn    *badger.Txn
	vault  string
	data   []byte // "v/<id>/", the prefix of the vault's caller rows
	update bool
	done   bool
	wrote  bool // a write method got as far as badger: the tx may hold writes

	// it is the iterator over the vault's rows that Scan seeks, opened
	// by the first Scan and kept until the tx writes (an iterator sees
	// the writes made before it was opened, not after) or ends: opening
	// one costs more than a scan of a few rows (badger sorts the
	// transaction's pending writes and sets up one iterator per table).
	it       *badger.Iterator
	scanning bool // a Scan is iterating it
	stale    bool // it was written past during that Scan: drop it after

	seq       uint64 // the vault's last change seq as seen by this tx
	seqLoaded bool

	// broken is set when a write failed half-way; Update then refuses to
	// commit even if fn ignores the error.
	broken error
}

func newTx(s *Store, txn *badger.Txn, vault string, update bool) *tx {
	return &tx{s: s, txn: txn, vault: vault, data: vaultDataPrefix(vault), update: update}
}

// finish marks the tx unusable; a leaked Tx must not reach a discarded
// badger transaction (whose iterators panic).
func (t *tx) finish() {
	t.done = true
	t.dropIterator()
}

// dropIterator closes the tx's iterator, if open: after a write, or at
// the end of the tx (badger refuses to discard a transaction with an
// iterator open).
func (t *tx) dropIterator() {
	if t.it != nil {
		t.it.Close()
		t.it = nil
	}
}

// wrote past marks the tx's iterator outdated by a write: dropped now, or
// once the Scan iterating it ends (which, like a scan on an iterator of
// its own, does not see the write).
func (t *tx) writePast() {
	t.wrote = true
	if t.scanning {
		t.stale = true
		return
	}
	t.dropIterator()
}

// iterator returns the tx's iterator over the vault's rows, opening it if
// needed.
func (t *tx) iterator() *badger.Iterator {
	if t.it == nil {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false // values are read one by one
		opts.Prefix = t.data
		t.it = t.txn.NewIterator(opts)
	}
	return t.it
}

// key returns the badger key of a caller key, or store.ErrInvalidKey.
func (t *tx) key(key string) ([]byte, error) {
	if len(key) == 0 || len(key) > store.MaxKeyLen {
		return nil, fmt.Errorf("key of %d bytes: %w", len(key), store.ErrInvalidKey)
	}
	k := make([]byte, 0, len(t.data)+len(key))
	k = append(k, t.data...)
	return append(k, key...), nil
}

func (t *tx) usable() error {
	if t.done {
		return errTxDone
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
	return nil
}

// writeErr maps the error of a badger write.
func (t *tx) writeErr(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("vault %s: transaction exceeds the engine's size limit: %w", t.vault, store.ErrTooLarge)
	}
	return fmt.Errorf("badgerstore: vault %s: write: %w", t.vault, err)
}

// Get returns a copy of the value at key, or store.ErrNotFound if it is
// absent or expired.
func (t *tx) Get(key string) ([]byte, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	k, err := t.key(key)
	if err != nil {
		return nil, err
	}
	item, err := t.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("badgerstore: vault %s: get: %w", t.vault, err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: vault %s: get: %w", t.vault, err)
	}
	v, live, err := decodeData(b, t.s.now())
	if err != nil {
		return nil, fmt.Errorf("badgerstore: vault %s: get: %w", t.vault, err)
	}
	if !live {
		return nil, store.ErrNotFound
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
		return fmt.Errorf("badgerstore: vault %s: ttl %v is not positive", t.vault, ttl)
	}
	return t.put(key, value, ttl)
}

// put writes a data row; ttl 0 means none.
func (t *tx) put(key string, value []byte, ttl time.Duration) error {
	if err := t.writable(); err != nil {
		return err
	}
	k, err := t.key(key)
	if err != nil {
		return err
	}
	if len(value) > store.MaxValueLen+store.ValueSlack {
		return fmt.Errorf("value of %d bytes: %w", len(value), store.ErrTooLarge)
	}
	t.writePast()
	var e *badger.Entry
	if ttl == 0 {
		e = badger.NewEntry(k, encodeData(value, 0))
	} else {
		now := t.s.now().UnixNano()
		expiry := now + int64(ttl)
		if expiry < now { // beyond the year 2262: never
			expiry = math.MaxInt64
		}
		e = badger.NewEntry(k, encodeData(value, expiry))
		if ttl <= maxBadgerTTL {
			// badger's own TTL is in whole seconds of the wall clock;
			// one more second keeps it from dropping the row before
			// our expiry.
			e = e.WithTTL(ttl + time.Second)
		}
	}
	if err := t.txn.SetEntry(e); err != nil {
		return t.writeErr(err)
	}
	return nil
}

// Delete removes key; an absent key is not an error.
func (t *tx) Delete(key string) error {
	if err := t.writable(); err != nil {
		return err
	}
	k, err := t.key(key)
	if err != nil {
		return err
	}
	t.writePast()
	if err := t.txn.Delete(k); err != nil {
		return t.writeErr(err)
	}
	return nil
}

// Scan calls fn for the live keys with prefix after after, in byte order,
// including this transaction's own writes.
func (t *tx) Scan(prefix, after string, limit int, fn func(key string, value []byte) error) error {
	if err := t.usable(); err != nil {
		return err
	}
	if len(prefix) > store.MaxKeyLen || len(after) > store.MaxKeyLen {
		return fmt.Errorf("scan prefix or cursor longer than %d bytes: %w", store.MaxKeyLen, store.ErrInvalidKey)
	}
	full := make([]byte, 0, len(t.data)+len(prefix))
	full = append(full, t.data...)
	full = append(full, prefix...)
	seek := full
	if after != "" && after >= prefix {
		// The least key strictly after after is after+"\x00".
		seek = make([]byte, 0, len(t.data)+len(after)+1)
		seek = append(seek, t.data...)
		seek = append(seek, after...)
		seek = append(seek, 0)
	}
	var it *badger.Iterator
	if t.scanning {
		// A Scan from inside another's fn: an iterator of its own, so as
		// not to move the outer one.
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = full
		it = t.txn.NewIterator(opts)
		defer it.Close()
	} else {
		it = t.iterator()
		t.scanning = true
		defer func() {
			t.scanning = false
			if t.stale {
				t.stale = false
				t.dropIterator()
			}
		}()
	}
	now := t.s.now()
	var buf []byte // reused: the value passed to fn is valid only during the call
	n := 0
	for it.Seek(seek); it.ValidForPrefix(full); it.Next() {
		item := it.Item()
		var err error
		buf, err = item.ValueCopy(buf[:0])
		if err != nil {
			return fmt.Errorf("badgerstore: vault %s: scan: %w", t.vault, err)
		}
		v, live, err := decodeData(buf, now)
		if err != nil {
			return fmt.Errorf("badgerstore: vault %s: scan: %w", t.vault, err)
		}
		if !live {
			continue
		}
		if err := fn(string(item.Key()[len(t.data):]), v); err != nil {
			return err
		}
		n++
		if limit > 0 && n >= limit {
			return nil
		}
	}
	return nil
}

// AppendChange writes the change row with the next sequence number and
// the incremented counter; the counter read makes concurrent appenders
// conflict, so one of them runs again.
func (t *tx) AppendChange(data []byte) (uint64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	if len(data) > store.MaxValueLen+store.ValueSlack {
		return 0, fmt.Errorf("change of %d bytes: %w", len(data), store.ErrTooLarge)
	}
	last, err := t.LastSeq()
	if err != nil {
		return 0, err
	}
	next := last + 1
	t.writePast()
	if err := t.txn.Set(changeKey(t.vault, next), encodeChange(t.s.now(), data)); err != nil {
		return 0, t.writeErr(err)
	}
	if err := t.txn.Set(seqKey(t.vault), encodeSeq(next)); err != nil {
		// The row of next is pending without its counter: this
		// transaction must not commit.
		t.broken = t.writeErr(err)
		return 0, t.broken
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
	if t.seqLoaded {
		return t.seq, nil
	}
	item, err := t.txn.Get(seqKey(t.vault))
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		t.seq = 0
	case err != nil:
		return 0, fmt.Errorf("badgerstore: vault %s: read sequence: %w", t.vault, err)
	default:
		b, err := item.ValueCopy(nil)
		if err != nil {
			return 0, fmt.Errorf("badgerstore: vault %s: read sequence: %w", t.vault, err)
		}
		if t.seq, err = decodeSeq(b); err != nil {
			return 0, fmt.Errorf("badgerstore: vault %s: %w", t.vault, err)
		}
	}
	t.seqLoaded = true
	return t.seq, nil
}

// Now returns the store's clock.
func (t *tx) Now() time.Time { return t.s.now() }
