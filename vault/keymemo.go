package vault

import (
	"bytes"
	"errors"
	"hash/maphash"
	"sync"

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
// resolved. A call admitted with a KeyCheck (Caller.Key) is so decided on
// exactly the state its transaction commits on, however old the
// resolution it was admitted with.
type KeyCheck struct {
	jkt     string
	role    string
	record  []byte // the key's record (prefixOwner or prefixBrand + jkt)
	hosting []byte // keyHosting's bytes; nil when absent
}

// confirm returns ErrKeyChanged unless tx holds the records k was made
// from, unchanged.
func (k *KeyCheck) confirm(tx store.Tx) error {
	own, other := prefixOwner, prefixBrand
	if k.role == audit.RoleBrand {
		own, other = prefixBrand, prefixOwner
	}
	b, err := tx.Get(own + k.jkt)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrKeyChanged
	case err != nil:
		return err
	case !bytes.Equal(b, k.record):
		return ErrKeyChanged
	}
	// A key of both roles resolves as an owner; a brand's key that
	// became an owner's must be resolved again.
	if k.role == audit.RoleBrand {
		switch _, err := tx.Get(other + k.jkt); {
		case err == nil:
			return ErrKeyChanged
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	h, err := tx.Get(keyHosting)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h = nil
	case err != nil:
		return err
	}
	if !bytes.Equal(h, k.hosting) {
		return ErrKeyChanged
	}
	return nil
}

// confirmCallerKey confirms c.Key in tx, if c has one.
func confirmCallerKey(tx store.Tx, c Caller) error {
	if c.Key == nil {
		return nil
	}
	return c.Key.confirm(tx)
}

// keyMemo remembers the keys a vault's KeyResolver resolved, so that a
// call admitted through ResolveMemo checks its proof without a
// transaction of its own (which would also wait for the commits under
// way). What it holds is never trusted alone: the call's transaction
// confirms it (KeyCheck). It is bounded (entries per shard) and evicts an
// arbitrary entry when full; a stale entry costs one failed attempt.
type keyMemo struct {
	seed   maphash.Seed
	shards [keyMemoShards]keyMemoShard
}

const (
	keyMemoShards   = 16
	keyMemoShardMax = 1024 // entries per shard: 16,384 in all
)

type keyMemoShard struct {
	mu sync.Mutex
	m  map[keyMemoID]memoKey
}

type keyMemoID struct{ vault, jkt string }

// memoKey is one resolved key and what it was resolved with. The keys of
// a suspended vault are not remembered, so a remembered key's vault was
// not suspended (its KeyCheck confirms it still is not).
type memoKey struct {
	key   consent.PublicKey
	check *KeyCheck
	quota Quota
}

func newKeyMemo() *keyMemo { return &keyMemo{seed: maphash.MakeSeed()} }

func (m *keyMemo) shard(id keyMemoID) *keyMemoShard {
	return &m.shards[maphash.String(m.seed, id.vault+"/"+id.jkt)%keyMemoShards]
}

func (m *keyMemo) get(id keyMemoID) (memoKey, bool) {
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[id]
	return e, ok
}

func (m *keyMemo) put(id keyMemoID, e memoKey) {
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[keyMemoID]memoKey)
	}
	if _, ok := sh.m[id]; !ok && len(sh.m) >= keyMemoShardMax {
		for k := range sh.m { // an arbitrary entry: map order is random
			delete(sh.m, k)
			break
		}
	}
	sh.m[id] = e
}

func (m *keyMemo) forget(id keyMemoID) {
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.m, id)
}

// ForgetKey drops what the host remembers of the key jkt of the vault,
// so that the next call resolves it from the store (after ErrKeyChanged).
func (h *Host) ForgetKey(vaultID, jkt string) { h.keys.forget(keyMemoID{vaultID, jkt}) }
