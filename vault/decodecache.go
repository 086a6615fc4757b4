package vault

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// decodeCache remembers what stored records decoded to, by their bytes:
// the hot paths read the same few records (keys, consents, hosting
// settings, vault metadata) on every call, and decoding them (JSON, JWK
// parsing with a SHA-256 thumbprint, scope parsing) cost more than the
// rest of a read. The record is still read from the store in the call's
// own transaction every time; only its decoding is skipped when its bytes
// are exactly those decoded before. A cached value is thus a pure function
// of bytes the store returned just now, so nothing needs invalidating:
// a changed record has other bytes, and another process writing the same
// store (PostgreSQL) is seen like this one.
//
// (A consented read goes further: while the vault's state tag is
// unchanged, it takes what it needs from a brandView without reading the
// records at all.)
//
// The cache is bounded (entries per shard) and evicts an arbitrary entry
// when full. Values are shared between callers and must not be modified.
type decodeCache[T any] struct {
	seed   maphash.Seed
	shards [decodeCacheShards]decodeShard[T]
}

const (
	decodeCacheShards   = 16
	decodeCacheShardMax = 1024 // entries per shard: 16,384 in all
	// decodeCacheMaxRecord is the largest record cached; bigger ones are
	// decoded every time.
	decodeCacheMaxRecord = 16 << 10
)

type decodeShard[T any] struct {
	mu sync.Mutex
	m  map[uint64]decodedRecord[T]
}

type decodedRecord[T any] struct {
	raw []byte
	val T
}

func newDecodeCache[T any]() *decodeCache[T] {
	return &decodeCache[T]{seed: maphash.MakeSeed()}
}

// decode returns decode(raw), from the cache when raw was decoded before.
// Errors are not cached. A nil cache decodes every time.
func (c *decodeCache[T]) decode(raw []byte, decode func([]byte) (T, error)) (T, error) {
	if c == nil || len(raw) > decodeCacheMaxRecord {
		return decode(raw)
	}
	sum := maphash.Bytes(c.seed, raw)
	sh := &c.shards[sum%decodeCacheShards]
	sh.mu.Lock()
	e, ok := sh.m[sum]
	sh.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.val, nil
	}
	v, err := decode(raw)
	if err != nil {
		return v, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[uint64]decodedRecord[T])
	}
	if len(sh.m) >= decodeCacheShardMax {
		for k := range sh.m { // an arbitrary entry: map order is random
			delete(sh.m, k)
			break
		}
	}
	sh.m[sum] = decodedRecord[T]{raw: bytes.Clone(raw), val: v}
	return v, nil
}

// recordCaches are a host's decode caches, one per record kind.
type recordCaches struct {
	owners   *decodeCache[OwnerKey]
	brands   *decodeCache[brandKey]
	consents *decodeCache[parsedConsent]
	hosting  *decodeCache[Hosting]
	meta     *decodeCache[metaRecord]
	fields   *decodeCache[StoredField] // without Path: it is not in the record
}

func newRecordCaches() recordCaches {
	return recordCaches{
		owners:   newDecodeCache[OwnerKey](),
		brands:   newDecodeCache[brandKey](),
		consents: newDecodeCache[parsedConsent](),
		hosting:  newDecodeCache[Hosting](),
		meta:     newDecodeCache[metaRecord](),
		fields:   newDecodeCache[StoredField](),
	}
}
