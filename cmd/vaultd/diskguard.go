package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/vrmvault/vrmvault/vault/store"
)

// DefaultMinFreeDisk is the free space --min-free-disk-bytes keeps on the
// disks of the badger stores by default.
//
// badger writes through memory-mapped files that it grows sparsely: when
// the disk is full, a write into them is not an error but a SIGBUS, which
// kills vaultd. So vaultd must stop writing while there is still room for
// what badger writes on its own: the memtables waiting to be flushed (3
// of 32 MiB) and the tables a compaction writes before it deletes their
// inputs.
const DefaultMinFreeDisk = 256 << 20

// diskGuard is the store as vaultd serves it on badger: it refuses writes
// with store.ErrNoSpace while the data or key directory's disk has less
// than reserve bytes free, before badger is asked to write:
//
//   - below reserve, a transaction that appends to the change feed (a
//     change of the vault's state: profile, requests, consents, owner
//     keys) or creates a vault is refused; the small bookkeeping writes of
//     other calls (a proof's replay entry, an audit entry, a delivery
//     cursor) go on, so that reads are still served;
//   - below half the reserve, every write is refused (and so are reads,
//     which cannot record their proof).
//
// Space is measured at every write (a statfs call each); the guard logs
// when it starts and stops refusing.
type diskGuard struct {
	store.Store
	dirs    []string
	reserve int64
	log     *slog.Logger
	free    func(dir string) (int64, error)
	low     atomic.Bool // refusing since the last log line
}

// guardDisk returns st guarded for the disks of dirs; a reserve of 0 or
// less turns the guard off.
func guardDisk(st store.Store, dirs []string, reserve int64, log *slog.Logger) store.Store {
	if reserve <= 0 {
		return st
	}
	return &diskGuard{Store: st, dirs: dirs, reserve: reserve, log: log, free: freeBytes}
}

// freeBytes returns the bytes of dir's file system available to vaultd.
func freeBytes(dir string) (int64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(fs.Bavail) * int64(fs.Bsize), nil
}

// room returns the least free space of the guarded disks and the
// directory it is on. A disk that cannot be measured counts as full:
// refusing a write is safe, a SIGBUS is not.
func (g *diskGuard) room() (int64, string, error) {
	least, where := int64(-1), ""
	for _, d := range g.dirs {
		n, err := g.free(d)
		if err != nil {
			return 0, d, err
		}
		if least < 0 || n < least {
			least, where = n, d
		}
	}
	return least, where, nil
}

// check returns nil if the disks have need bytes free, else an error
// wrapping store.ErrNoSpace that names the disk.
func (g *diskGuard) check(need int64) error {
	free, dir, err := g.room()
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", store.ErrNoSpace, err)
	case free < need:
		return fmt.Errorf("%w: %s has %d MiB free, less than the %d MiB kept free (--min-free-disk-bytes)",
			store.ErrNoSpace, dir, free>>20, need>>20)
	}
	return nil
}

// checkChange checks that a change of state may be written (the whole
// reserve is free), and logs when that starts or stops being so, not at
// every refused write.
func (g *diskGuard) checkChange() error {
	err := g.check(g.reserve)
	if low := err != nil; g.low.Swap(low) != low {
		if low {
			g.log.Error("disk nearly full: refusing writes until space is freed", "error", err)
		} else {
			g.log.Warn("disk space recovered: writes accepted again")
		}
	}
	return err
}

// CreateVault refuses a new vault on a nearly full disk.
func (g *diskGuard) CreateVault(ctx context.Context, vault string) error {
	if err := g.checkChange(); err != nil {
		return fmt.Errorf("create vault %s: %w", vault, err)
	}
	return g.Store.CreateVault(ctx, vault)
}

// Update runs fn unguarded while the disk has room; short of it, fn runs
// on a transaction whose AppendChange is refused, and below half the
// reserve not at all.
func (g *diskGuard) Update(ctx context.Context, vault string, fn func(store.Tx) error) error {
	low := g.checkChange()
	if low == nil {
		return g.Store.Update(ctx, vault, fn)
	}
	if err := g.check(g.reserve / 2); err != nil {
		return fmt.Errorf("vault %s: %w", vault, err)
	}
	return g.Store.Update(ctx, vault, func(tx store.Tx) error {
		gt := &guardedTx{Tx: tx, low: low}
		if err := fn(gt); err != nil {
			return err
		}
		// Refused even if fn went on regardless: nothing of it commits.
		return gt.refused
	})
}

// guardedTx is a transaction on a nearly full disk: it refuses changes of
// the vault's state.
type guardedTx struct {
	store.Tx
	low     error // why: the disk and its free space
	refused error
}

// AppendChange refuses the change.
func (t *guardedTx) AppendChange([]byte) (uint64, error) {
	t.refused = t.low
	return 0, t.low
}

// badgerDirs returns the directories of vaultd's badger stores, for the
// guard: the data store and the key store.
func badgerDirs(o options) []string {
	keys := o.keysDir
	if keys == "" {
		keys = filepath.Join(o.data, "keys")
	}
	return []string{filepath.Join(o.data, "data"), keys}
}

// checkDiskAtStart refuses to open the badger stores on a disk with less
// than half the reserve free: opening writes (a probe of the change
// subscription, the vault's first records), and a write that finds the
// disk full kills the process with SIGBUS instead of failing. A directory
// that does not exist yet is measured at its closest existing parent.
func checkDiskAtStart(dirs []string, reserve int64) error {
	if reserve <= 0 {
		return nil
	}
	g := &diskGuard{reserve: reserve, free: func(dir string) (int64, error) {
		for {
			if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
				return freeBytes(dir)
			}
			dir = filepath.Dir(dir)
		}
	}}
	g.dirs = dirs
	if err := g.check(reserve / 2); err != nil {
		return fmt.Errorf("not enough disk space to start: %w; free some space first", err)
	}
	return nil
}
