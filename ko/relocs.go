package ko

// Reloc is one SHT_REL or SHT_RELA entry, with r_info split into symbol
// index and type. For SHT_REL the addend is implicit (stored in the
// relocated field) and Addend is 0; HasAddend tells the two apart.
type Reloc struct {
	Offset    uint64
	Type      uint32
	Sym       uint32
	Addend    int64
	HasAddend bool
}

// RelocSection is a relocation section and the section it patches.
type RelocSection struct {
	Section *Section // the SHT_REL/SHT_RELA section itself
	Target  int      // sh_info: index of the section the entries apply to
	Symtab  int      // sh_link: index of the symbol table they refer to
	Relocs  []Reloc
}

// Relocations decodes every SHT_REL and SHT_RELA section, in section order,
// checking that its target and symbol table indices are in range as the
// kernel's apply_relocations requires.
func (f *File) Relocations() ([]RelocSection, error) {
	var out []RelocSection
	for _, s := range f.Sections[1:] {
		if s.Type != SHTRel && s.Type != SHTRela {
			continue
		}
		rs, err := f.decodeRelocs(s)
		if err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	return out, nil
}

// decodeRelocs decodes one relocation section.
func (f *File) decodeRelocs(s *Section) (RelocSection, error) {
	rela := s.Type == SHTRela
	ent := uint64(8)
	if f.r.is64 {
		ent = 16
	}
	if rela {
		ent += ent / 2
	}
	rs := RelocSection{Section: s, Target: int(s.Info), Symtab: int(s.Link)}
	if s.Info == 0 || int(s.Info) >= len(f.Sections) {
		return rs, formatErr(f.Name, "relocation section %d (%s) applies to section %d, out of range (%d sections)", s.Index, s.Name, s.Info, len(f.Sections))
	}
	if s.fileSize()%ent != 0 {
		return rs, formatErr(f.Name, "relocation section %d (%s) size 0x%x is not a multiple of the %d-byte entry", s.Index, s.Name, s.Size, ent)
	}
	data := s.data()
	r := f.r
	mips64le := f.r.is64 && f.Machine == emMIPS && f.ByteOrder.Uint16([]byte{1, 0}) == 1
	rs.Relocs = make([]Reloc, s.fileSize()/ent)
	for i := range rs.Relocs {
		p := data[uint64(i)*ent:]
		var e Reloc
		e.HasAddend = rela
		if r.is64 {
			e.Offset = r.u64(p, 0)
			info := r.u64(p, 8)
			e.Sym, e.Type = uint32(info>>32), uint32(info)
			if mips64le {
				// MIPS64 little-endian stores r_sym first, then the type bytes in reverse.
				e.Sym = uint32(info)
				e.Type = uint32(info>>56) | uint32(info>>48&0xff)<<8 | uint32(info>>40&0xff)<<16
			}
			if rela {
				e.Addend = int64(r.u64(p, 16))
			}
		} else {
			e.Offset = uint64(r.u32(p, 0))
			info := r.u32(p, 4)
			e.Sym, e.Type = info>>8, info&0xff
			if rela {
				e.Addend = int64(int32(r.u32(p, 8)))
			}
		}
		rs.Relocs[i] = e
	}
	return rs, nil
}

// target is where a relocated field points: symbol + addend, expressed as a
// section and an offset in it when the symbol is defined, or the name of
// the undefined (or absolute) symbol it refers to.
type target struct {
	sym    *Symbol
	sec    uint32 // section of sym (SHN_UNDEF/SHN_ABS kept as is)
	offset int64  // sym.Value + addend
}

// relocView answers "what does the field at offset X of section S point
// to" by applying relocations symbolically, the way the kernel's
// apply_relocations would (S + A) minus the PC-relative part, which in a
// .ko is always what a pointer or a PREL32 offset means.
type relocView struct {
	f     *File
	syms  []Symbol
	byOff map[int]map[uint64]Reloc // target section -> offset -> reloc
	strs  map[uint32]*strtab
	defs  map[[2]uint64]string // (section, value) -> symbol name, built on demand
}

// newRelocView decodes the symbol table and the relocations for the given
// target sections only.
func (f *File) newRelocView(targets ...*Section) (*relocView, error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	v := &relocView{f: f, syms: syms, byOff: map[int]map[uint64]Reloc{}, strs: map[uint32]*strtab{}}
	want := map[int]bool{}
	for _, t := range targets {
		if t != nil {
			want[t.Index] = true
			v.byOff[t.Index] = map[uint64]Reloc{}
		}
	}
	for _, s := range f.Sections[1:] {
		if (s.Type != SHTRel && s.Type != SHTRela) || !want[int(s.Info)] {
			continue
		}
		rs, err := f.decodeRelocs(s)
		if err != nil {
			return nil, err
		}
		m := v.byOff[rs.Target]
		for _, r := range rs.Relocs {
			if _, dup := m[r.Offset]; !dup {
				m[r.Offset] = r
			}
		}
	}
	return v, nil
}

// at resolves the field of width bytes at off in section sec. ok is false
// when no relocation applies there (the field then holds a plain value).
func (v *relocView) at(sec *Section, off uint64, width int) (t target, ok bool, err error) {
	r, ok := v.byOff[sec.Index][off]
	if !ok {
		return t, false, nil
	}
	if int(r.Sym) >= len(v.syms) {
		return t, false, formatErr(v.f.Name, "relocation at %s+0x%x refers to symbol %d, out of range (%d symbols)", sec.Name, off, r.Sym, len(v.syms))
	}
	add := r.Addend
	if !r.HasAddend {
		// SHT_REL: the addend is what the field holds.
		d := sec.data()
		if beyond(off, uint64(width), uint64(len(d))) {
			return t, false, formatErr(v.f.Name, "relocation at %s+0x%x is outside the section (size 0x%x)", sec.Name, off, len(d))
		}
		if width == 8 {
			add = int64(v.f.r.u64(d, int(off)))
		} else {
			add = int64(int32(v.f.r.u32(d, int(off))))
		}
	}
	s := &v.syms[r.Sym]
	return target{sym: s, sec: s.Shndx, offset: int64(s.Value) + add}, true, nil
}

// str reads the NUL-terminated string a target points to.
func (v *relocView) str(t target) (string, bool) {
	if t.sec == shnUndef || t.sec >= shnLoReserve || int(t.sec) >= len(v.f.Sections) || t.offset < 0 {
		return "", false
	}
	tab := v.strs[t.sec]
	if tab == nil {
		tab = newStrtab(v.f.Sections[t.sec].data())
		v.strs[t.sec] = tab
	}
	return tab.at(uint64(t.offset))
}

// u32 reads the 32-bit value a target points to, or the symbol's value
// itself for absolute symbols (pre-5.19 __crc_* symbols are SHN_ABS).
func (v *relocView) u32(t target) (uint32, bool) {
	if t.sec == shnAbs {
		return uint32(t.offset), true
	}
	if t.sec == shnUndef || t.sec >= shnLoReserve || int(t.sec) >= len(v.f.Sections) || t.offset < 0 {
		return 0, false
	}
	d := v.f.Sections[t.sec].data()
	if beyond(uint64(t.offset), 4, uint64(len(d))) {
		return 0, false
	}
	return v.f.r.u32(d, int(t.offset)), true
}

// symName names what a target points to: the relocation's own symbol, or,
// when that is a section symbol (static objects are often referenced as
// ".rodata + off"), a named symbol defined at that spot.
func (v *relocView) symName(t target) string {
	if t.sym == nil {
		return ""
	}
	if t.sym.Name != "" && t.sym.Type() != STTSection {
		return t.sym.Name
	}
	if v.defs == nil {
		v.defs = map[[2]uint64]string{}
		for _, s := range v.syms {
			if s.Name == "" || s.Type() == STTSection || s.Type() == STTFile || s.Shndx == shnUndef || s.Shndx >= shnLoReserve {
				continue
			}
			k := [2]uint64{uint64(s.Shndx), s.Value}
			if _, dup := v.defs[k]; !dup || s.Type() == STTObject {
				v.defs[k] = s.Name
			}
		}
	}
	return v.defs[[2]uint64{uint64(t.sec), uint64(t.offset)}]
}
