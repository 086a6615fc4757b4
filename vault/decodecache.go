package vault

import (
	"bytes"
	"hash/maphash"
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
	seed    maphash.Seed
	records *boundedMap[uint64, decodedRecord[T]] // by maphash of the bytes
}

const (
	// decodeCacheShardMax bounds the entries of a shard: 16,384 in all.
	decodeCacheShardMax = 1024
	// decodeCacheMaxRecord is the largest record cached; bigger ones are
	// decoded every time.
	decodeCacheMaxRecord = 16 << 10
)

type decodedRecord[T any] struct {
	raw []byte
	val T
}

func newDecodeCache[T any]() *decodeCache[T] {
	return &decodeCache[T]{
		seed:    maphash.MakeSeed(),
		records: newBoundedMap[uint64, decodedRecord[T]](decodeCacheShardMax, func(sum uint64) uint64 { return sum }),
	}
}

// decode returns decode(raw), from the cache when raw was decoded before.
// Errors are not cached. A nil cache decodes every time.
func (c *decodeCache[T]) decode(raw []byte, decode func([]byte) (T, error)) (T, error) {
	if c == nil || len(raw) > decodeCacheMaxRecord {
		return decode(raw)
	}
	sum := maphash.Bytes(c.seed, raw)
	if e, ok := c.records.get(sum); ok && bytes.Equal(e.raw, raw) {
		return e.val, nil
	}
	v, err := decode(raw)
	if err != nil {
		return v, err
	}
	c.records.put(sum, decodedRecord[T]{raw: bytes.Clone(raw), val: v})
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
