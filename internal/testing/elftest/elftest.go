// Package elftest builds small synthetic ELF relocatable objects shaped like
// kernel modules, in both classes and byte orders, for tests and fuzz seeds.
// It writes exactly what it is told, so tests can also build broken files.
package elftest

import (
	"encoding/binary"
)

// Section is one section to emit. The null section 0 and the section name
// table are added by Build; Sections[i] becomes index i+1.
type Section struct {
	Name      string
	Type      uint32
	Flags     uint64
	Addr      uint64
	Link      uint32
	Info      uint32
	Addralign uint64
	Entsize   uint64
	Data      []byte
	Size      uint64 // used instead of len(Data) for SHT_NOBITS
}

// File describes an object to build.
type File struct {
	Class    int // 32 or 64
	Order    binary.ByteOrder
	Machine  uint16
	Type     uint16 // e_type; 0 means ET_REL
	Sections []Section
}

// ELF constants used by builders.
const (
	SHTProgbits = 1
	SHTSymtab   = 2
	SHTStrtab   = 3
	SHTRela     = 4
	SHTNobits   = 8
	SHTRel      = 9
	SHFAlloc    = 2
	SHFWrite    = 1
	EMX86_64    = 62
	EM386       = 3
	EMPPC       = 20
	EMS390      = 22
	EMARM       = 40
)

// Layout records where Build put things, so tests can corrupt them.
type Layout struct {
	Shoff     int   // section header table offset
	Shentsize int   // 40 or 64
	Offsets   []int // file offset of each section's data, index = section index
	Shstrndx  int
}

func (f *File) is64() bool { return f.Class == 64 }

// Build lays the file out as header, section contents, name table, section
// header table.
func (f *File) Build() ([]byte, Layout) {
	o := f.Order
	if o == nil {
		o = binary.LittleEndian
	}
	ehsize, shentsize := 52, 40
	if f.is64() {
		ehsize, shentsize = 64, 64
	}
	secs := append([]Section{{}}, f.Sections...)
	secs = append(secs, Section{Name: ".shstrtab", Type: SHTStrtab})
	shstr := []byte{0}
	nameOff := make([]int, len(secs))
	for i, s := range secs[1:] {
		nameOff[i+1] = len(shstr)
		shstr = append(append(shstr, s.Name...), 0)
	}
	secs[len(secs)-1].Data = shstr
	buf := make([]byte, ehsize)
	lay := Layout{Shentsize: shentsize, Offsets: make([]int, len(secs)), Shstrndx: len(secs) - 1}
	for i := 1; i < len(secs); i++ {
		s := secs[i]
		if s.Type == SHTNobits {
			lay.Offsets[i] = len(buf)
			continue
		}
		align := int(s.Addralign)
		if align > 1 {
			for len(buf)%align != 0 {
				buf = append(buf, 0)
			}
		}
		lay.Offsets[i] = len(buf)
		buf = append(buf, s.Data...)
	}
	for len(buf)%8 != 0 {
		buf = append(buf, 0)
	}
	lay.Shoff = len(buf)
	for i, s := range secs {
		h := make([]byte, shentsize)
		size := uint64(len(s.Data))
		if s.Type == SHTNobits {
			size = s.Size
		}
		off := uint64(lay.Offsets[i])
		if i == 0 {
			off = 0
		}
		o.PutUint32(h[0:], uint32(nameOff[i]))
		o.PutUint32(h[4:], s.Type)
		if f.is64() {
			o.PutUint64(h[8:], s.Flags)
			o.PutUint64(h[16:], s.Addr)
			o.PutUint64(h[24:], off)
			o.PutUint64(h[32:], size)
			o.PutUint32(h[40:], s.Link)
			o.PutUint32(h[44:], s.Info)
			o.PutUint64(h[48:], s.Addralign)
			o.PutUint64(h[56:], s.Entsize)
		} else {
			o.PutUint32(h[8:], uint32(s.Flags))
			o.PutUint32(h[12:], uint32(s.Addr))
			o.PutUint32(h[16:], uint32(off))
			o.PutUint32(h[20:], uint32(size))
			o.PutUint32(h[24:], s.Link)
			o.PutUint32(h[28:], s.Info)
			o.PutUint32(h[32:], uint32(s.Addralign))
			o.PutUint32(h[36:], uint32(s.Entsize))
		}
		buf = append(buf, h...)
	}
	// ELF header.
	copy(buf, "\x7fELF")
	buf[4] = 1
	if f.is64() {
		buf[4] = 2
	}
	buf[5] = 1
	if o == binary.ByteOrder(binary.BigEndian) {
		buf[5] = 2
	}
	buf[6] = 1 // EV_CURRENT
	typ := f.Type
	if typ == 0 {
		typ = 1
	}
	o.PutUint16(buf[16:], typ)
	o.PutUint16(buf[18:], f.Machine)
	o.PutUint32(buf[20:], 1)
	if f.is64() {
		o.PutUint64(buf[40:], uint64(lay.Shoff))
		o.PutUint16(buf[52:], uint16(ehsize))
		o.PutUint16(buf[58:], uint16(shentsize))
		o.PutUint16(buf[60:], uint16(len(secs)))
		o.PutUint16(buf[62:], uint16(len(secs)-1))
	} else {
		o.PutUint32(buf[32:], uint32(lay.Shoff))
		o.PutUint16(buf[40:], uint16(ehsize))
		o.PutUint16(buf[46:], uint16(shentsize))
		o.PutUint16(buf[48:], uint16(len(secs)))
		o.PutUint16(buf[50:], uint16(len(secs)-1))
	}
	return buf, lay
}

// Sym is a symbol table entry to emit.
type Sym struct {
	Name  string
	Value uint64
	Size  uint64
	Info  uint8
	Other uint8
	Shndx uint16
}

// Symtab encodes syms (a null entry is prepended) and their string table.
func Symtab(class int, o binary.ByteOrder, syms []Sym) (symtab, strtab []byte) {
	strtab = []byte{0}
	ent := 16
	if class == 64 {
		ent = 24
	}
	symtab = make([]byte, ent*(len(syms)+1))
	for i, s := range syms {
		p := symtab[(i+1)*ent:]
		name := 0
		if s.Name != "" {
			name = len(strtab)
			strtab = append(append(strtab, s.Name...), 0)
		}
		o.PutUint32(p, uint32(name))
		if class == 64 {
			p[4], p[5] = s.Info, s.Other
			o.PutUint16(p[6:], s.Shndx)
			o.PutUint64(p[8:], s.Value)
			o.PutUint64(p[16:], s.Size)
		} else {
			o.PutUint32(p[4:], uint32(s.Value))
			o.PutUint32(p[8:], uint32(s.Size))
			p[12], p[13] = s.Info, s.Other
			o.PutUint16(p[14:], s.Shndx)
		}
	}
	return symtab, strtab
}

// Rel is a relocation to emit; Sym is a symbol index (1-based, as in the
// table Symtab builds).
type Rel struct {
	Off    uint64
	Sym    uint32
	Type   uint32
	Addend int64
}

// Relocs encodes SHT_RELA entries (rela) or SHT_REL entries.
func Relocs(class int, o binary.ByteOrder, rela bool, rs []Rel) []byte {
	var out []byte
	for _, r := range rs {
		if class == 64 {
			e := make([]byte, 16)
			o.PutUint64(e, r.Off)
			o.PutUint64(e[8:], uint64(r.Sym)<<32|uint64(r.Type))
			if rela {
				e = append(e, make([]byte, 8)...)
				o.PutUint64(e[16:], uint64(r.Addend))
			}
			out = append(out, e...)
		} else {
			e := make([]byte, 8)
			o.PutUint32(e, uint32(r.Off))
			o.PutUint32(e[4:], r.Sym<<8|r.Type&0xff)
			if rela {
				e = append(e, make([]byte, 4)...)
				o.PutUint32(e[8:], uint32(r.Addend))
			}
			out = append(out, e...)
		}
	}
	return out
}

// Strings joins strings with NUL terminators, .modinfo style.
func Strings(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return b
}

// Sign appends a module signature trailer: sig, then struct
// module_signature {algo, hash, id_type, signer_len, key_id_len, pad[3],
// be32 sig_len}, then the magic.
func Sign(img []byte, idType uint8, signer, keyID, sig []byte) []byte {
	out := append([]byte(nil), img...)
	out = append(out, signer...)
	out = append(out, keyID...)
	out = append(out, sig...)
	ms := []byte{0, 0, idType, byte(len(signer)), byte(len(keyID)), 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(ms[8:], uint32(len(sig)))
	out = append(out, ms...)
	return append(out, "~Module signature appended~\n"...)
}
