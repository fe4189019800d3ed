package elftest

import "encoding/binary"

// Export is an exported symbol for Module.
type Export struct {
	Name, Namespace string
	GPL             bool
	CRC             uint32
}

// Version is a __versions entry for Module.
type Version struct {
	CRC  uint64
	Name string
}

// Param is a __param entry for Module.
type Param struct {
	Name string
	Ops  string
	Perm uint16
}

// Module describes a synthetic kernel module.
type Module struct {
	Class   int // 32 or 64
	Order   binary.ByteOrder
	Machine uint16
	// Rela selects SHT_RELA (x86_64 style); otherwise SHT_REL with the
	// addends stored in the relocated fields (i386/arm style).
	Rela bool
	// PREL32 selects 4-byte struct kernel_symbol fields; otherwise each
	// field is a pointer.
	PREL32 bool
	// NoNamespace selects the 2-field struct kernel_symbol of Linux < 5.4.
	NoNamespace bool
	// RelocCRCs emits __kcrctab entries relocated against SHN_ABS __crc_
	// symbols (Linux < 5.19) instead of raw values.
	RelocCRCs bool

	Name        string // struct module name
	ModInfo     []string
	Exports     []Export
	Versions    []Version
	ExtVersions []Version // __version_ext_crcs/__version_ext_names
	Params      []Param
	Undef       []string
	ThisModSize int // 0: 0x380 on 64-bit, 0x1c0 on 32-bit
}

type modBuilder struct {
	m      *Module
	o      binary.ByteOrder
	w      int
	secs   []Section
	syms   []Sym
	relSec []int // indices (into secs) of relocation sections
}

func (b *modBuilder) add(s Section) int {
	b.secs = append(b.secs, s)
	return len(b.secs) // ELF section index
}

func (b *modBuilder) sym(s Sym) uint32 {
	b.syms = append(b.syms, s)
	return uint32(len(b.syms))
}

// put writes v into field of size n at off (for REL implicit addends).
func (b *modBuilder) put(d []byte, off int, n int, v int64) {
	if n == 8 {
		b.o.PutUint64(d[off:], uint64(v))
	} else {
		b.o.PutUint32(d[off:], uint32(v))
	}
}

// Build returns the module's bytes.
func (m *Module) Build() []byte {
	o := m.Order
	if o == nil {
		o = binary.LittleEndian
	}
	w := 4
	if m.Class == 64 {
		w = 8
	}
	b := &modBuilder{m: m, o: o, w: w}
	text := b.add(Section{Name: ".text", Type: SHTProgbits, Flags: SHFAlloc | 4, Addralign: 16, Data: make([]byte, 64)})
	b.add(Section{Name: ".modinfo", Type: SHTProgbits, Flags: SHFAlloc, Addralign: 1, Data: Strings(m.ModInfo...)})

	if len(m.Versions) > 0 {
		var v []byte
		for _, e := range m.Versions {
			ent := make([]byte, 64)
			b.put(ent, 0, w, int64(e.CRC))
			copy(ent[w:63], e.Name)
			v = append(v, ent...)
		}
		b.add(Section{Name: "__versions", Type: SHTProgbits, Flags: SHFAlloc, Addralign: 32, Data: v})
	}
	if len(m.ExtVersions) > 0 {
		var crcs, names []byte
		for _, e := range m.ExtVersions {
			crcs = o.(binary.AppendByteOrder).AppendUint32(crcs, uint32(e.CRC))
			names = append(append(names, e.Name...), 0)
		}
		b.add(Section{Name: "__version_ext_crcs", Type: SHTProgbits, Flags: SHFAlloc, Addralign: 4, Data: crcs})
		b.add(Section{Name: "__version_ext_names", Type: SHTProgbits, Flags: SHFAlloc, Addralign: 1, Data: names})
	}

	// Exports: strings first so symbols can point into them.
	if len(m.Exports) > 0 {
		var strs []byte
		nameOff := map[string]int{}
		nsOff := map[string]int{}
		for _, e := range m.Exports {
			nameOff[e.Name] = len(strs)
			strs = append(append(strs, e.Name...), 0)
			nsOff[e.Name] = len(strs)
			strs = append(append(strs, e.Namespace...), 0)
		}
		strIdx := b.add(Section{Name: "__ksymtab_strings", Type: SHTProgbits, Flags: SHFAlloc | 0x30, Addralign: 1, Entsize: 1, Data: strs})
		fs := w
		if m.PREL32 {
			fs = 4
		}
		nf := 3
		if m.NoNamespace {
			nf = 2
		}
		relType := uint32(1) // R_X86_64_64 / R_386_32
		if m.PREL32 {
			relType = 2 // R_X86_64_PC32 / R_386_PC32
		}
		for _, gpl := range []bool{false, true} {
			var list []Export
			for _, e := range m.Exports {
				if e.GPL == gpl {
					list = append(list, e)
				}
			}
			if len(list) == 0 {
				continue
			}
			suffix := ""
			if gpl {
				suffix = "_gpl"
			}
			ent := fs * nf
			tab := make([]byte, ent*len(list))
			crc := make([]byte, 4*len(list))
			var rels, crcRels []Rel
			symIdx := b.add(Section{Name: "__ksymtab" + suffix, Type: SHTProgbits, Flags: SHFAlloc, Addralign: 4, Data: tab})
			crcIdx := b.add(Section{Name: "__kcrctab" + suffix, Type: SHTProgbits, Flags: SHFAlloc, Addralign: 4, Data: crc})
			for i, e := range list {
				fn := b.sym(Sym{Name: e.Name, Value: uint64(16 * i), Info: 1<<4 | 2, Shndx: uint16(text)})
				ks := b.sym(Sym{Name: "__kstrtab_" + e.Name, Value: uint64(nameOff[e.Name]), Shndx: uint16(strIdx)})
				kns := b.sym(Sym{Name: "__kstrtabns_" + e.Name, Value: uint64(nsOff[e.Name]), Shndx: uint16(strIdx)})
				rels = append(rels, Rel{Off: uint64(i * ent), Sym: fn, Type: relType}, Rel{Off: uint64(i*ent + fs), Sym: ks, Type: relType})
				if nf == 3 {
					rels = append(rels, Rel{Off: uint64(i*ent + 2*fs), Sym: kns, Type: relType})
				}
				if m.RelocCRCs {
					cs := b.sym(Sym{Name: "__crc_" + e.Name, Value: uint64(e.CRC), Shndx: 0xfff1})
					crcRels = append(crcRels, Rel{Off: uint64(4 * i), Sym: cs, Type: 10})
				} else {
					o.PutUint32(crc[4*i:], e.CRC)
					b.sym(Sym{Name: "__crc_" + e.Name, Value: uint64(4 * i), Shndx: uint16(crcIdx)})
				}
			}
			b.relocs(symIdx, tab, fs, rels)
			if len(crcRels) > 0 {
				b.relocs(crcIdx, crc, 4, crcRels)
			}
		}
	}

	if len(m.Params) > 0 {
		var ro []byte
		ent := 40
		if w == 4 {
			ent = 20
		}
		tab := make([]byte, ent*len(m.Params))
		roIdx := b.add(Section{Name: ".rodata", Type: SHTProgbits, Flags: SHFAlloc, Addralign: 8})
		pIdx := b.add(Section{Name: "__param", Type: SHTProgbits, Flags: SHFAlloc, Addralign: uint64(w), Data: tab})
		roSym := b.sym(Sym{Info: 3, Shndx: uint16(roIdx)})
		var rels []Rel
		for i, p := range m.Params {
			off := i * ent
			rels = append(rels, Rel{Off: uint64(off), Sym: roSym, Type: 1, Addend: int64(len(ro))})
			ro = append(append(ro, p.Name...), 0)
			ops := b.sym(Sym{Name: p.Ops, Info: 1 << 4})
			rels = append(rels, Rel{Off: uint64(off + 2*w), Sym: ops, Type: 1})
			o.PutUint16(tab[off+3*w:], p.Perm)
			tab[off+3*w+2] = 0xff
		}
		b.secs[roIdx-1].Data = ro
		b.relocs(pIdx, tab, w, rels)
	}

	size := m.ThisModSize
	if size == 0 {
		size = 0x380
		if w == 4 {
			size = 0x1c0
		}
	}
	tm := make([]byte, size)
	copy(tm[3*w:3*w+64-w-1], m.Name)
	tmIdx := b.add(Section{Name: ".gnu.linkonce.this_module", Type: SHTProgbits, Flags: SHFAlloc | SHFWrite, Addralign: 64, Data: tm})
	b.sym(Sym{Name: "__this_module", Info: 1<<4 | 1, Shndx: uint16(tmIdx), Size: uint64(size)})
	ini := b.sym(Sym{Name: "init_module", Info: 1<<4 | 2, Shndx: uint16(text), Value: 32})
	b.relocs(tmIdx, tm, w, []Rel{{Off: 0x138 % uint64(size), Sym: ini, Type: 1}})

	for _, u := range m.Undef {
		b.sym(Sym{Name: u, Info: 1 << 4})
	}
	b.add(Section{Name: ".bss", Type: SHTNobits, Flags: SHFAlloc | SHFWrite, Size: 64})

	symtab, strtab := Symtab(m.Class, o, b.syms)
	entSize := 16
	if w == 8 {
		entSize = 24
	}
	symIdx := len(b.secs) + 1
	b.add(Section{Name: ".symtab", Type: SHTSymtab, Link: uint32(symIdx + 1), Info: 1, Addralign: uint64(w), Entsize: uint64(entSize), Data: symtab})
	b.add(Section{Name: ".strtab", Type: SHTStrtab, Addralign: 1, Data: strtab})
	for _, i := range b.relSec {
		b.secs[i].Link = uint32(symIdx)
	}
	f := File{Class: m.Class, Order: o, Machine: m.Machine, Sections: b.secs}
	out, _ := f.Build()
	return out
}

// relocs adds a relocation section for target (ELF index) whose data is d;
// for SHT_REL the addends go into d's fields of width n.
func (b *modBuilder) relocs(target int, d []byte, n int, rs []Rel) {
	name := ".rel"
	typ := uint32(SHTRel)
	if b.m.Rela {
		name, typ = ".rela", SHTRela
	} else {
		for _, r := range rs {
			b.put(d, int(r.Off), n, r.Addend)
		}
	}
	name += b.secs[target-1].Name
	b.add(Section{Name: name, Type: typ, Flags: 0x40, Info: uint32(target), Addralign: uint64(b.w), Entsize: 0, Data: Relocs(b.m.Class, b.o, b.m.Rela, rs)})
	b.relSec = append(b.relSec, len(b.secs)-1)
}
