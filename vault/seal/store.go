package seal

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/vrmvault/vrmvault/vault/store"
)

// Store is a store.Store whose vaults are sealed with their data keys.
type Store struct {
	inner  store.Store
	keys   *Keyring
	rand   io.Reader
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// New returns inner with every vault's values sealed by keys.
func New(inner store.Store, keys *Keyring) *Store {
	return &Store{inner: inner, keys: keys, rand: keys.rand}
}

// Keyring returns the keyring the store seals with.
func (s *Store) Keyring() *Keyring { return s.keys }

// CreateVault creates the vault and then its data key; if the key cannot
// be made, the vault is erased again.
func (s *Store) CreateVault(ctx context.Context, vault string) error {
	if err := s.inner.CreateVault(ctx, vault); err != nil {
		return err
	}
	if err := s.keys.Create(ctx, vault); err != nil {
		if eerr := s.inner.EraseVault(ctx, vault); eerr != nil {
			return fmt.Errorf("create data key: %w (and erase the vault again: %v)", err, eerr)
		}
		return fmt.Errorf("create data key: %w", err)
	}
	return nil
}

// EraseVault destroys the vault's data key first (crypto-shredding), then
// erases its rows.
func (s *Store) EraseVault(ctx context.Context, vault string) error {
	if err := s.check(vault); err != nil {
		return err
	}
	if err := s.keys.Destroy(ctx, vault); err != nil {
		return fmt.Errorf("destroy data key: %w", err)
	}
	return s.inner.EraseVault(ctx, vault)
}

// ListVaults lists the vaults of the inner store.
func (s *Store) ListVaults(ctx context.Context, after string, limit int) ([]string, error) {
	return s.inner.ListVaults(ctx, after, limit)
}

// check refuses an invalid vault id, and every call after Close, as the
// engines do, before the keyring is asked.
func (s *Store) check(vault string) error {
	if !store.ValidVaultID(vault) {
		return store.ErrInvalidKey
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

func (s *Store) cipherFor(ctx context.Context, vault string) (cipher.AEAD, error) {
	a, err := s.keys.aead(ctx, vault)
	if errors.Is(err, ErrNoDataKey) {
		// A vault without its data key is gone for every purpose: it was
		// destroyed (its rows may still be on their way out).
		return nil, store.ErrVaultNotFound
	}
	return a, err
}

// View runs fn in a read-only transaction that opens values as it reads.
func (s *Store) View(ctx context.Context, vault string, fn func(store.Tx) error) error {
	if err := s.check(vault); err != nil {
		return err
	}
	a, err := s.cipherFor(ctx, vault)
	if err != nil {
		return err
	}
	return s.inner.View(ctx, vault, func(tx store.Tx) error { return fn(&sealedTx{inner: tx, aead: a, vault: vault, rand: s.rand}) })
}

// Update runs fn in a read-write transaction that seals values as it
// writes them.
func (s *Store) Update(ctx context.Context, vault string, fn func(store.Tx) error) error {
	if err := s.check(vault); err != nil {
		return err
	}
	a, err := s.cipherFor(ctx, vault)
	if err != nil {
		return err
	}
	return s.inner.Update(ctx, vault, func(tx store.Tx) error { return fn(&sealedTx{inner: tx, aead: a, vault: vault, rand: s.rand}) })
}

// Changes returns the vault's change rows, opened.
func (s *Store) Changes(ctx context.Context, vault string, after uint64, limit int) ([]store.Change, error) {
	if err := s.check(vault); err != nil {
		return nil, err
	}
	a, err := s.cipherFor(ctx, vault)
	if err != nil {
		return nil, err
	}
	rows, err := s.inner.Changes(ctx, vault, after, limit)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		plain, err := openWith(a, rows[i].Data, valueAD(vault, "change", ""))
		if err != nil {
			return nil, fmt.Errorf("change %d of vault %s: %w", rows[i].Seq, vault, err)
		}
		rows[i].Data = plain
	}
	return rows, nil
}

// Wait passes through: hints carry no data.
func (s *Store) Wait(ctx context.Context, vault string, after uint64) error {
	return s.inner.Wait(ctx, vault, after)
}

// Close closes the inner store; the key store is closed by its owner.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.inner.Close()
}

// sealedTx seals on write and opens on read.
type sealedTx struct {
	inner store.Tx
	aead  cipher.AEAD
	vault string
	rand  io.Reader
}

func (t *sealedTx) open(key string, sealed []byte) ([]byte, error) {
	plain, err := openWith(t.aead, sealed, valueAD(t.vault, "value", key))
	if err != nil {
		return nil, fmt.Errorf("vault %s key %q: %w", t.vault, key, err)
	}
	return plain, nil
}

func (t *sealedTx) seal(key string, plain []byte) ([]byte, error) {
	if len(plain) > store.MaxValueLen {
		return nil, store.ErrTooLarge
	}
	return sealWith(t.aead, t.rand, plain, valueAD(t.vault, "value", key))
}

func (t *sealedTx) Get(key string) ([]byte, error) {
	b, err := t.inner.Get(key)
	if err != nil {
		return nil, err
	}
	return t.open(key, b)
}

func (t *sealedTx) Put(key string, value []byte) error {
	sealed, err := t.seal(key, value)
	if err != nil {
		return err
	}
	return t.inner.Put(key, sealed)
}

func (t *sealedTx) PutTTL(key string, value []byte, ttl time.Duration) error {
	sealed, err := t.seal(key, value)
	if err != nil {
		return err
	}
	return t.inner.PutTTL(key, sealed, ttl)
}

func (t *sealedTx) Delete(key string) error { return t.inner.Delete(key) }

func (t *sealedTx) Scan(prefix, after string, limit int, fn func(key string, value []byte) error) error {
	return t.inner.Scan(prefix, after, limit, func(key string, value []byte) error {
		plain, err := t.open(key, value)
		if err != nil {
			return err
		}
		return fn(key, plain)
	})
}

func (t *sealedTx) AppendChange(data []byte) (uint64, error) {
	sealed, err := sealWith(t.aead, t.rand, data, valueAD(t.vault, "change", ""))
	if err != nil {
		return 0, err
	}
	return t.inner.AppendChange(sealed)
}

func (t *sealedTx) LastSeq() (uint64, error) { return t.inner.LastSeq() }

func (t *sealedTx) Now() time.Time { return t.inner.Now() }
