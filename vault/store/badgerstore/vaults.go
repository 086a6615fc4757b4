package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/vrmvault/vrmvault/vault/store"
)

// purgeBatchSize is how many rows one transaction of an erase deletes:
// small enough to stay far below badger's transaction size limit with
// keys of store.MaxKeyLen, large enough to amortize the synced commit.
const purgeBatchSize = 1000

var (
	// errErasePending stops a CreateVault attempt that found the
	// tombstone of an unfinished erase of the same id.
	errErasePending = errors.New("badgerstore: erase of an earlier vault with this id is unfinished")
	// errNotErasing stops a purge whose tombstone is gone.
	errNotErasing = errors.New("badgerstore: no erase pending")
)

// CreateVault writes the marker of a new, empty vault, after finishing an
// interrupted erase of an earlier vault with the same id.
func (s *Store) CreateVault(ctx context.Context, vault string) error {
	if err := s.begin("create vault", vault); err != nil {
		return err
	}
	defer s.leave()
	unlock := s.vaultLocks.lock(vault)
	defer unlock()
	for {
		err := s.retry(ctx, "create vault "+vault, func(txn *badger.Txn) error {
			switch present, err := has(txn, markerKey(vault)); {
			case err != nil:
				return err
			case present:
				return fmt.Errorf("vault %s: %w", vault, store.ErrVaultExists)
			}
			switch present, err := has(txn, eraseKey(vault)); {
			case err != nil:
				return err
			case present:
				return errErasePending
			}
			return txn.Set(markerKey(vault), encodeMarker(s.now()))
		})
		if !errors.Is(err, errErasePending) {
			return err
		}
		if err := s.purge(vault); err != nil {
			return fmt.Errorf("create vault %s: finish erasing the earlier vault: %w", vault, err)
		}
	}
}

// EraseVault deletes the vault's marker (the vault is gone from then on)
// and then every row of the vault.
func (s *Store) EraseVault(ctx context.Context, vault string) error {
	if err := s.begin("erase vault", vault); err != nil {
		return err
	}
	defer s.leave()
	unlock := s.vaultLocks.lock(vault)
	defer unlock()
	if err := s.markErased(ctx, vault); err != nil {
		if errors.Is(err, store.ErrVaultNotFound) {
			// An earlier erase of this id may have been interrupted:
			// finish it, since the caller asks for the data to go.
			if perr := s.purge(vault); perr != nil {
				return errors.Join(err, perr)
			}
		}
		return err
	}
	if err := s.purge(vault); err != nil {
		return fmt.Errorf("erase vault %s: vault removed, but deleting its rows failed (Open or CreateVault of the id finishes it): %w", vault, err)
	}
	s.log.Info("vault erased", "vault", vault)
	return nil
}

// markErased deletes the vault's marker and writes its erase tombstone in
// one transaction. The marker write conflicts with every running
// transaction of the vault (they all read it), so none of them can commit
// after the vault is gone.
func (s *Store) markErased(ctx context.Context, vault string) error {
	return s.retry(ctx, "erase vault "+vault, func(txn *badger.Txn) error {
		if err := checkVault(txn, vault); err != nil {
			return err
		}
		if err := txn.Delete(markerKey(vault)); err != nil {
			return fmt.Errorf("badgerstore: erase vault %s: %w", vault, err)
		}
		if err := txn.Set(eraseKey(vault), encodeMarker(s.now())); err != nil {
			return fmt.Errorf("badgerstore: erase vault %s: %w", vault, err)
		}
		return nil
	})
}

// purge deletes every row of an erased vault and then its tombstone. It
// does nothing if no tombstone is present. Each batch re-reads the
// tombstone, so it can never delete a row of a vault re-created meanwhile.
// It ignores the caller's context: an erase, once begun, is finished.
func (s *Store) purge(vault string) error {
	ctx := context.Background()
	tomb := eraseKey(vault)
	for _, prefix := range [][]byte{vaultDataPrefix(vault), vaultChangePrefix(vault)} {
		for {
			var n int
			err := s.retry(ctx, "erase vault "+vault, func(txn *badger.Txn) error {
				var err error
				n, err = purgeBatch(txn, tomb, prefix)
				return err
			})
			if errors.Is(err, errNotErasing) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("badgerstore: erase vault %s: remove rows: %w", vault, err)
			}
			if n == 0 {
				break
			}
		}
	}
	err := s.retry(ctx, "erase vault "+vault, func(txn *badger.Txn) error {
		switch present, err := has(txn, tomb); {
		case err != nil:
			return err
		case !present:
			return errNotErasing
		}
		if err := txn.Delete(seqKey(vault)); err != nil {
			return err
		}
		return txn.Delete(tomb)
	})
	if errors.Is(err, errNotErasing) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("badgerstore: erase vault %s: remove tombstone: %w", vault, err)
	}
	return nil
}

// purgeBatch deletes up to purgeBatchSize rows under prefix in txn, if
// the tombstone tomb is present, and returns how many.
func purgeBatch(txn *badger.Txn, tomb, prefix []byte) (int, error) {
	switch present, err := has(txn, tomb); {
	case err != nil:
		return 0, err
	case !present:
		return 0, errNotErasing
	}
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	var keys [][]byte
	for it.Rewind(); it.ValidForPrefix(prefix) && len(keys) < purgeBatchSize; it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	for i, k := range keys {
		if err := txn.Delete(k); err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) && i > 0 {
				return i, nil // commit these; the next batch takes the rest
			}
			return 0, err
		}
	}
	return len(keys), nil
}

// finishErasures completes every erase that a crash interrupted.
func (s *Store) finishErasures() error {
	var vaults []string
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(erasePrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(opts.Prefix); it.Next() {
			vaults = append(vaults, string(it.Item().Key()[len(erasePrefix):]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list unfinished erasures: %w", err)
	}
	for _, v := range vaults {
		s.log.Warn("finishing an interrupted vault erase", "vault", v)
		if err := s.purge(v); err != nil {
			return fmt.Errorf("finish erasing vault %s: %w", v, err)
		}
	}
	return nil
}

// has reports whether key is present in txn's view.
func has(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("badgerstore: read %q: %w", key, err)
	}
}

// keyedMutex is a set of mutexes, one per key in use.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu    sync.Mutex
	users int // holders and waiters; the entry is dropped at 0
}

// lock locks key and returns its unlock function.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.users++
	k.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.users--
		if e.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
