package index

import (
	"encoding/binary"
	"slices"
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
	vals := make(map[string][]Value, len(entries))
	keys := make([]string, 0, len(entries))
	for i, e := range entries {
		k, v := cstring(e.Key), cstring(e.Value)
		if err := checkASCII("key", k); err != nil {
			return nil, nil, err
		}
		if err := checkASCII("value", v); err != nil {
			return nil, nil, err
		}
		list, seen := vals[k]
		if !seen {
			keys = append(keys, k)
		}
		for _, x := range list {
			if x.Value == v {
				dups[i] = true
				break
			}
		}
		vals[k] = insertValue(list, Value{Priority: e.Priority, Value: v})
	}
	slices.Sort(keys)
	size := headerSize
	for _, k := range keys {
		size += len(k) + 16
		for _, v := range vals[k] {
			size += len(v.Value) + 5
		}
	}
	b := bulk{vals: vals, out: make([]byte, headerSize, size)}
	binary.BigEndian.PutUint32(b.out[0:], Magic)
	binary.BigEndian.PutUint32(b.out[4:], Version)
	root, err := b.node(keys, 0, true)
	if err != nil {
		return nil, nil, err
	}
	binary.BigEndian.PutUint32(b.out[8:], root)
	return b.out, dups, nil
}

type bulk struct {
	vals map[string][]Value
	out  []byte
	refs []uint32 // scratch for child tables, used as a stack
}

// node writes the subtree of keys (sorted, sharing their first depth bytes) after its
// children, as writePost does, and returns its reference. The root keeps an empty prefix,
// as depmod's root node never takes one.
func (b *bulk) node(keys []string, depth int, root bool) (uint32, error) {
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
	rest := keys
	if len(rest) > 0 && len(rest[0]) == p {
		value = b.vals[rest[0]]
		rest = rest[1:]
	}
	// Children, one per distinct byte at p, in byte order.
	base := len(b.refs)
	var firstCh, lastCh byte
	for len(rest) > 0 {
		ch := rest[0][p]
		n := 1
		for n < len(rest) && rest[n][p] == ch {
			n++
		}
		if len(b.refs) == base {
			firstCh = ch
		}
		lastCh = ch
		ref, err := b.node(rest[:n], p+1, false)
		if err != nil {
			return 0, err
		}
		b.refs = append(b.refs, uint32(ch), ref)
		rest = rest[n:]
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
