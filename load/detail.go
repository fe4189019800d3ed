package load

import (
	"fmt"
)

// This file holds the details the explanation's pictures need (gokmod explain --html)
// that the verdict itself does not: the 6.1 layout's permission boundaries, the
// layout_symtab blocks that are not sections, and one worked relocation of each type.
// They are filled in by one-line hooks in layout.go and relocate_x86_64.go.

// LayoutDetail is what layout_sections and layout_symtab compute besides the sections'
// placements.
type LayoutDetail struct {
	// TextSize, RoSize and RoAfterInitSize are 6.1's core_layout and init_layout
	// text_size, ro_size and ro_after_init_size (index RegionCore and RegionInit):
	// the offsets where RX ends, RO ends and RO-after-init ends; RW follows. Unused on
	// 6.12, where each mem type has one permission.
	TextSize, RoSize, RoAfterInitSize [NumMemTypes]uint32
	// Blocks are layout_symtab's allocations that are not ELF sections: the kept
	// ("core") symbols with their names and type bytes, and struct mod_kallsyms with the
	// type bytes of every symbol in init data.
	Blocks []Placement
}

// Perm tells the permission module memory at offset off of region r gets once the
// module is live: "RX", "RO", "RO-after-init" or "RW".
func (l *Layout) Perm(r int, off uint32) string {
	if l.ModuleMemory {
		switch r {
		case MemText, MemInitText:
			return "RX"
		case MemRodata, MemInitRodata:
			return "RO"
		case MemRoAfterInit:
			return "RO-after-init"
		}
		return "RW"
	}
	d := &l.Detail
	switch {
	case off < d.TextSize[r]:
		return "RX"
	case off < d.RoSize[r]:
		return "RO"
	case off < d.RoAfterInitSize[r]:
		return "RO-after-init"
	}
	return "RW"
}

// IsInit tells whether region r is freed after the module's init returns.
func (l *Layout) IsInit(r int) bool {
	if !l.ModuleMemory {
		return r == RegionInit
	}
	return isInitType(r)
}

// Regions lists the regions the layout uses (6.1: core and init; 6.12: the mem types),
// whether empty or not.
func (l *Layout) Regions() []int {
	if !l.ModuleMemory {
		return []int{RegionCore, RegionInit}
	}
	out := make([]int, NumMemTypes)
	for i := range out {
		out[i] = i
	}
	return out
}

// mark61 records 6.1's text_size/ro_size/ro_after_init_size after layout pass m.
func (l *Layout) mark61(r, m int) {
	switch m {
	case 0:
		l.Detail.TextSize[r] = l.Size[r]
	case 1:
		l.Detail.RoSize[r] = l.Size[r]
	case 2:
		l.Detail.RoAfterInitSize[r] = l.Size[r]
	}
}

// block records a layout_symtab allocation of size bytes at the end of region r,
// aligned to a, and returns nothing: the caller still advances the size.
func (l *Layout) block(name string, r int, a uint64, size uint32) {
	l.Detail.Blocks = append(l.Detail.Blocks, Placement{Index: -1, Name: name, Region: r, Offset: align(l.Size[r], a), Size: uint64(size)})
}

// RelocSample is one relocation worked through: where it writes, what it computes and
// what it wrote (or why it failed).
type RelocSample struct {
	Type    string // R_X86_64_PC32
	Section string // the section the relocation applies to (.text)
	Offset  uint64 // r_offset in that section
	Loc     uint64 // the model address written: section address + r_offset
	Symbol  string // the symbol (a section symbol is named after its section)
	SymVal  uint64 // the symbol's value after simplify_symbols
	Addend  int64  // r_addend
	// Value is S + A, minus the location for PC-relative types: what is written.
	Value    uint64
	PCRel    bool
	Size     int    // bytes written: 4 or 8
	Written  []byte // the bytes at Loc afterwards (nil if not written)
	Overflow string // the overflow check and its outcome
	Failed   bool   // this relocation is the one apply_relocations stopped at
}

// sampleReloc keeps the first relocation of each type, and the one that failed.
func (c *call) sampleReloc(info *loadInfo, relsec int, typ uint32, symIdx, rOffset, loc, addend uint64, field []byte, failed bool) {
	name := x86RelocName(typ)
	for _, s := range c.res.RelocSamples {
		if s.Type == name && !failed {
			return
		}
	}
	sym := info.syms[symIdx]
	s := RelocSample{Type: name, Section: info.secName(int(info.sechdrs[relsec].info)), Offset: rOffset, Loc: loc,
		Symbol: info.symName(sym), SymVal: sym.value, Addend: int64(addend), Failed: failed}
	if s.Symbol == "" && sym.info&0xf == 3 && int(sym.shndx) < len(info.sechdrs) { // STT_SECTION
		s.Symbol = info.secName(int(sym.shndx))
	}
	s.Value = sym.value + addend
	switch typ {
	case rX86_64PC32, rX86_64PLT32, rX86_64PC64:
		s.PCRel = true
		s.Value -= loc
	}
	switch typ {
	case rX86_64_64, rX86_64PC64:
		s.Size = 8
		s.Overflow = "64-bit field: cannot overflow"
	case rX86_64_32:
		s.Size = 4
		s.Overflow = overflowVerdict(s.Value == uint64(uint32(s.Value)), "zero-extended 32 bits")
	case rX86_64_32S:
		s.Size = 4
		s.Overflow = overflowVerdict(int64(s.Value) == int64(int32(uint32(s.Value))), "sign-extended 32 bits")
	case rX86_64PC32, rX86_64PLT32:
		s.Size = 4
		s.Overflow = "not checked by the kernel for PC-relative 32-bit types (the linker's -mcmodel=kernel keeps them in range)"
	case rX86_64None:
		s.Overflow = "R_X86_64_NONE writes nothing"
	default:
		s.Overflow = "not reached: apply_relocate_add does not know this type and refuses the module (ENOEXEC)"
	}
	if !failed && len(field) >= s.Size && s.Size > 0 {
		s.Written = append([]byte(nil), field[:s.Size]...)
	}
	c.res.RelocSamples = append(c.res.RelocSamples, s)
}

func overflowVerdict(ok bool, what string) string {
	if ok {
		return fmt.Sprintf("fits in %s: ok", what)
	}
	return fmt.Sprintf("does not fit in %s: overflow", what)
}
