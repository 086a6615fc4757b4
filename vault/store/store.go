// Package store is the storage boundary of a vrmvault host: a small
// transactional key-value interface scoped to one vault at a time.
//
// Every engine (badger, the embedded default; a distributed engine later)
// implements Store and passes the conformance suite in package storetest,
// which is the executable form of the contract written on these types.
//
// Keys inside a transaction are relative to the vault: an engine keeps each
// vault's keys under its own prefix (badger: "v/<vault>/<key>"), so a
// transaction of one vault can neither see nor touch another vault's data.
// The layout of keys within a vault belongs to the caller (package vault).
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every engine. Callers compare with errors.Is.
var (
	// ErrNotFound is returned by Tx.Get when the key is absent (or expired).
	ErrNotFound = errors.New("store: not found")
	// ErrVaultNotFound is returned when the vault has not been created, or
	// has been erased.
	ErrVaultNotFound = errors.New("store: vault not found")
	// ErrVaultExists is returned by CreateVault for an id already in use.
	ErrVaultExists = errors.New("store: vault already exists")
	// ErrConflict is returned by Update when concurrent transactions kept
	// conflicting with this one after the engine's bounded retries.
	ErrConflict = errors.New("store: transaction conflict")
	// ErrReadOnly is returned by a write method on a transaction opened
	// with View.
	ErrReadOnly = errors.New("store: read-only transaction")
	// ErrInvalidKey is returned for an empty key, a key longer than
	// MaxKeyLen, or a vault id that does not satisfy ValidVaultID.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrTooLarge is returned for a value longer than MaxValueLen (plus
	// ValueSlack, for an engine) or a
	// transaction that exceeds the engine's size limits.
	ErrTooLarge = errors.New("store: value or transaction too large")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrNoSpace is returned for a write refused because the disk under
	// the store is (nearly) full. Nothing of the write is stored; it may
	// succeed once space is freed.
	ErrNoSpace = errors.New("store: out of disk space")
)

// Limits every engine enforces.
const (
	// MaxVaultIDLen is the longest vault id accepted.
	MaxVaultIDLen = 64
	// MaxKeyLen is the longest key (relative to the vault) accepted.
	MaxKeyLen = 1024
	// MaxValueLen is the longest value a caller may store.
	MaxValueLen = 1 << 20
	// ValueSlack is headroom engines allow above MaxValueLen, so that a
	// wrapper adding a fixed overhead to each value (package seal: nonce
	// and tag) can still accept MaxValueLen from its own callers. Engines
	// refuse values longer than MaxValueLen+ValueSlack; callers must not
	// rely on the slack.
	ValueSlack = 64
	// MaxChangesPerCall bounds the limit argument of Changes.
	MaxChangesPerCall = 1000
)

// ValidVaultID reports whether id may name a vault: 1 to MaxVaultIDLen
// characters from [A-Za-z0-9_-]. Engines refuse other ids with
// ErrInvalidKey, so a vault id can never smuggle a key separator.
func ValidVaultID(id string) bool {
	if len(id) == 0 || len(id) > MaxVaultIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Change is one row of a vault's change feed (a transactional outbox): it
// is written in the same transaction as the data it describes and is
// visible exactly when that transaction commits.
type Change struct {
	// Seq is the vault's sequence number of the change: the first change
	// of a vault has Seq 1, and each later one the next integer, with no
	// gaps and no duplicates, in commit order.
	Seq uint64
	// Time is the engine's clock when the change was appended.
	Time time.Time
	// Data is the caller's payload, opaque to the store.
	Data []byte
}

// Store is a host's storage: many vaults in one engine.
//
// All methods are safe for concurrent use. Writes acknowledged by Update,
// CreateVault and EraseVault are durable: they survive a crash of the
// process (kill -9) the moment the method returns nil.
type Store interface {
	// CreateVault makes an empty vault with the given id. It returns
	// ErrVaultExists if the id is taken and ErrInvalidKey if the id is not
	// ValidVaultID.
	CreateVault(ctx context.Context, vault string) error

	// EraseVault removes every key, change row and TTL entry of the
	// vault. Afterwards the vault behaves as never created
	// (ErrVaultNotFound), and its id may be created again, starting from
	// an empty state and sequence 0. It returns ErrVaultNotFound if the
	// vault does not exist. Open Wait calls for the vault return.
	EraseVault(ctx context.Context, vault string) error

	// ListVaults returns up to limit vault ids in ascending byte order,
	// starting strictly after the id after ("" for the first page).
	ListVaults(ctx context.Context, after string, limit int) ([]string, error)

	// View runs fn in a read-only transaction of the vault: a consistent
	// snapshot. Write methods of the Tx return ErrReadOnly. It returns
	// ErrVaultNotFound if the vault does not exist, otherwise what fn
	// returns (unwrapped by the engine).
	View(ctx context.Context, vault string, fn func(Tx) error) error

	// Update runs fn in a read-write transaction of the vault and commits
	// it if fn returns nil; if fn returns an error nothing of it is
	// written and that error is returned. Transactions are serializable
	// per vault: when a concurrent commit conflicts with what fn read, the
	// engine runs fn again on a fresh snapshot (so fn must have no effect
	// outside the Tx), up to a bounded number of attempts, then returns
	// ErrConflict. It returns ErrVaultNotFound if the vault does not
	// exist. A nil return means the commit is durable.
	Update(ctx context.Context, vault string, fn func(Tx) error) error

	// Changes returns up to limit change rows of the vault with Seq
	// strictly greater than after, in ascending Seq order. limit must be
	// between 1 and MaxChangesPerCall. It returns ErrVaultNotFound if the
	// vault does not exist.
	Changes(ctx context.Context, vault string, after uint64, limit int) ([]Change, error)

	// Wait blocks until the vault's latest change Seq may be greater than
	// after, or ctx is done (then it returns ctx.Err()). It is a hint only:
	// it may return early or spuriously, so a caller always re-reads with
	// Changes from its cursor; it never misses a change that committed
	// before or during the call. It returns ErrVaultNotFound if the vault
	// does not exist or is erased while waiting.
	Wait(ctx context.Context, vault string, after uint64) error

	// Close releases the engine. Methods called after Close return
	// ErrClosed; Close waits for running transactions and Wait calls to
	// end (Wait calls return ErrClosed).
	Close() error
}

// Tx is one transaction on one vault. Keys are relative to the vault. A Tx
// must not be used after the function it was passed to returns, and is not
// safe for concurrent use.
type Tx interface {
	// Get returns a copy of the value stored at key, or ErrNotFound.
	Get(key string) ([]byte, error)

	// Put stores value at key, replacing any earlier value and TTL.
	Put(key string, value []byte) error

	// PutTTL stores value at key; after ttl has passed the key reads as
	// absent (ErrNotFound, and not returned by Scan). ttl must be positive.
	PutTTL(key string, value []byte, ttl time.Duration) error

	// Delete removes key. Deleting an absent key is not an error.
	Delete(key string) error

	// Scan calls fn for each key that starts with prefix and sorts
	// strictly after after ("" to start at the prefix), in ascending byte
	// order, as seen by this transaction (including its own writes). It
	// stops after limit keys (limit <= 0 means no limit), or when fn
	// returns an error, which Scan then returns. The key passed to fn is
	// the full relative key; key and value are valid only during the call.
	Scan(prefix, after string, limit int, fn func(key string, value []byte) error) error

	// AppendChange adds a row to the vault's change feed with the next
	// sequence number and returns it. The row becomes visible to Changes
	// when the transaction commits; if it does not commit, the number is
	// not used.
	AppendChange(data []byte) (uint64, error)

	// LastSeq returns the Seq of the vault's latest change as seen by this
	// transaction (0 for none), including a change appended by it.
	LastSeq() (uint64, error)

	// Now returns the engine's clock, as used for Change.Time and TTLs.
	Now() time.Time
}
