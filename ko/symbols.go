package ko

// Symbol binding and type values (STB_*, STT_*) used by callers.
const (
	STBLocal  = 0
	STBGlobal = 1
	STBWeak   = 2

	STTNotype  = 0
	STTObject  = 1
	STTFunc    = 2
	STTSection = 3
	STTFile    = 4
)

const (
	emSPARC     = 2
	emMIPS      = 8
	emSPARCV9   = 43
	sttRegister = 13
)

// Special section indices a Symbol's Shndx may hold.
const (
	SHNUndef  = 0
	SHNAbs    = 0xfff1
	SHNCommon = 0xfff2
)

// Symbol is one .symtab entry. Index is its position in the table, which is
// what relocations refer to.
type Symbol struct {
	Index int
	Name  string
	Value uint64
	Size  uint64
	Info  uint8
	Other uint8
	// Shndx is the section index, with SHN_XINDEX already resolved through
	// SHT_SYMTAB_SHNDX; SHNUndef/SHNAbs/SHNCommon keep their special values.
	Shndx uint32
}

// Bind is ELF_ST_BIND(Info).
func (s Symbol) Bind() uint8 { return s.Info >> 4 }

// Type is ELF_ST_TYPE(Info).
func (s Symbol) Type() uint8 { return s.Info & 0xf }

// symtab returns the SHT_SYMTAB section and its string table. Like the
// kernel's elf_validity_cache_index_sym it goes by type and sh_link, not by
// the names kmod looks for; a module has exactly one symbol table.
func (f *File) symtab() (*Section, *Section, error) {
	var sym *Section
	for _, s := range f.Sections[1:] {
		if s.Type == SHTSymtab {
			sym = s
			break
		}
	}
	if sym == nil {
		return nil, nil, nil
	}
	if sym.Link == 0 || int(sym.Link) >= len(f.Sections) {
		return nil, nil, formatErr(f.Name, "symbol table (section %d) links to string table %d, out of range (%d sections)", sym.Index, sym.Link, len(f.Sections))
	}
	str := f.Sections[sym.Link]
	if str.Type == SHTNobits {
		return nil, nil, formatErr(f.Name, "symbol string table (section %d) has no contents", str.Index)
	}
	return sym, str, nil
}

// symEntSize is sizeof(ElfN_Sym).
func (f *File) symEntSize() uint64 {
	if f.r.is64 {
		return 24
	}
	return 16
}

// Symbols returns the whole symbol table, entry 0 included so that indices
// match relocations. A module without a symbol table yields nil, nil.
func (f *File) Symbols() ([]Symbol, error) {
	sym, str, err := f.symtab()
	if sym == nil || err != nil {
		return nil, err
	}
	ent := f.symEntSize()
	if sym.fileSize()%ent != 0 {
		return nil, formatErr(f.Name, "symbol table size 0x%x is not a multiple of the %d-byte entry", sym.Size, ent)
	}
	data := sym.data()
	names := newStrtab(str.data())
	var xindex []byte
	for _, s := range f.Sections[1:] {
		if s.Type == SHTSymtabShndx && int(s.Link) == sym.Index {
			xindex = s.data()
			break
		}
	}
	r := f.r
	out := make([]Symbol, sym.fileSize()/ent)
	for i := range out {
		p := data[uint64(i)*ent:]
		s := Symbol{Index: i}
		nameOff := r.u32(p, 0)
		var shndx uint16
		if r.is64 {
			s.Info, s.Other, shndx = p[4], p[5], r.u16(p, 6)
			s.Value, s.Size = r.u64(p, 8), r.u64(p, 16)
		} else {
			s.Value, s.Size = uint64(r.u32(p, 4)), uint64(r.u32(p, 8))
			s.Info, s.Other, shndx = p[12], p[13], r.u16(p, 14)
		}
		s.Shndx = uint32(shndx)
		if shndx == shnXindex {
			if uint64(i)*4+4 > uint64(len(xindex)) {
				return nil, formatErr(f.Name, "symbol %d uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX entry for it", i)
			}
			s.Shndx = r.u32(xindex, i*4)
		}
		if nameOff != 0 {
			n, ok := names.at(uint64(nameOff))
			if !ok {
				return nil, formatErr(f.Name, "symbol %d name offset 0x%x is outside the string table (size 0x%x)", i, nameOff, str.Size)
			}
			s.Name = n
		}
		out[i] = s
	}
	return out, nil
}

// UndefinedSymbols returns the named symbols with st_shndx == SHN_UNDEF:
// what the module needs from the kernel or other modules. Like kmod's
// kmod_elf_get_dependency_symbols it skips the null entry and empty names.
func (f *File) UndefinedSymbols() ([]Symbol, error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	var out []Symbol
	// Not really undefined: sparc gcc creates U references to global
	// register variables (STT_REGISTER), which kmod skips.
	sparc := f.Machine == emSPARC || f.Machine == emSPARCV9
	for _, s := range syms[min(1, len(syms)):] {
		if sparc && s.Type() == sttRegister {
			continue
		}
		if s.Shndx == SHNUndef && s.Name != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
