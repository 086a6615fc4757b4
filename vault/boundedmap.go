package vault

import "sync"

// boundedMap is a map safe for concurrent use that holds at most a fixed
// number of entries: the host's memories (memo, decodeCache) are built on
// it. It is sharded by a hash of the key, so that concurrent calls seldom
// wait on one lock, and a full shard evicts an arbitrary entry to make
// room, so that whatever callers ask, memory stays bounded.
type boundedMap[K comparable, V any] struct {
	hash   func(K) uint64
	max    int // entries per shard
	shards [boundedShards]boundedShard[K, V]
}

// boundedShards is the number of shards of a boundedMap.
const boundedShards = 16

type boundedShard[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

// newBoundedMap returns a map of at most boundedShards × perShard
// entries, sharded by hash.
func newBoundedMap[K comparable, V any](perShard int, hash func(K) uint64) *boundedMap[K, V] {
	return &boundedMap[K, V]{hash: hash, max: perShard}
}

func (b *boundedMap[K, V]) shard(k K) *boundedShard[K, V] {
	return &b.shards[b.hash(k)%boundedShards]
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	sh := b.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[k]
	return v, ok
}

func (b *boundedMap[K, V]) put(k K, v V) {
	sh := b.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[K]V)
	}
	if _, ok := sh.m[k]; !ok && len(sh.m) >= b.max {
		for old := range sh.m { // an arbitrary entry: map order is random
			delete(sh.m, old)
			break
		}
	}
	sh.m[k] = v
}

// replace sets k's entry, if it has one, to what change makes of it,
// unless change declines.
func (b *boundedMap[K, V]) replace(k K, change func(V) (V, bool)) {
	sh := b.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[k]; ok {
		if v, ok := change(old); ok {
			sh.m[k] = v
		}
	}
}

func (b *boundedMap[K, V]) forget(k K) {
	sh := b.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.m, k)
}

// forgetWhere drops every entry whose key match accepts, scanning every
// shard.
func (b *boundedMap[K, V]) forgetWhere(match func(K) bool) {
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for k := range sh.m {
			if match(k) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// len returns the number of entries.
func (b *boundedMap[K, V]) len() int {
	n := 0
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
