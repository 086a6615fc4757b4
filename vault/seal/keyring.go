package seal

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/vrmvault/vrmvault/vault/store"
)

// keyringVault is the one vault of the key store that holds the wrapped
// data keys, by vault id.
const keyringVault = "keyring"

// maxCachedKeys bounds the unwrapped data keys kept in memory, so that a
// host of a million idle vaults holds only the keys in use.
const maxCachedKeys = 4096

// ErrNoDataKey is returned for a vault whose data key does not exist (it
// was never created, or was destroyed).
var ErrNoDataKey = errors.New("vault data key not found (destroyed or never created)")

// wrappedKey is the stored form of a data key.
type wrappedKey struct {
	V       int    `json:"v"`
	HostKey string `json:"kid"` // ID of the host key that wrapped it
	Wrapped []byte `json:"wrapped"`
}

// Keyring keeps each vault's data key, wrapped by the host key, in a key
// store apart from the data.
type Keyring struct {
	st   store.Store
	rand io.Reader

	mu    sync.Mutex
	host  *HostKey
	cache map[string]cipher.AEAD
}

// OpenKeyring returns the keyring kept in st (a store of its own, not the
// data store), creating it on first use.
func OpenKeyring(ctx context.Context, st store.Store, host *HostKey, random io.Reader) (*Keyring, error) {
	if random == nil {
		random = rand.Reader
	}
	if err := st.CreateVault(ctx, keyringVault); err != nil && !errors.Is(err, store.ErrVaultExists) {
		return nil, fmt.Errorf("open keyring: %w", err)
	}
	return &Keyring{st: st, rand: random, host: host, cache: map[string]cipher.AEAD{}}, nil
}

func wrapAD(vault string) []byte { return valueAD(vault, "datakey", "") }

// Create makes a new data key for vault and stores it wrapped. It fails
// if the vault already has one: a data key is never replaced.
func (k *Keyring) Create(ctx context.Context, vault string) error {
	var dk [KeySize]byte
	if _, err := io.ReadFull(k.rand, dk[:]); err != nil {
		return fmt.Errorf("data key: %w", err)
	}
	k.mu.Lock()
	host := k.host
	k.mu.Unlock()
	wrapped, err := sealWith(host.aead, k.rand, dk[:], wrapAD(vault))
	if err != nil {
		return err
	}
	rec, err := json.Marshal(wrappedKey{V: 1, HostKey: host.ID(), Wrapped: wrapped})
	if err != nil {
		return err
	}
	return k.st.Update(ctx, keyringVault, func(tx store.Tx) error {
		if _, err := tx.Get(vault); err == nil {
			return fmt.Errorf("vault %s already has a data key", vault)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(vault, rec)
	})
}

// aead returns the vault's data cipher.
func (k *Keyring) aead(ctx context.Context, vault string) (cipher.AEAD, error) {
	k.mu.Lock()
	a, ok := k.cache[vault]
	host := k.host
	k.mu.Unlock()
	if ok {
		return a, nil
	}
	var rec wrappedKey
	err := k.st.View(ctx, keyringVault, func(tx store.Tx) error {
		b, err := tx.Get(vault)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &rec)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoDataKey
	}
	if err != nil {
		return nil, fmt.Errorf("load data key: %w", err)
	}
	if rec.HostKey != host.ID() {
		return nil, fmt.Errorf("data key of vault %s is wrapped by host key %s, not the current %s", vault, rec.HostKey, host.ID())
	}
	dk, err := openWith(host.aead, rec.Wrapped, wrapAD(vault))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key of vault %s: %w", vault, err)
	}
	a, err = newAEAD(dk)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.cache) >= maxCachedKeys {
		for v := range k.cache { // evict an arbitrary entry
			delete(k.cache, v)
			break
		}
	}
	k.cache[vault] = a
	k.mu.Unlock()
	return a, nil
}

// Destroy deletes the vault's data key (crypto-shredding): from then on no
// copy of the vault's sealed data can be opened.
func (k *Keyring) Destroy(ctx context.Context, vault string) error {
	k.mu.Lock()
	delete(k.cache, vault)
	k.mu.Unlock()
	err := k.st.Update(ctx, keyringVault, func(tx store.Tx) error { return tx.Delete(vault) })
	k.mu.Lock()
	delete(k.cache, vault) // again, in case a reader cached it meanwhile
	k.mu.Unlock()
	return err
}

// Rotate re-wraps every data key with next and makes it the current host
// key. Values are not touched. It returns the number of keys re-wrapped.
// It is safe to run again after an interruption: keys already wrapped by
// next are skipped, so both keys must be given until it completes.
func (k *Keyring) Rotate(ctx context.Context, next *HostKey) (int, error) {
	k.mu.Lock()
	old := k.host
	k.mu.Unlock()
	n, after := 0, ""
	for {
		var ids []string
		err := k.st.View(ctx, keyringVault, func(tx store.Tx) error {
			return tx.Scan("", after, 500, func(key string, _ []byte) error {
				ids = append(ids, key)
				return nil
			})
		})
		if err != nil {
			return n, err
		}
		if len(ids) == 0 {
			break
		}
		err = k.st.Update(ctx, keyringVault, func(tx store.Tx) error {
			for _, id := range ids {
				b, err := tx.Get(id)
				if errors.Is(err, store.ErrNotFound) {
					continue // destroyed meanwhile
				}
				if err != nil {
					return err
				}
				var rec wrappedKey
				if err := json.Unmarshal(b, &rec); err != nil {
					return fmt.Errorf("data key of %s: %w", id, err)
				}
				if rec.HostKey == next.ID() {
					continue
				}
				dk, err := openWith(old.aead, rec.Wrapped, wrapAD(id))
				if err != nil {
					return fmt.Errorf("unwrap data key of %s: %w", id, err)
				}
				rec.Wrapped, err = sealWith(next.aead, k.rand, dk, wrapAD(id))
				if err != nil {
					return err
				}
				rec.HostKey = next.ID()
				out, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				if err := tx.Put(id, out); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		after = ids[len(ids)-1]
	}
	k.mu.Lock()
	k.host = next
	k.mu.Unlock()
	return n, nil
}
