package index

import (
	"encoding/binary"
)

// Entry is one insertion into an index: what Builder.Insert takes.
type Entry struct {
	Key, Value string
	Priority   uint32
}

// BuildPostOrder returns exactly the bytes a Builder fed these entries in this order
// would write in PostOrder (kmod 30's layout), and for each entry whether Insert would
// have reported it as a duplicate. It builds the trie from the sorted keys in one pass
// instead of inserting key by key, which is several times faster for the tens of
// thousands of keys of modules.alias.bin and modules.symbols.bin; bulk_test.go checks it
// against Builder.
func BuildPostOrder(entries []Entry) (data []byte, dups []bool, err error) {
	dups = make([]bool, len(entries))
	items := make([]keyItem, len(entries))
	vals := make([]string, len(entries))
	for i, e := range entries {
		k, v := cstring(e.Key), cstring(e.Value)
		if err := checkASCII("key", k); err != nil {
			return nil, nil, err
		}
		if err := checkASCII("value", v); err != nil {
			return nil, nil, err
		}
		items[i], vals[i] = keyItem{k, i}, v
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
			list := all[start:]
			for _, x := range list {
				if x.Value == vals[i] {
					dups[i] = true
					break
				}
			}
			// insertValue appends within all's array, which has room for every entry.
			list = insertValue(list, Value{Priority: entries[i].Priority, Value: vals[i]})
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
	root, err := b.node(0, len(b.keys), 0, true)
	if err != nil {
		return nil, nil, err
	}
	binary.BigEndian.PutUint32(b.out[8:], root)
	return b.out, dups, nil
}

// keyItem is an entry's key and its position in the input.
type keyItem struct {
	key string
	i   int
}

// sortKeys sorts items by key (bytewise), equal keys by position: a three-way radix
// quicksort (Bentley and Sedgewick), which looks at each byte of the long shared
// prefixes of modalias patterns once per level instead of once per comparison.
func sortKeys(a []keyItem, depth int) {
	for len(a) > 1 {
		if len(a) < 12 {
			for i := 1; i < len(a); i++ {
				for j := i; j > 0 && lessFrom(a[j], a[j-1], depth); j-- {
					a[j], a[j-1] = a[j-1], a[j]
				}
			}
			return
		}
		pivot := median3(byteAt(a[0].key, depth), byteAt(a[len(a)/2].key, depth), byteAt(a[len(a)-1].key, depth))
		lt, gt, i := 0, len(a), 0
		for i < gt {
			switch c := byteAt(a[i].key, depth); {
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
		sortKeys(a[:lt], depth)
		sortKeys(a[gt:], depth)
		if pivot < 0 { // the keys ended together: equal, ordered by position
			eq := a[lt:gt]
			for i := 1; i < len(eq); i++ {
				for j := i; j > 0 && eq[j].i < eq[j-1].i; j-- {
					eq[j], eq[j-1] = eq[j-1], eq[j]
				}
			}
			return
		}
		a, depth = a[lt:gt], depth+1
	}
}

func byteAt(s string, d int) int {
	if d < len(s) {
		return int(s[d])
	}
	return -1
}

func median3(a, b, c int) int {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	return max(a, b)
}

// lessFrom compares two items whose keys agree before depth.
func lessFrom(x, y keyItem, depth int) bool {
	if x.key[depth:] != y.key[depth:] {
		return x.key[depth:] < y.key[depth:]
	}
	return x.i < y.i
}

type bulk struct {
	keys []string  // sorted, distinct
	vals [][]Value // each key's values
	out  []byte
	refs []uint32 // scratch for child tables, used as a stack
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
