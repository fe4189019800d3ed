package load

import (
	"encoding/binary"
	"sort"
)

// memory is the model's copy of a module's memory after move_module: one buffer per
// SHF_ALLOC section at its final address, holding the file contents (zeros for NOBITS),
// which apply_relocations then patches. It lets the model read relocated data exactly as
// the kernel does: export tables, parameters, struct module.
type memory struct {
	secs []*memSec // sorted by address
}

type memSec struct {
	index int
	addr  uint64
	b     []byte
}

// newMemory copies every laid-out SHF_ALLOC section.
func newMemory(info *loadInfo) *memory {
	m := &memory{}
	for i, s := range info.sechdrs {
		if i == 0 || s.flags&shfAlloc == 0 || info.place[i].region < 0 {
			continue
		}
		b := make([]byte, s.size)
		if s.typ != shtNobits && s.offset+s.size <= uint64(len(info.hdr)) {
			copy(b, info.hdr[s.offset:s.offset+s.size])
		}
		m.secs = append(m.secs, &memSec{index: i, addr: s.addr, b: b})
	}
	sort.Slice(m.secs, func(i, j int) bool { return m.secs[i].addr < m.secs[j].addr })
	return m
}

// at returns n bytes of memory at addr, or nil when they are not all inside one section.
func (m *memory) at(addr uint64, n int) []byte {
	i := sort.Search(len(m.secs), func(i int) bool { return m.secs[i].addr+uint64(len(m.secs[i].b)) > addr })
	if i == len(m.secs) || addr < m.secs[i].addr {
		return nil
	}
	s := m.secs[i]
	off := addr - s.addr
	if off+uint64(n) > uint64(len(s.b)) {
		return nil
	}
	return s.b[off : off+uint64(n)]
}

// section returns the buffer of section index i, or nil.
func (m *memory) section(i int) *memSec {
	for _, s := range m.secs {
		if s.index == i {
			return s
		}
	}
	return nil
}

// u64 reads a pointer at addr (0 if unmapped).
func (m *memory) u64(addr uint64) uint64 {
	if b := m.at(addr, 8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// u32 reads a 32-bit value at addr (0 if unmapped).
func (m *memory) u32(addr uint64) uint32 {
	if b := m.at(addr, 4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// cstring reads a NUL-terminated string at addr ("" if unmapped).
func (m *memory) cstring(addr uint64) (string, bool) {
	i := sort.Search(len(m.secs), func(i int) bool { return m.secs[i].addr+uint64(len(m.secs[i].b)) > addr })
	if i == len(m.secs) || addr < m.secs[i].addr {
		return "", false
	}
	b := m.secs[i].b[addr-m.secs[i].addr:]
	for j, ch := range b {
		if ch == 0 {
			return string(b[:j]), true
		}
	}
	return string(b), true
}

// elfSym is one Elf64_Sym.
type elfSym struct {
	name  uint32
	info  uint8
	shndx uint16
	value uint64
	size  uint64
}

// readSymtab reads info.index.sym's entries from the image.
func (info *loadInfo) readSymtab() {
	s := info.sechdrs[info.index.sym]
	n := s.size / symSize
	info.syms = make([]elfSym, 0, n)
	for i := uint64(0); i < n; i++ {
		off := s.offset + i*symSize
		if off+symSize > uint64(len(info.hdr)) {
			break
		}
		info.syms = append(info.syms, elfSym{
			name: u32(info.hdr, off), info: info.hdr[off+4], shndx: u16(info.hdr, off+6),
			value: u64(info.hdr, off+8), size: u64(info.hdr, off+16),
		})
	}
}

// symName is info->strtab + st_name.
func (info *loadInfo) symName(s elfSym) string { return info.cstr(info.strtabOff + uint64(s.name)) }
