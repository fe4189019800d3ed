package depmod

import (
	"bytes"
	"encoding/binary"

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

// elfView is the part of a module the fast path reads: the section table and the
// contents of the few sections depmod needs.
type elfView struct {
	secs     []secInfo
	sectData func(i int) []byte // contents of section i (for CRCs in other sections)
	symtab   []byte
	strtab   []byte
	ok       bool // .symtab and .strtab usable as kmod requires

	ksymtabStrings    []byte
	hasKsymtabStrings bool
	versions          []byte
	hasVersions       bool // __versions exists with a whole number of entries
}

type secInfo struct {
	typ       uint32
	off, size uint64
}

// fileBytes is Section.Data's length rule: nothing for SHT_NOBITS and SHT_NULL.
func (s secInfo) fileSize() uint64 {
	if s.typ == ko.SHTNobits || s.typ == ko.SHTNull {
		return 0
	}
	return s.size
}

// newElfView adapts a parsed module, for files the partial reader leaves to ko.
func newElfView(f *ko.File) (*elfView, bool) {
	if f.Class != 64 || f.ByteOrder != binary.LittleEndian || f.Machine == 2 || f.Machine == 43 {
		return nil, false
	}
	v := &elfView{}
	for _, s := range f.Sections {
		v.secs = append(v.secs, secInfo{typ: s.Type, off: s.Offset, size: s.Size})
	}
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
	strLen := uint64(len(v.strtab))
	var out []ko.KmodSymbol
	for p := symEnt64; p+symEnt64 <= len(v.symtab); p += symEnt64 {
		e := v.symtab[p : p+symEnt64]
		nameOff := binary.LittleEndian.Uint32(e)
		if uint64(nameOff) >= strLen {
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
		out = append(out, ko.KmodSymbol{Name: string(name), CRC: v.resolveCRC(value, shndx), Bind: bind})
	}
	return out, len(out) > 0
}

func (v *elfView) resolveCRC(crc uint64, shndx uint16) uint64 {
	if shndx == shnAbs || shndx == shnUndef {
		return crc
	}
	if int(shndx) >= len(v.secs) {
		return ^uint64(0)
	}
	d := v.sectData(int(shndx))
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
	nv := len(vers) / 64
	verName := func(j int) []byte {
		e := vers[j*64+8 : (j+1)*64]
		if i := bytes.IndexByte(e, 0); i >= 0 {
			return e[:i]
		}
		return e
	}
	byName := make(map[string]int, nv)
	for j := nv - 1; j >= 0; j-- {
		byName[string(verName(j))] = j // the first entry wins
	}
	visited := make([]bool, nv)
	strLen := uint64(len(v.strtab))
	var out []ko.KmodSymbol
	for p := symEnt64; p+symEnt64 <= len(v.symtab); p += symEnt64 {
		e := v.symtab[p : p+symEnt64]
		if binary.LittleEndian.Uint16(e[6:]) != shnUndef {
			continue
		}
		nameOff := binary.LittleEndian.Uint32(e)
		if uint64(nameOff) >= strLen {
			return nil, false
		}
		name := v.name(nameOff)
		if len(name) == 0 {
			continue
		}
		s := ko.KmodSymbol{Name: string(name), Bind: ko.BindUndef}
		if e[4]>>4 == ko.STBWeak {
			s.Bind = ko.BindWeak
		}
		if j, ok := byName[s.Name]; ok {
			visited[j] = true
			s.CRC = binary.LittleEndian.Uint64(vers[j*64:])
		}
		out = append(out, s)
	}
	for j := 0; j < nv; j++ {
		if !visited[j] {
			out = append(out, ko.KmodSymbol{Name: string(verName(j)), CRC: binary.LittleEndian.Uint64(vers[j*64:]), Bind: ko.BindUndef})
		}
	}
	return out, true
}

// elfStrings is kmod_elf_get_strings.
func elfStrings(b []byte) []string { return ko.ElfStrings(b) }

// depmodInfo returns the .modinfo entries depmod uses ("alias" and "softdep", in file
// order) as kmod_module_get_info splits them, without materializing the others.
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
		if string(key) == "alias" || string(key) == "softdep" {
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
