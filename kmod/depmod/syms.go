package depmod

import (
	"bytes"
	"encoding/binary"
	"unsafe"

	"gokmod/ko"
)

// The ko package's KmodSymbols and KmodDependencySymbols are kmod's algorithms for any
// ELF; depmod calls them on thousands of files, so this file has the same algorithms
// for the common case — little-endian ELF64 (x86-64) — without their general-purpose
// indexing of the string table. Anything else goes to ko. syms_test.go checks that both
// give identical results on every module of the test trees.

const (
	shnUndef  = 0
	shnAbs    = 0xfff1
	symEnt64  = 24
	crcPrefix = "__crc_"
)

// elfView is the part of a module the fast path reads: the number of sections and the
// contents of the few sections depmod needs.
type elfView struct {
	nsecs    int
	sectData func(i int) []byte // contents of section i (for CRCs in other sections)
	symtab   []byte
	strtab   []byte
	ok       bool // .symtab and .strtab usable as kmod requires

	ksymtabStrings    []byte
	hasKsymtabStrings bool
	versions          []byte
	hasVersions       bool // __versions exists with a whole number of entries

	scratch *symScratch // reused between modules by one reader; nil: allocate
	crcData map[int][]byte
}

// symScratch is what one reader reuses from module to module, so that extracting a
// module's symbols costs two allocations (its names, its list) instead of one per symbol.
type symScratch struct {
	versions map[string]int // __versions name → first entry; keys point into the module's buffer
	names    []byte         // every name extracted, back to back
	syms     []pendingSym
	visited  []bool
}

// pendingSym is a symbol whose name is names[start:end] until the names become a string.
type pendingSym struct {
	start, end int
	crc        uint64
	bind       byte
}

func (sc *symScratch) add(name []byte, crc uint64, bind byte) {
	start := len(sc.names)
	sc.names = append(sc.names, name...)
	sc.syms = append(sc.syms, pendingSym{start, len(sc.names), crc, bind})
}

// take returns the symbols added since reset, their names sharing one string.
func (sc *symScratch) take() []ko.KmodSymbol {
	if len(sc.syms) == 0 {
		return nil
	}
	all := string(sc.names)
	out := make([]ko.KmodSymbol, len(sc.syms))
	for i, p := range sc.syms {
		out[i] = ko.KmodSymbol{Name: all[p.start:p.end], CRC: p.crc, Bind: p.bind}
	}
	sc.reset()
	return out
}

func (sc *symScratch) reset() { sc.names, sc.syms = sc.names[:0], sc.syms[:0] }

func (v *elfView) scr() *symScratch {
	if v.scratch == nil {
		v.scratch = &symScratch{}
	}
	return v.scratch
}

// newElfView adapts a parsed module, for files the partial reader leaves to ko.
func newElfView(f *ko.File) (*elfView, bool) {
	if f.Class != 64 || f.ByteOrder != binary.LittleEndian || f.Machine == 2 || f.Machine == 43 {
		return nil, false
	}
	v := &elfView{nsecs: len(f.Sections)}
	v.sectData = func(i int) []byte { d, _ := f.Sections[i].Data(); return d }
	st, ss := f.Section(".strtab"), f.Section(".symtab")
	if st != nil && ss != nil && fileSize(ss)%symEnt64 == 0 {
		v.strtab, _ = st.Data()
		v.symtab, _ = ss.Data()
		v.ok = true
	}
	if s := f.Section("__ksymtab_strings"); s != nil {
		v.ksymtabStrings, _ = s.Data()
		v.hasKsymtabStrings = true
	}
	if s := f.Section("__versions"); s != nil && fileSize(s)%64 == 0 {
		v.versions, _ = s.Data()
		v.hasVersions = true
	}
	return v, true
}

// name returns the NUL-terminated string at off of .strtab (to its end if unterminated).
func (v *elfView) name(off uint32) []byte {
	b := v.strtab[off:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// exports is ko.File.KmodSymbols.
func (v *elfView) exports() []ko.KmodSymbol {
	if out, ok := v.crcSymbols(); ok {
		return out
	}
	if !v.hasKsymtabStrings {
		return nil
	}
	var out []ko.KmodSymbol
	for _, n := range elfStrings(v.ksymtabStrings) {
		out = append(out, ko.KmodSymbol{Name: n, Bind: ko.BindGlobal})
	}
	return out
}

func (v *elfView) crcSymbols() ([]ko.KmodSymbol, bool) {
	if !v.ok {
		return nil, false
	}
	sc := v.scr()
	sc.reset()
	strLen := uint64(len(v.strtab))
	for p := symEnt64; p+symEnt64 <= len(v.symtab); p += symEnt64 {
		e := v.symtab[p : p+symEnt64]
		nameOff := binary.LittleEndian.Uint32(e)
		if uint64(nameOff) >= strLen {
			sc.reset()
			return nil, false
		}
		if t := v.strtab[nameOff:]; len(t) < len(crcPrefix) || t[0] != '_' || t[1] != '_' || string(t[2:6]) != "crc_" {
			continue
		}
		name := v.name(nameOff)[len(crcPrefix):]
		var bind byte
		switch e[4] >> 4 {
		case ko.STBLocal:
			bind = ko.BindLocal
		case ko.STBGlobal:
			bind = ko.BindGlobal
		case ko.STBWeak:
			bind = ko.BindWeak
		}
		shndx := binary.LittleEndian.Uint16(e[6:])
		value := binary.LittleEndian.Uint64(e[8:])
		sc.add(name, v.resolveCRC(value, shndx), bind)
	}
	out := sc.take()
	return out, len(out) > 0
}

func (v *elfView) resolveCRC(crc uint64, shndx uint16) uint64 {
	if shndx == shnAbs || shndx == shnUndef {
		return crc
	}
	if int(shndx) >= v.nsecs {
		return ^uint64(0)
	}
	// Every CRC of a module lives in the same section or two: read each once.
	d, ok := v.crcData[int(shndx)]
	if !ok {
		d = v.sectData(int(shndx))
		if v.crcData == nil {
			v.crcData = map[int][]byte{}
		}
		v.crcData[int(shndx)] = d
	}
	if len(d) < 4 || crc > uint64(len(d)-4) {
		return ^uint64(0)
	}
	return uint64(binary.LittleEndian.Uint32(d[crc:]))
}

// dependencySymbols is ko.File.KmodDependencySymbols; ok is false where it fails.
func (v *elfView) dependencySymbols() ([]ko.KmodSymbol, bool) {
	vers := v.versions
	if !v.ok {
		return nil, false
	}
	sc := v.scr()
	sc.reset()
	nv := len(vers) / 64
	verName := func(j int) []byte {
		e := vers[j*64+8 : (j+1)*64]
		if i := bytes.IndexByte(e, 0); i >= 0 {
			return e[:i]
		}
		return e
	}
	if sc.versions == nil {
		sc.versions = make(map[string]int, nv)
	}
	byName := sc.versions
	clear(byName)
	defer clear(byName) // its keys point into vers, which the reader reuses
	for j := nv - 1; j >= 0; j-- {
		if n := verName(j); len(n) > 0 {
			byName[unsafe.String(&n[0], len(n))] = j // the first entry wins
		} else {
			byName[""] = j
		}
	}
	visited := sc.visited[:0]
	for range nv {
		visited = append(visited, false)
	}
	sc.visited = visited
	strLen := uint64(len(v.strtab))
	for p := symEnt64; p+symEnt64 <= len(v.symtab); p += symEnt64 {
		e := v.symtab[p : p+symEnt64]
		if binary.LittleEndian.Uint16(e[6:]) != shnUndef {
			continue
		}
		nameOff := binary.LittleEndian.Uint32(e)
		if uint64(nameOff) >= strLen {
			sc.reset()
			return nil, false
		}
		name := v.name(nameOff)
		if len(name) == 0 {
			continue
		}
		bind := byte(ko.BindUndef)
		if e[4]>>4 == ko.STBWeak {
			bind = ko.BindWeak
		}
		var crc uint64
		if j, ok := byName[string(name)]; ok {
			visited[j] = true
			crc = binary.LittleEndian.Uint64(vers[j*64:])
		}
		sc.add(name, crc, bind)
	}
	for j := 0; j < nv; j++ {
		if !visited[j] {
			sc.add(verName(j), binary.LittleEndian.Uint64(vers[j*64:]), ko.BindUndef)
		}
	}
	return sc.take(), true
}

// elfStrings is kmod_elf_get_strings.
func elfStrings(b []byte) []string { return ko.ElfStrings(b) }

// depmodInfo returns the .modinfo entries depmod uses ("alias", "softdep" and kmod 34's
// "weakdep", in file order; kmod 30's outputs skip the weakdeps, so the cache's records
// serve both) as kmod_module_get_info splits them, without materializing the others.
func depmodInfo(f *ko.File) []ko.KV {
	s := f.Section(".modinfo")
	if s == nil {
		return nil
	}
	b, _ := s.Data()
	return modinfoEntries(b)
}

// modinfoEntries is depmodInfo on the section's bytes.
func modinfoEntries(b []byte) []ko.KV {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) <= 1 {
		return nil
	}
	var out []ko.KV
	for i := 0; i < len(b); {
		if b[i] == 0 {
			i++
			continue
		}
		j := i + bytes.IndexByte(b[i:], 0)
		if j < i {
			j = len(b)
		}
		str := b[i:j]
		key, val := str, []byte(nil)
		if k := bytes.IndexByte(str, '='); k >= 0 {
			key, val = str[:k], str[k+1:]
		}
		if string(key) == "alias" || string(key) == "softdep" || string(key) == "weakdep" {
			out = append(out, ko.KV{Key: string(key), Value: string(val)})
		}
		i = j
	}
	return out
}

// fileSize is how many bytes of the file a section holds (0 for NOBITS and NULL).
func fileSize(s *ko.Section) uint64 {
	if s.Type == ko.SHTNobits || s.Type == ko.SHTNull {
		return 0
	}
	return s.Size
}
