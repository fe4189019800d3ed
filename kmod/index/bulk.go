package index

import (
	"encoding/binary"
	"fmt"
)

// Entry is one insertion into an index: what Builder.Insert takes.
type Entry struct {
	Key, Value string
	Priority   uint32
}

// BuildPostOrder is Build(entries, PostOrder): kmod 30's layout.
func BuildPostOrder(entries []Entry) (data []byte, dups []bool, err error) {
	return Build(entries, PostOrder)
}

// Build returns exactly the bytes a Builder fed these entries in this order would write
// in the given order (PostOrder for kmod 30's depmod, PreOrder for kmod 34's), and for
// each entry whether Insert would have reported it as a duplicate. It builds the trie
// from the sorted keys in one pass instead of inserting key by key, which is several
// times faster for the tens of thousands of keys of modules.alias.bin and
// modules.symbols.bin; bulk_test.go checks it against Builder.
func Build(entries []Entry, order Order) (data []byte, dups []bool, err error) {
	if order != PostOrder && order != PreOrder {
		return nil, nil, fmt.Errorf("index: unknown node order %d", order)
	}
	dups = make([]bool, len(entries))
	items := make([]keyItem, len(entries))
	for i, e := range entries {
		k := cstring(e.Key)
		if err := checkASCII("key", k); err != nil {
			return nil, nil, err
		}
		if err := checkASCII("value", cstring(e.Value)); err != nil {
			return nil, nil, err
		}
		items[i] = keyItem{key: k, i: i}
	}
	sortKeys(items, 0)
	// Each run of equal keys, in insertion order, becomes one key whose values are
	// ordered as Builder's insertions order them.
	b := bulk{keys: make([]string, 0, len(items)), vals: make([][]Value, 0, len(items))}
	all := make([]Value, 0, len(items)) // every key's values, back to back
	size := headerSize
	for lo := 0; lo < len(items); {
		hi := lo + 1
		for hi < len(items) && items[hi].key == items[lo].key {
			hi++
		}
		start := len(all)
		for j := lo; j < hi; j++ {
			i := items[j].i
			v := cstring(entries[i].Value) // cut again rather than kept for every entry
			list := all[start:]
			for _, x := range list {
				if x.Value == v {
					dups[i] = true
					break
				}
			}
			// insertValue appends within all's array, which has room for every entry.
			list = insertValue(list, Value{Priority: entries[i].Priority, Value: v})
			all = all[:start+len(list)]
		}
		list := all[start:len(all):len(all)]
		b.keys = append(b.keys, items[lo].key)
		b.vals = append(b.vals, list)
		size += len(items[lo].key) + 16
		for _, v := range list {
			size += len(v.Value) + 5
		}
		lo = hi
	}
	// size leaves out the child tables; an eighth more covers them in Debian's indexes
	// (modules.dep.bin needs 9% over size), where growing would copy the whole file.
	b.out = make([]byte, headerSize, size+size/8)
	binary.BigEndian.PutUint32(b.out[0:], Magic)
	binary.BigEndian.PutUint32(b.out[4:], Version)
	var root uint32
	if order == PreOrder {
		root, err = b.nodePre(0, len(b.keys), 0, true)
	} else {
		root, err = b.node(0, len(b.keys), 0, true)
	}
	if err != nil {
		return nil, nil, err
	}
	binary.BigEndian.PutUint32(b.out[8:], root)
	return b.out, dups, nil
}

// keyItem is an entry's key and its position in the input; chunk caches eight bytes of
// the key for sortKeys.
type keyItem struct {
	key   string
	i     int
	chunk uint64
}

// sortKeys sorts items by key (bytewise), equal keys by position. It is a three-way
// radix quicksort (Bentley and Sedgewick) that takes eight bytes at a time: each item
// caches its key's bytes depth..depth+7 as a big-endian integer (zero past the end, and
// keys hold no NUL), so a partition pass compares integers in the items array instead of
// reading one byte of each key's memory, and the long prefixes modalias patterns share
// ("pci:v00008086d0000") cost a pass per eight bytes rather than per byte. Twice as fast
// as byte at a time on Debian's modules.alias (BenchmarkSortKeys).
func sortKeys(a []keyItem, depth int) {
	for i := range a {
		a[i].chunk = chunkAt(a[i].key, depth)
	}
	sortChunks(a, depth)
}

func sortChunks(a []keyItem, depth int) {
	for len(a) > 1 {
		if len(a) < 12 {
			for i := 1; i < len(a); i++ {
				for j := i; j > 0 && lessChunk(a[j], a[j-1], depth); j-- {
					a[j], a[j-1] = a[j-1], a[j]
				}
			}
			return
		}
		pivot := median3(a[0].chunk, a[len(a)/2].chunk, a[len(a)-1].chunk)
		lt, gt, i := 0, len(a), 0
		for i < gt {
			switch c := a[i].chunk; {
			case c < pivot:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case c > pivot:
				gt--
				a[gt], a[i] = a[i], a[gt]
			default:
				i++
			}
		}
		sortChunks(a[:lt], depth)
		sortChunks(a[gt:], depth)
		eq := a[lt:gt]
		if pivot&0xff == 0 { // the keys end in this chunk, all at the same byte: equal
			for i := 1; i < len(eq); i++ {
				for j := i; j > 0 && eq[j].i < eq[j-1].i; j-- {
					eq[j], eq[j-1] = eq[j-1], eq[j]
				}
			}
			return
		}
		depth += 8
		for i := range eq {
			eq[i].chunk = chunkAt(eq[i].key, depth)
		}
		a = eq
	}
}

// lessChunk compares two items whose keys agree before depth and whose chunks are those
// at depth.
func lessChunk(x, y keyItem, depth int) bool {
	switch {
	case x.chunk != y.chunk:
		return x.chunk < y.chunk
	case x.chunk&0xff != 0 && x.key[depth+8:] != y.key[depth+8:]:
		return x.key[depth+8:] < y.key[depth+8:]
	}
	return x.i < y.i
}

// chunkAt is s[d:d+8] as a big-endian integer, zero-padded past the end of s.
func chunkAt(s string, d int) uint64 {
	if d+8 <= len(s) {
		return uint64(s[d])<<56 | uint64(s[d+1])<<48 | uint64(s[d+2])<<40 | uint64(s[d+3])<<32 |
			uint64(s[d+4])<<24 | uint64(s[d+5])<<16 | uint64(s[d+6])<<8 | uint64(s[d+7])
	}
	var v uint64
	for j := d; j < d+8; j++ {
		v <<= 8
		if j < len(s) {
			v |= uint64(s[j])
		}
	}
	return v
}

func median3(a, b, c uint64) uint64 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	return max(a, b)
}

type bulk struct {
	keys []string  // sorted, distinct
	vals [][]Value // each key's values
	out  []byte
	refs []uint32 // scratch for child tables, used as a stack
}

// shape returns what node and nodePre share about the subtree of keys[lo:hi]: the end
// of its prefix (p), the prefix, its values, and where its children's keys start.
func (b *bulk) shape(lo, hi, depth int, root bool) (p int, prefix string, value []Value, start int) {
	keys := b.keys[lo:hi]
	p = depth
	if !root && len(keys) > 0 {
		first, last := keys[0], keys[len(keys)-1]
		for p < len(first) && p < len(last) && first[p] == last[p] {
			p++
		}
	}
	if len(keys) > 0 {
		prefix = keys[0][depth:p]
	}
	start = lo
	if start < hi && len(b.keys[start]) == p {
		value = b.vals[start]
		start++
	}
	return p, prefix, value, start
}

// appendValues appends a node's value list.
func (b *bulk) appendValues(value []Value) {
	b.out = binary.BigEndian.AppendUint32(b.out, uint32(len(value)))
	for _, v := range value {
		b.out = binary.BigEndian.AppendUint32(b.out, v.Priority)
		b.out = append(b.out, v.Value...)
		b.out = append(b.out, 0)
	}
}

// nodePre writes the subtree of keys[lo:hi] as writePre does: the node first, its child
// table zeroed, then each child in byte order, whose reference is patched into the table
// once written. b.refs holds, as a stack, the children's (byte, end of range) pairs.
func (b *bulk) nodePre(lo, hi, depth int, root bool) (uint32, error) {
	p, prefix, value, start := b.shape(lo, hi, depth, root)
	base := len(b.refs)
	for s := start; s < hi; {
		ch := b.keys[s][p]
		n := s + 1
		for n < hi && b.keys[n][p] == ch {
			n++
		}
		b.refs = append(b.refs, uint32(ch), uint32(n))
		s = n
	}
	off := len(b.out)
	if err := checkOffset(off); err != nil {
		return 0, err
	}
	var flags uint32
	if prefix != "" {
		flags |= flagPrefix
		b.out = append(b.out, prefix...)
		b.out = append(b.out, 0)
	}
	table, firstCh := 0, byte(0)
	if kids := b.refs[base:]; len(kids) > 0 {
		flags |= flagChilds
		firstCh = byte(kids[0])
		lastCh := byte(kids[len(kids)-2])
		b.out = append(b.out, firstCh, lastCh)
		table = len(b.out)
		b.out = append(b.out, make([]byte, 4*(int(lastCh-firstCh)+1))...)
	}
	if len(value) > 0 {
		flags |= flagValues
		b.appendValues(value)
	}
	// Each child's subtree pushes above end and pops back to it; the stack may move as
	// it grows, so the pairs are read by index.
	end := len(b.refs)
	for i, s := base, start; i < end; i += 2 {
		ch, n := byte(b.refs[i]), int(b.refs[i+1])
		ref, err := b.nodePre(s, n, p+1, false)
		if err != nil {
			return 0, err
		}
		binary.BigEndian.PutUint32(b.out[table+4*int(ch-firstCh):], ref)
		s = n
	}
	b.refs = b.refs[:base]
	return uint32(off) | flags, nil
}

// node writes the subtree of keys[lo:hi] (sorted, sharing their first depth bytes) after
// its children, as writePost does, and returns its reference. The root keeps an empty
// prefix, as depmod's root node never takes one.
func (b *bulk) node(lo, hi, depth int, root bool) (uint32, error) {
	keys := b.keys[lo:hi]
	p := depth
	if !root && len(keys) > 0 {
		first, last := keys[0], keys[len(keys)-1]
		for p < len(first) && p < len(last) && first[p] == last[p] {
			p++
		}
	}
	prefix := ""
	if len(keys) > 0 {
		prefix = keys[0][depth:p]
	}
	var value []Value
	start := lo
	if start < hi && len(b.keys[start]) == p {
		value = b.vals[start]
		start++
	}
	// Children, one per distinct byte at p, in byte order.
	base := len(b.refs)
	var firstCh, lastCh byte
	for start < hi {
		ch := b.keys[start][p]
		n := start + 1
		for n < hi && b.keys[n][p] == ch {
			n++
		}
		if len(b.refs) == base {
			firstCh = ch
		}
		lastCh = ch
		ref, err := b.node(start, n, p+1, false)
		if err != nil {
			return 0, err
		}
		b.refs = append(b.refs, uint32(ch), ref)
		start = n
	}
	off := len(b.out)
	if err := checkOffset(off); err != nil {
		return 0, err
	}
	var flags uint32
	if prefix != "" {
		flags |= flagPrefix
		b.out = append(b.out, prefix...)
		b.out = append(b.out, 0)
	}
	if kids := b.refs[base:]; len(kids) > 0 {
		flags |= flagChilds
		b.out = append(b.out, firstCh, lastCh)
		table := len(b.out)
		b.out = append(b.out, make([]byte, 4*(int(lastCh-firstCh)+1))...)
		for i := 0; i < len(kids); i += 2 {
			binary.BigEndian.PutUint32(b.out[table+4*int(byte(kids[i])-firstCh):], kids[i+1])
		}
		b.refs = b.refs[:base]
	}
	if len(value) > 0 {
		flags |= flagValues
		b.out = binary.BigEndian.AppendUint32(b.out, uint32(len(value)))
		for _, v := range value {
			b.out = binary.BigEndian.AppendUint32(b.out, v.Priority)
			b.out = append(b.out, v.Value...)
			b.out = append(b.out, 0)
		}
	}
	return uint32(off) | flags, nil
}
