package ko

import (
	"encoding/binary"
	"sort"
)

// ELF constants this package needs; spelled out rather than taken from
// debug/elf so the parser has no dependency on a package that trusts its input.
const (
	elfClass32  = 1
	elfClass64  = 2
	elfData2LSB = 1
	elfData2MSB = 2

	shnUndef     = 0
	shnLoReserve = 0xff00
	shnAbs       = 0xfff1
	shnCommon    = 0xfff2
	shnXindex    = 0xffff
)

// Section types (sh_type) that the package interprets; other values are
// passed through in Section.Type untouched.
const (
	SHTNull        = 0
	SHTProgbits    = 1
	SHTSymtab      = 2
	SHTStrtab      = 3
	SHTRela        = 4
	SHTNobits      = 8
	SHTRel         = 9
	SHTSymtabShndx = 18
)

const (
	// SHFAlloc is the section flag kmod clears to make the kernel skip a
	// section (kmod_elf_strip_section) and load_module uses to pick sections.
	SHFAlloc = 0x2
)

// Section is one entry of the section header table. Numeric fields are
// widened to 64 bits for both ELF classes.
type Section struct {
	Index     int
	Name      string
	Type      uint32
	Flags     uint64
	Addr      uint64
	Offset    uint64
	Size      uint64
	Link      uint32
	Info      uint32
	Addralign uint64
	Entsize   uint64

	f *File
}

// Data returns the section's bytes as a view into the file (do not modify
// them). SHT_NOBITS sections (.bss) occupy no file space and return nil.
// Parse checked every section but the null section 0, whose fields may hold
// extended-numbering counts rather than a location; that is the error case.
func (s *Section) Data() ([]byte, error) {
	if s.Type == SHTNobits || s.Type == SHTNull || s.Size == 0 {
		return nil, nil
	}
	if s.f == nil || beyond(s.Offset, s.Size, uint64(len(s.f.image))) {
		return nil, formatErr(s.fileName(), "section %d (%s) at 0x%x size 0x%x is outside the file", s.Index, s.Name, s.Offset, s.Size)
	}
	end := s.Offset + s.Size
	return s.f.image[s.Offset:end:end], nil
}

func (s *Section) fileName() string {
	if s.f == nil {
		return ""
	}
	return s.f.Name
}

// fileSize is how many bytes of the file the section holds: 0 for
// SHT_NOBITS and SHT_NULL, whose sh_size (possibly huge) must never drive
// a loop or an allocation.
func (s *Section) fileSize() uint64 {
	if s.Type == SHTNobits || s.Type == SHTNull {
		return 0
	}
	return s.Size
}

// data is Data without the error, for internal use.
func (s *Section) data() []byte {
	b, _ := s.Data()
	return b
}

// elfHeader holds the e_* fields the reader uses.
type elfHeader struct {
	class     int
	order     binary.ByteOrder
	typ       uint16
	machine   uint16
	flags     uint32
	shoff     uint64
	shentsize uint16
	shnum     uint64
	shstrndx  uint64
}

// reader reads fixed-width fields in the file's byte order. Callers check
// bounds before reading.
type reader struct {
	order binary.ByteOrder
	is64  bool
}

func (r reader) u16(b []byte, off int) uint16 { return r.order.Uint16(b[off:]) }
func (r reader) u32(b []byte, off int) uint32 { return r.order.Uint32(b[off:]) }
func (r reader) u64(b []byte, off int) uint64 { return r.order.Uint64(b[off:]) }

// word reads an ELF "Addr/Off/Xword" field: 8 bytes on ELF64, 4 on ELF32.
func (r reader) word(b []byte, off int) uint64 {
	if r.is64 {
		return r.order.Uint64(b[off:])
	}
	return uint64(r.order.Uint32(b[off:]))
}

func (r reader) wordSize() int {
	if r.is64 {
		return 8
	}
	return 4
}

// strtab looks up NUL-terminated strings by offset. It converts the table to
// one string once and slices it, and finds string ends by binary search over
// the NUL positions, so that a hostile table referenced by many entries costs
// neither quadratic memory nor quadratic time.
type strtab struct {
	s    string
	nuls []int
}

func newStrtab(b []byte) *strtab {
	t := &strtab{s: string(b)}
	for i := 0; i < len(b); i++ {
		if b[i] == 0 {
			t.nuls = append(t.nuls, i)
		}
	}
	return t
}

// at returns the string starting at off, up to the next NUL or the end of
// the table; ok is false when off is outside the table.
func (t *strtab) at(off uint64) (string, bool) {
	if off >= uint64(len(t.s)) {
		return "", false
	}
	o := int(off)
	i := sort.SearchInts(t.nuls, o)
	end := len(t.s)
	if i < len(t.nuls) {
		end = t.nuls[i]
	}
	return t.s[o:end], true
}

// cstring returns the NUL-terminated string at the start of b (all of b if
// it has no NUL).
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// beyond reports whether a+b overflows uint64 or exceeds limit.
func beyond(a, b, limit uint64) bool {
	s := a + b
	return s < a || s > limit
}
