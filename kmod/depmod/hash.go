package depmod

import (
	"cmp"
	"slices"
)

// superFastHash is Paul Hsieh's hash as kmod's shared/hash.c computes it (hash_superfast)
// on little-endian x86, where the tail bytes are read as signed char. kmod iterates its
// hash tables bucket by bucket (hash & (buckets-1)), each bucket in strcmp order, and
// depmod's output order follows that iteration in two places: modules.symbols, and the
// modules that modules.order does not list.
func superFastHash(key string) uint32 {
	n := len(key)
	hash := uint32(n)
	rem := n & 3
	i := 0
	u16 := func(p int) uint32 { return uint32(key[p]) | uint32(key[p+1])<<8 }
	for blocks := n / 4; blocks > 0; blocks-- {
		hash += u16(i)
		tmp := (u16(i+2) << 11) ^ hash
		hash = (hash << 16) ^ tmp
		i += 4
		hash += hash >> 11
	}
	switch rem {
	case 3:
		hash += u16(i)
		hash ^= hash << 16
		hash ^= uint32(int32(int8(key[i+2])) << 18)
		hash += hash >> 11
	case 2:
		hash += u16(i)
		hash ^= hash << 11
		hash += hash >> 17
	case 1:
		hash += uint32(int32(int8(key[i])))
		hash ^= hash << 10
		hash += hash >> 1
	}
	hash ^= hash << 3
	hash += hash >> 5
	hash ^= hash << 4
	hash += hash >> 17
	hash ^= hash << 25
	hash += hash >> 6
	return hash
}

// hashOrder sorts items into the iteration order of a kmod hash table with the given
// number of buckets (a power of two): by bucket, then by strcmp of the key. Keys are
// unique (they are a hash table's keys), so each bucket is sorted on its own: a bucket
// sort, linear in the items, where one stable sort with hashing comparisons cost depmod
// several milliseconds.
func hashOrder[T any](items []T, buckets uint32, key func(T) string) {
	type entry struct {
		key  string
		item T
	}
	bucketOf := make([]uint32, len(items))
	start := make([]int, buckets+1)
	for i, it := range items {
		b := superFastHash(key(it)) & (buckets - 1)
		bucketOf[i] = b
		start[b+1]++
	}
	for b := uint32(1); b <= buckets; b++ {
		start[b] += start[b-1]
	}
	sorted := make([]entry, len(items))
	next := slices.Clone(start[:buckets])
	for i, it := range items {
		b := bucketOf[i]
		sorted[next[b]] = entry{key(it), it}
		next[b]++
	}
	for b := uint32(0); b < buckets; b++ {
		if bucket := sorted[start[b]:start[b+1]]; len(bucket) > 1 {
			slices.SortFunc(bucket, func(x, y entry) int { return cmp.Compare(x.key, y.key) })
		}
	}
	for i := range sorted {
		items[i] = sorted[i].item
	}
}
