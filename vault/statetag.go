package vault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

// keyStateTag holds the vault's state tag: stateTagBytes random bytes,
// replaced by a fresh random value in the same transaction as every write
// to any other key than the few a read writes (readPathKey). Equal tags
// thus mean an unchanged vault: its keys, consents, hosting settings,
// metadata and profile fields are what they were. The host's memories of
// a vault (brandView, KeyCheck) record the tag they were made at and are
// used only while a transaction reads that same tag, which also puts the
// tag in the transaction's read set: a change committed meanwhile makes
// the transaction conflict and run again, as reading the records
// themselves would. The tag lives in the store, so another vaultd writing
// the same store (PostgreSQL) changes it exactly like this one, as long as
// it is of this version or newer: version 2 of the PostgreSQL schema keeps
// older vaultds from starting on it.
//
// Keys that expire (enrolment codes, proof jtis) change a vault without a
// write, and so without a new tag: nothing remembered may depend on them.
const keyStateTag = "m/state"

// stateTagBytes is the size of a state tag: random (from crypto/rand,
// whatever source the host is configured with), so that a tag is never
// taken again, not even by a vault erased and created anew or restored.
const stateTagBytes = 16

// stateTag is a vault's state tag; the zero value is no tag, which never
// matches.
type stateTag [stateTagBytes]byte

// readPathKey reports whether key is one a consented read writes: its
// audit entry and head, a signed checkpoint, its proof's jti. Nothing the
// host remembers depends on them, so they leave the state tag alone; this
// allow-list is the whole of the exception, so a key added later changes
// the tag unless it is added here.
func readPathKey(key string) bool {
	return key == keyAuditHead || key == keyCheckpointHead ||
		strings.HasPrefix(key, prefixAudit) || strings.HasPrefix(key, prefixCheckpoint) ||
		strings.HasPrefix(key, prefixReplay)
}

// taggedTx is the transaction every function of package vault gets: it
// keeps the vault's state tag (keyStateTag) with the writes.
type taggedTx struct {
	store.Tx
	writable bool
	// fresh: this transaction wrote a new tag that nobody has read
	// since, so a further write needs no other.
	fresh bool
}

// tagged wraps the transaction tx of a vault.
func tagged(tx store.Tx, writable bool) *taggedTx {
	return &taggedTx{Tx: tx, writable: writable}
}

// Put implements store.Tx.
func (t *taggedTx) Put(key string, value []byte) error {
	if err := t.touch(key); err != nil {
		return err
	}
	return t.Tx.Put(key, value)
}

// PutTTL implements store.Tx.
func (t *taggedTx) PutTTL(key string, value []byte, ttl time.Duration) error {
	if err := t.touch(key); err != nil {
		return err
	}
	return t.Tx.PutTTL(key, value, ttl)
}

// Delete implements store.Tx.
func (t *taggedTx) Delete(key string) error {
	if err := t.touch(key); err != nil {
		return err
	}
	return t.Tx.Delete(key)
}

// touch replaces the tag before a write to key, unless key is a read
// path's or the tag is already a fresh one.
func (t *taggedTx) touch(key string) error {
	if key == keyStateTag {
		return fmt.Errorf("%w: %s is the state tag, which only the host writes", store.ErrInvalidKey, keyStateTag)
	}
	if t.fresh || readPathKey(key) || !t.writable {
		return nil // a read-only transaction's write fails below
	}
	return t.renew()
}

// renew writes a fresh random tag.
func (t *taggedTx) renew() error {
	var tag stateTag
	if _, err := rand.Read(tag[:]); err != nil {
		return fmt.Errorf("state tag: %w", err)
	}
	if err := t.Tx.Put(keyStateTag, tag[:]); err != nil {
		return fmt.Errorf("state tag: %w", err)
	}
	t.fresh = true
	return nil
}

// stateTag returns the vault's tag as this transaction sees it: the zero
// tag, which nothing is remembered under, for a vault created before tags
// (ensureStateTag gives it one).
func (t *taggedTx) stateTag() (stateTag, error) {
	b, err := t.Tx.Get(keyStateTag)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return stateTag{}, nil
	case err != nil:
		return stateTag{}, fmt.Errorf("state tag: %w", err)
	case len(b) != stateTagBytes:
		return stateTag{}, fmt.Errorf("state tag: %d bytes stored, want %d", len(b), stateTagBytes)
	}
	// What is remembered under this tag may depend on the state as this
	// transaction sees it: a later write of the transaction needs a tag
	// of its own.
	t.fresh = false
	return stateTag(b), nil
}

// ensureStateTag gives the vault of tx a tag if it has none (tag, read in
// tx, is zero). A read calls it among its writes, after the refusals that
// must leave its transaction unwritten.
func ensureStateTag(tx store.Tx, tag stateTag) error {
	t, ok := tx.(*taggedTx)
	if !ok || tag != (stateTag{}) || !t.writable {
		return nil
	}
	return t.renew()
}

// txStateTag returns tx's state tag, or the zero tag when tx is not a
// taggedTx (nothing is then remembered or taken from memory).
func txStateTag(tx store.Tx) (stateTag, error) {
	t, ok := tx.(*taggedTx)
	if !ok {
		return stateTag{}, nil
	}
	return t.stateTag()
}
