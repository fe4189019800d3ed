package depmod

import (
	"encoding/binary"
	"slices"

	"gokmod/ko"
)

// The cache, part 5: the table of needed symbols.
//
// Debian's 6.1 modules need 189,000 symbols between them, but only 18,000 distinct
// ones (name, CRC and binding): printk, kfree and the like are needed by thousands of
// modules. The cache keeps each distinct needed symbol once, in recNames records, and a
// module's record lists indexes into that table. The file is 2.5 times smaller, and
// loadDependencies looks each distinct name up once rather than once per module.
// Indexes are stable: entries are only ever added (in a recNames record written before
// the records that use them), so records kept from earlier runs stay valid.

// neededSym is one entry of the table.
type neededSym struct {
	name string
	crc  uint64
	bind byte
}

// appendNames is a recNames record of syms.
func appendNames(b []byte, syms []neededSym) []byte {
	e := []byte{recNames}
	e = binary.AppendUvarint(e, uint64(len(syms)))
	for _, s := range syms {
		e = appendStr(e, s.name)
		e = binary.LittleEndian.AppendUint64(e, s.crc)
		e = append(e, s.bind)
	}
	return append(append(b, binary.AppendUvarint(nil, uint64(len(e)))...), e...)
}

// parseNames adds a recNames record's entries (after the kind byte) to the table.
func (c *moduleCache) parseNames(d decoder) bool {
	n := d.count(10)
	c.names = slices.Grow(c.names, n)
	for range n {
		c.names = append(c.names, neededSym{name: d.str(), crc: d.fixed64(), bind: d.byte()})
	}
	return !d.err && len(d.b) == 0
}

// intern returns the table indexes of syms, adding those it lacks. Readers call it in
// parallel, once per module read from its file.
//
// The first few calls of a run look the module's symbols up by one pass over the table
// instead of indexing the whole table: after one module was added or replaced, that is
// all there is to intern, and a map of Debian's 18,000 entries would cost more than the
// pass (1.2 MB of fresh memory).
func (c *moduleCache) intern(syms []ko.KmodSymbol) []uint32 {
	out := make([]uint32, len(syms))
	c.namesMu.Lock()
	defer c.namesMu.Unlock()
	if c.nameIdx == nil && c.scans < 4 {
		c.scans++
		want := make(map[neededSym]int, len(syms))
		for i, s := range syms {
			k := neededSym{name: s.Name, crc: s.CRC, bind: s.Bind}
			if _, dup := want[k]; !dup {
				want[k] = i
			}
			out[i] = ^uint32(0)
		}
		// A bitmap of a digest of the wanted names (nameBit) turns most of the table
		// away before the map, which would hash every entry.
		var seen [1 << 16 / 64]uint64
		for k := range want {
			b := nameBit(k.name)
			seen[b/64] |= 1 << (b % 64)
		}
		for idx, s := range c.names {
			if b := nameBit(s.name); seen[b/64]&(1<<(b%64)) == 0 {
				continue
			}
			if i, ok := want[s]; ok && out[i] == ^uint32(0) {
				out[i] = uint32(idx)
			}
		}
		for i, s := range syms {
			if out[i] != ^uint32(0) {
				continue
			}
			k := neededSym{name: s.Name, crc: s.CRC, bind: s.Bind}
			if first := want[k]; first != i { // needed twice by this module
				out[i] = out[first]
				continue
			}
			out[i] = uint32(len(c.names))
			c.names = append(c.names, k)
		}
		return out
	}
	if c.nameIdx == nil {
		c.nameIdx = make(map[neededSym]uint32, len(c.names)+len(syms))
		for i, s := range c.names {
			if _, dup := c.nameIdx[s]; !dup {
				c.nameIdx[s] = uint32(i)
			}
		}
	}
	for i, s := range syms {
		k := neededSym{name: s.Name, crc: s.CRC, bind: s.Bind}
		idx, ok := c.nameIdx[k]
		if !ok {
			idx = uint32(len(c.names))
			c.names = append(c.names, k)
			c.nameIdx[k] = idx
		}
		out[i] = idx
	}
	return out
}

// nameBit is a 16-bit digest of a name for intern's bitmap: its length and three of its
// bytes, read without hashing the whole name.
func nameBit(name string) uint32 {
	n := len(name)
	if n == 0 {
		return 0
	}
	h := uint32(n)
	h = h*0x9e3779b1 + uint32(name[0])
	h = h*0x9e3779b1 + uint32(name[n/2])
	h = h*0x9e3779b1 + uint32(name[n-1])
	return (h ^ h>>16) & 0xffff
}

// newNames is what the table gained in this run, for the next write to append.
func (c *moduleCache) newNames() []neededSym { return c.names[c.namesLoaded:] }
