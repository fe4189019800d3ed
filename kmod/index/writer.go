package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Order selects the node layout a Builder writes. Readers accept both.
type Order int

const (
	// PostOrder writes children before their parent and the root last, with the root
	// offset patched into the header: what depmod of kmod ≤ 33 (Debian 12's kmod 30)
	// writes, so it is the default.
	PostOrder Order = iota
	// PreOrder writes each node before its children, so the root sits at offset 12:
	// what depmod of kmod ≥ 34 writes.
	PreOrder
)

// ErrNotASCII is returned by Insert for a key or value with a byte ≥ 0x80. The format
// indexes children by 7-bit byte; kmod ≥ 34's depmod aborts on such input and kmod 30's
// misbehaves, so refusing it is the only faithful choice.
var ErrNotASCII = errors.New("only 7-bit ASCII can be indexed")

// ErrTooLarge is returned when the trie would need offsets beyond the format's 28 bits.
var ErrTooLarge = errors.New("index larger than 256 MiB cannot be addressed")

// Builder accumulates (key, value, priority) entries into depmod's in-memory trie
// (tools/depmod.c index_insert), whose shape and value order decide the bytes written.
// The zero value is not usable; call NewBuilder.
type Builder struct {
	root *wnode
}

// wnode is depmod's struct index_node. Children are kept sorted by byte instead of in
// a 128-slot array; first and last are their extremes.
type wnode struct {
	prefix string
	values []Value // depmod's order: ascending priority, equal priorities newest first
	kids   []wkid
}

type wkid struct {
	ch byte
	n  *wnode
}

// NewBuilder returns an empty trie.
func NewBuilder() *Builder {
	return &Builder{root: &wnode{}}
}

func checkASCII(what, s string) error {
	// Eight bytes at a time: depmod checks every key and value of its indexes (the
	// modules.dep.bin values are whole dependency lists).
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if (s[i]|s[i+1]|s[i+2]|s[i+3]|s[i+4]|s[i+5]|s[i+6]|s[i+7])&0x80 != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= childMax {
			return fmt.Errorf("%w: %s %q has byte %#x", ErrNotASCII, what, s, s[i])
		}
	}
	return nil
}

// Insert adds value under key with the given priority, exactly as depmod's index_insert
// does. It reports whether the key already held an identical value (depmod warns about
// such duplicates with -w) — the value is added again all the same. Keys and values are
// C strings to depmod, so each ends at its first NUL.
func (b *Builder) Insert(key, value string, priority uint32) (duplicate bool, err error) {
	key, value = cstring(key), cstring(value)
	if err := checkASCII("key", key); err != nil {
		return false, err
	}
	if err := checkASCII("value", value); err != nil {
		return false, err
	}
	n := b.root
	i := 0
	for {
		// Ensure n.prefix is a prefix of key[i:]; if not, split n.
		j := 0
		for ; j < len(n.prefix); j++ {
			if n.prefix[j] != keyAt(key, i+j) {
				split := &wnode{prefix: n.prefix[j+1:], values: n.values, kids: n.kids}
				*n = wnode{prefix: n.prefix[:j], kids: []wkid{{n.prefix[j], split}}}
				break
			}
		}
		i += j
		if i == len(key) {
			return n.addValue(value, priority), nil
		}
		ch := key[i]
		k := sort.Search(len(n.kids), func(x int) bool { return n.kids[x].ch >= ch })
		if k == len(n.kids) || n.kids[k].ch != ch {
			child := &wnode{prefix: key[i+1:]}
			child.addValue(value, priority)
			n.kids = append(n.kids, wkid{})
			copy(n.kids[k+1:], n.kids[k:])
			n.kids[k] = wkid{ch, child}
			return false, nil
		}
		n = n.kids[k].n
		i++
	}
}

func (n *wnode) addValue(value string, priority uint32) bool {
	dup := false
	for _, v := range n.values {
		if v.Value == value {
			dup = true
		}
	}
	n.values = insertValue(n.values, Value{Priority: priority, Value: value})
	return dup
}

// Bytes serializes the trie in the given order: the whole file, header included.
func (b *Builder) Bytes(order Order) ([]byte, error) {
	out := make([]byte, headerSize, 1<<16)
	binary.BigEndian.PutUint32(out[0:], Magic)
	binary.BigEndian.PutUint32(out[4:], Version)
	var root uint32
	var err error
	switch order {
	case PostOrder:
		out, root, err = writePost(out, b.root)
	case PreOrder:
		out, root, err = writePre(out, b.root)
	default:
		return nil, fmt.Errorf("index: unknown node order %d", order)
	}
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(out[8:], root)
	return out, nil
}

// WriteTo writes the post-order file kmod 30's depmod writes.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	data, err := b.Bytes(PostOrder)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(data)
	return int64(n), err
}

// flags returns the node's reference flags (index_get_mask).
func (n *wnode) flags() uint32 {
	var f uint32
	if n.prefix != "" {
		f |= flagPrefix
	}
	if len(n.kids) > 0 {
		f |= flagChilds
	}
	if len(n.values) > 0 {
		f |= flagValues
	}
	return f
}

// appendBody appends the node's prefix, child table (with the given references) and
// values, as both depmod writers lay a node out.
func (n *wnode) appendBody(out []byte, kidRefs []uint32) []byte {
	if n.prefix != "" {
		out = append(out, n.prefix...)
		out = append(out, 0)
	}
	if len(n.kids) > 0 {
		out = append(out, n.kids[0].ch, n.kids[len(n.kids)-1].ch)
		for _, r := range kidRefs {
			out = binary.BigEndian.AppendUint32(out, r)
		}
	}
	if len(n.values) > 0 {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n.values)))
		for _, v := range n.values {
			out = binary.BigEndian.AppendUint32(out, v.Priority)
			out = append(out, v.Value...)
			out = append(out, 0)
		}
	}
	return out
}

// slots returns the dense child table from first to last with a slot per byte, and
// fills it with the references ref gives for present children.
func (n *wnode) slots(ref func(k int) uint32) []uint32 {
	if len(n.kids) == 0 {
		return nil
	}
	first := n.kids[0].ch
	table := make([]uint32, int(n.kids[len(n.kids)-1].ch-first)+1)
	for k, kid := range n.kids {
		table[kid.ch-first] = ref(k)
	}
	return table
}

func checkOffset(off int) error {
	if off > int(offsetMask) {
		return fmt.Errorf("%w: node at offset %#x", ErrTooLarge, off)
	}
	return nil
}

// writePost is kmod 30's index_write__node: children first, then the node.
func writePost(out []byte, n *wnode) ([]byte, uint32, error) {
	refs := make([]uint32, len(n.kids))
	for k, kid := range n.kids {
		var err error
		out, refs[k], err = writePost(out, kid.n)
		if err != nil {
			return nil, 0, err
		}
	}
	off := len(out)
	if err := checkOffset(off); err != nil {
		return nil, 0, err
	}
	out = n.appendBody(out, n.slots(func(k int) uint32 { return refs[k] }))
	return out, uint32(off) | n.flags(), nil
}

// writePre is kmod ≥ 34's index_write__node: the node first with its children's
// offsets computed from subtree sizes, then the children in byte order. Patching the
// child table after writing each child yields the same bytes.
func writePre(out []byte, n *wnode) ([]byte, uint32, error) {
	off := len(out)
	if err := checkOffset(off); err != nil {
		return nil, 0, err
	}
	table := n.slots(func(int) uint32 { return 0 })
	out = n.appendBody(out, table)
	if len(n.kids) > 0 {
		tableOff := off + len(n.prefix)
		if n.prefix != "" {
			tableOff++
		}
		tableOff += 2
		first := n.kids[0].ch
		for _, kid := range n.kids {
			var ref uint32
			var err error
			out, ref, err = writePre(out, kid.n)
			if err != nil {
				return nil, 0, err
			}
			binary.BigEndian.PutUint32(out[tableOff+4*int(kid.ch-first):], ref)
		}
	}
	return out, uint32(off) | n.flags(), nil
}
