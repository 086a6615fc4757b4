package vault

import (
	"bytes"
	"errors"
	"hash/maphash"

	"github.com/vrmvault/vrmvault/consent"
	"github.com/vrmvault/vrmvault/vault/audit"
	"github.com/vrmvault/vrmvault/vault/store"
)

// ErrKeyChanged is returned by a call whose caller was admitted with a
// key (or hosting settings) that its own transaction found changed since:
// the caller must be admitted again from the store.
var ErrKeyChanged = errors.New("the caller's key or the vault's hosting settings changed during the call")

// KeyCheck is what a call's own transaction reads again to confirm the
// key its proof was checked with: the bytes of the key's record, that the
// key has no record of the other role, and the bytes of the vault's
// hosting settings (suspension, quota) as they were when the key was
// resolved, at the vault's state tag then. While the tag is the same,
// none of them changed, and reading the tag is the whole confirmation. A
// call admitted with a KeyCheck (Caller.Key) is so decided on exactly the
// state its transaction commits on, however old the resolution it was
// admitted with.
type KeyCheck struct {
	jkt     string
	role    string
	record  []byte   // the key's record (prefixOwner or prefixBrand + jkt)
	hosting []byte   // keyHosting's bytes; nil when absent
	tag     stateTag // the vault's state tag they were read at; zero: none
}

// confirm returns ErrKeyChanged unless tx, whose state tag is tag, holds
// the records k was made from, unchanged. It returns true when it had to
// read the records (the tag had changed) and found them unchanged: k
// then holds at tag too.
func (k *KeyCheck) confirm(tx store.Tx, tag stateTag) (bool, error) {
	if tag != (stateTag{}) && tag == k.tag {
		return false, nil
	}
	own, other := prefixOwner, prefixBrand
	if k.role == audit.RoleBrand {
		own, other = prefixBrand, prefixOwner
	}
	b, err := tx.Get(own + k.jkt)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, ErrKeyChanged
	case err != nil:
		return false, err
	case !bytes.Equal(b, k.record):
		return false, ErrKeyChanged
	}
	// A key of both roles resolves as an owner; a brand's key that
	// became an owner's must be resolved again.
	if k.role == audit.RoleBrand {
		switch _, err := tx.Get(other + k.jkt); {
		case err == nil:
			return false, ErrKeyChanged
		case !errors.Is(err, store.ErrNotFound):
			return false, err
		}
	}
	h, err := tx.Get(keyHosting)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h = nil
	case err != nil:
		return false, err
	}
	if !bytes.Equal(h, k.hosting) {
		return false, ErrKeyChanged
	}
	return tag != (stateTag{}), nil
}

// confirmCallerKey confirms c.Key in tx, whose state tag is tag, if c has
// one; see KeyCheck.confirm.
func confirmCallerKey(tx store.Tx, c Caller, tag stateTag) (bool, error) {
	if c.Key == nil {
		return false, nil
	}
	return c.Key.confirm(tx, tag)
}

// retagKey remembers that the caller key check k, which a committed
// transaction confirmed at the vault's state tag tag by reading its
// records, holds at tag: the key's next calls confirm it by the tag alone.
func (h *Host) retagKey(vaultID string, k *KeyCheck, tag stateTag) {
	h.keys.replace(memoID{vaultID, k.jkt}, func(e memoKey) (memoKey, bool) {
		if e.check != k {
			return e, false // resolved again meanwhile
		}
		check := *k
		check.tag = tag
		e.check = &check
		return e, true
	})
}

// memo is a host's bounded memory of something per vault and key
// thumbprint (resolved keys, brand views). What it holds is never trusted
// alone: a call's transaction confirms it against the vault's state
// (KeyCheck, brandView), so a lost or stale entry costs work, never a
// wrong answer. Values are shared between callers and must not be
// modified.
type memo[V any] struct {
	*boundedMap[memoID, V]
}

// memoID names a key of a vault.
type memoID struct{ vault, jkt string }

func newMemo[V any](perShard int) memo[V] {
	seed := maphash.MakeSeed()
	return memo[V]{newBoundedMap[memoID, V](perShard, func(id memoID) uint64 { return maphash.Comparable(seed, id) })}
}

// forgetVault drops every entry of the vault.
func (m memo[V]) forgetVault(vault string) {
	m.forgetWhere(func(id memoID) bool { return id.vault == vault })
}

// keyMemoShardMax bounds the keys a host remembers: 16,384 in all. A
// remembered key lets a call admitted through KeyResolver.MemoRole check
// its proof without a transaction of its own (which would also wait for
// the commits under way).
const keyMemoShardMax = 1024

// memoKey is one resolved key and what it was resolved with. The keys of
// a suspended vault are not remembered, so a remembered key's vault was
// not suspended (its KeyCheck confirms it still is not).
type memoKey struct {
	key   consent.PublicKey
	check *KeyCheck
	quota Quota
}

// ForgetKey drops what the host remembers of the key jkt of the vault,
// so that the next call resolves it from the store (after ErrKeyChanged).
func (h *Host) ForgetKey(vaultID, jkt string) { h.keys.forget(memoID{vaultID, jkt}) }
