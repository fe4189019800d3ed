package ko

// kmod's symbol bind codes (enum kmod_symbol_bind), as depmod writes them.
const (
	BindNone   = 0
	BindLocal  = 'L'
	BindGlobal = 'G'
	BindWeak   = 'W'
	BindUndef  = 'U'
)

// KmodSymbol is a symbol as libkmod's struct kmod_modversion describes it:
// what depmod and modprobe --dump-modversions work from.
type KmodSymbol struct {
	Name string
	CRC  uint64
	Bind byte // BindLocal, BindGlobal, BindWeak, BindUndef or BindNone
}

// kmodCRCUnknown is the (uint64_t)-1 kmod_elf_resolve_crc returns when the
// section a __crc_ symbol points into cannot be read.
const kmodCRCUnknown = ^uint64(0)

// KmodSymbols returns the exported symbols exactly as kmod 30's
// kmod_elf_get_symbols computes them for depmod: from the .symtab
// "__crc_NAME" symbols (CRC read from the section they point into, or their
// value if absolute), falling back, when there are none or .symtab/.strtab
// are unusable, to every string of __ksymtab_strings with CRC 0 and bind
// 'G'. The fallback, like kmod's, also lists namespace strings. nil, nil
// when even __ksymtab_strings is missing (kmod: -ENOENT, which depmod
// treats as "no symbols").
func (f *File) KmodSymbols() ([]KmodSymbol, error) {
	if out, ok := f.kmodCRCSymbols(); ok {
		return out, nil
	}
	s := f.Section("__ksymtab_strings")
	if s == nil {
		return nil, nil
	}
	var out []KmodSymbol
	for _, n := range elfStrings(s.data()) {
		out = append(out, KmodSymbol{Name: n, Bind: BindGlobal})
	}
	return out, nil
}

// kmodSymtab is kmod's way of finding the symbol table: by name, requiring a
// whole number of entries. ok is false where kmod would give up.
func (f *File) kmodSymtab() (syms []byte, strs *strtab, strLen uint64, ok bool) {
	st, ss := f.Section(".strtab"), f.Section(".symtab")
	if st == nil || ss == nil || ss.fileSize()%f.symEntSize() != 0 {
		return nil, nil, 0, false
	}
	d := st.data()
	return ss.data(), newStrtab(d), uint64(len(d)), true
}

// rawSym reads the fields kmod reads from .symtab entry i.
func (f *File) rawSym(b []byte, i int) (nameOff uint32, value uint64, info uint8, shndx uint16) {
	p := b[uint64(i)*f.symEntSize():]
	r := f.r
	if r.is64 {
		return r.u32(p, 0), r.u64(p, 8), p[4], r.u16(p, 6)
	}
	return r.u32(p, 0), uint64(r.u32(p, 4)), p[12], r.u16(p, 14)
}

func (f *File) kmodCRCSymbols() ([]KmodSymbol, bool) {
	const prefix = "__crc_"
	syms, strs, strLen, ok := f.kmodSymtab()
	if !ok {
		return nil, false
	}
	n := len(syms) / int(f.symEntSize())
	var out []KmodSymbol
	for i := 1; i < n; i++ {
		nameOff, value, info, shndx := f.rawSym(syms, i)
		if uint64(nameOff) >= strLen {
			return nil, false
		}
		name, _ := strs.at(uint64(nameOff))
		if len(name) < len(prefix) || name[:len(prefix)] != prefix {
			continue
		}
		var bind byte
		switch info >> 4 {
		case STBLocal:
			bind = BindLocal
		case STBGlobal:
			bind = BindGlobal
		case STBWeak:
			bind = BindWeak
		}
		out = append(out, KmodSymbol{Name: name[len(prefix):], CRC: f.kmodResolveCRC(value, shndx), Bind: bind})
	}
	return out, len(out) > 0
}

// kmodResolveCRC mirrors kmod_elf_resolve_crc.
func (f *File) kmodResolveCRC(crc uint64, shndx uint16) uint64 {
	if shndx == shnAbs || shndx == shnUndef {
		return crc
	}
	if int(shndx) >= len(f.Sections) {
		return kmodCRCUnknown
	}
	d := f.Sections[shndx].data()
	if len(d) < 4 || crc > uint64(len(d)-4) {
		return kmodCRCUnknown
	}
	return uint64(f.r.u32(d, int(crc)))
}

// KmodDependencySymbols mirrors kmod 30's kmod_elf_get_dependency_symbols,
// which depmod uses to resolve dependencies: every named undefined symbol
// in .symtab order (bind 'W' for weak, else 'U') with the CRC its
// __versions entry gives (0 if none), then the __versions entries no
// undefined symbol matched (module_layout, struct_module...) with bind 'U'.
// A __versions section of the wrong size is ignored, as kmod does.
func (f *File) KmodDependencySymbols() ([]KmodSymbol, error) {
	var vers []Version
	if s := f.Section("__versions"); s != nil && s.fileSize()%modversionSize == 0 {
		vers, _ = f.Versions()
	}
	syms, strs, strLen, ok := f.kmodSymtab()
	if !ok {
		return nil, formatErr(f.Name, "no usable .symtab/.strtab")
	}
	visited := make([]bool, len(vers))
	byName := make(map[string]int, len(vers))
	for i := len(vers) - 1; i >= 0; i-- {
		byName[vers[i].Name] = i // first entry wins, as kmod_elf_crc_find's scan
	}
	sparc := f.Machine == emSPARC || f.Machine == emSPARCV9
	n := len(syms) / int(f.symEntSize())
	var out []KmodSymbol
	for i := 1; i < n; i++ {
		nameOff, _, info, shndx := f.rawSym(syms, i)
		if shndx != shnUndef || (sparc && info&0xf == sttRegister) {
			continue
		}
		if uint64(nameOff) >= strLen {
			return nil, formatErr(f.Name, ".strtab is %d bytes, but .symtab entry %d wants offset %d", strLen, i, nameOff)
		}
		name, _ := strs.at(uint64(nameOff))
		if name == "" {
			continue
		}
		s := KmodSymbol{Name: name, Bind: BindUndef}
		if info>>4 == STBWeak {
			s.Bind = BindWeak
		}
		if j, ok := byName[name]; ok {
			visited[j] = true
			s.CRC = vers[j].CRC
		}
		out = append(out, s)
	}
	for j, v := range vers {
		if !visited[j] {
			out = append(out, KmodSymbol{Name: v.Name, CRC: v.CRC, Bind: BindUndef})
		}
	}
	return out, nil
}
