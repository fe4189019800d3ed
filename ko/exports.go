package ko

// Export is a symbol the module exports (EXPORT_SYMBOL*), as the kernel's
// find_symbol would see it once the module is loaded.
type Export struct {
	Name      string
	Namespace string // "" when not namespaced
	CRC       uint32 // valid when HasCRC (CONFIG_MODVERSIONS)
	HasCRC    bool
	GPL       bool   // EXPORT_SYMBOL_GPL (or _GPL_FUTURE / UNUSED_GPL)
	Unused    bool   // EXPORT_UNUSED_SYMBOL*, gone since Linux 5.12
	Section   string // the __ksymtab* section it came from
}

// exportTables lists the ksymtab/kcrctab pairs, in the order the kernel's
// find_symbol searches them.
var exportTables = []struct {
	sym, crc    string
	gpl, unused bool
}{
	{"__ksymtab", "__kcrctab", false, false},
	{"__ksymtab_gpl", "__kcrctab_gpl", true, false},
	{"__ksymtab_unused", "__kcrctab_unused", false, true},
	{"__ksymtab_unused_gpl", "__kcrctab_unused_gpl", true, true},
	{"__ksymtab_gpl_future", "__kcrctab_gpl_future", true, false},
}

// Exports decodes the module's export tables. Each struct kernel_symbol is
// { value, name, namespace } (namespace since 5.4), each field either a
// pointer or, with CONFIG_HAVE_ARCH_PREL32_RELOCATIONS (x86_64, arm64...),
// an int offset. In a .ko all fields are 0 and relocations say where they
// point: name and namespace into __ksymtab_strings. The layout is inferred
// from those relocations rather than from e_machine, so any architecture
// and kernel generation works; Debian 6.1 and 6.12 both use the 12-byte
// PREL32 form with a namespace string ("" when none) for every entry.
// __kcrctab* are parallel arrays of u32 CRCs, either raw (since 5.19) or,
// before, relocated against __crc_* symbols; both are handled.
func (f *File) Exports() ([]Export, error) {
	var targets []*Section
	for _, t := range exportTables {
		targets = append(targets, f.Section(t.sym), f.Section(t.crc))
	}
	found := false
	for _, t := range targets {
		found = found || t != nil
	}
	if !found {
		return nil, nil
	}
	v, err := f.newRelocView(targets...)
	if err != nil {
		return nil, err
	}
	var out []Export
	for _, t := range exportTables {
		sym := f.Section(t.sym)
		if sym == nil || sym.fileSize() == 0 {
			continue
		}
		fs, nf, err := v.ksymtabLayout(sym)
		if err != nil {
			return nil, err
		}
		ent := uint64(fs * nf)
		n := sym.fileSize() / ent
		crcs := f.Section(t.crc)
		crcWidth := 0
		if crcs != nil {
			switch crcs.fileSize() {
			case 4 * n:
				crcWidth = 4
			case uint64(f.r.wordSize()) * n:
				crcWidth = f.r.wordSize() // unsigned long CRCs before Linux 4.10
			}
		}
		for i := uint64(0); i < n; i++ {
			e := Export{GPL: t.gpl, Unused: t.unused, Section: t.sym}
			nt, _, _ := v.at(sym, i*ent+uint64(fs), fs)
			e.Name, _ = v.str(nt)
			if nf == 3 {
				if tt, ok, err := v.at(sym, i*ent+2*uint64(fs), fs); err != nil {
					return nil, err
				} else if ok {
					e.Namespace, _ = v.str(tt)
				}
			}
			if crcWidth != 0 {
				e.CRC, e.HasCRC, err = v.crc(crcs, i*uint64(crcWidth), crcWidth)
				if err != nil {
					return nil, err
				}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// ksymtabLayout finds the field size and count of struct kernel_symbol for
// a table: the first candidate under which every entry's name field is
// relocated to a string in __ksymtab_strings wins. Requiring that section
// (not just any readable bytes) keeps a 2-field table from passing for a
// 3-field one, whose "name" slots would land on value fields.
func (v *relocView) ksymtabLayout(sym *Section) (fieldSize, nfields int, err error) {
	w := v.f.r.wordSize()
	strs := v.f.Section("__ksymtab_strings")
	cands := [][2]int{{4, 3}, {w, 3}, {w, 2}, {4, 2}}
	for _, c := range cands {
		ent := uint64(c[0] * c[1])
		if sym.fileSize()%ent != 0 {
			continue
		}
		ok := true
		for off := uint64(0); off < sym.fileSize() && ok; off += ent {
			t, found, err := v.at(sym, off+uint64(c[0]), c[0])
			if err != nil {
				return 0, 0, err
			}
			_, readable := v.str(t)
			ok = found && readable && (strs == nil || int(t.sec) == strs.Index)
		}
		if ok {
			return c[0], c[1], nil
		}
	}
	return 0, 0, formatErr(v.f.Name, "%s: cannot find the name of every struct kernel_symbol (size 0x%x; no 2- or 3-field layout has a relocated name string in each entry)", sym.Name, sym.Size)
}

// crc reads the CRC at off in a __kcrctab section: through a relocation if
// one applies (pre-5.19 kernels), else the raw value.
func (v *relocView) crc(s *Section, off uint64, width int) (uint32, bool, error) {
	t, ok, err := v.at(s, off, width)
	if err != nil {
		return 0, false, err
	}
	if ok {
		c, ok := v.u32(t)
		return c, ok, nil
	}
	d := s.data()
	if beyond(off, uint64(width), uint64(len(d))) {
		return 0, false, nil
	}
	if width == 8 {
		return uint32(v.f.r.u64(d, int(off))), true, nil
	}
	return v.f.r.u32(d, int(off)), true, nil
}
