// Package ko reads Linux kernel module (.ko) files: ELF32/ELF64 relocatable
// objects in either byte order, optionally compressed (gzip, xz, zstd) and
// optionally followed by an appended module signature.
//
// It is the shared reader behind gokmod's insmod/modinfo/depmod/modprobe and
// the load_module model, so it mirrors libkmod (v30) where kmod's output must
// be reproduced and the kernel where the kernel's view matters; each place
// says which. All input is treated as hostile: every offset and size is
// checked before use, allocations are bounded by the input size, and a bad
// file yields a *FormatError (errors.Is(err, unix.ENOEXEC)), never a panic.
//
// A File holds the whole decompressed module; parsing beyond the ELF header
// and section table is done on demand by the accessor methods, which return
// a fresh result on every call and are safe for concurrent use.
package ko

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// File is a parsed module.
type File struct {
	// Name identifies the file in error messages (the path given to Open).
	Name string
	// Compression is the container the file was stored in (None for Parse).
	Compression Compression
	// RawSize is the size of the file as stored, before decompression.
	RawSize int64

	// Class is 32 or 64 (ELFCLASS32/ELFCLASS64).
	Class int
	// ByteOrder is the ELF data encoding.
	ByteOrder binary.ByteOrder
	// Type and Machine are e_type and e_machine (a module is ET_REL, 1).
	Type, Machine uint16
	// ELFFlags is e_flags.
	ELFFlags uint32
	// Sections is the section header table, index 0 (SHT_NULL) included.
	Sections []*Section

	data      []byte // decompressed contents, signature trailer included
	image     []byte // data without the signature trailer
	trailer   *trailer
	r         reader
	shoff     uint64 // e_shoff, kept for StripSection
	shentsize int
	unmap     func() error // set by OpenMapped
}

// Open reads a module file, decompressing it transparently (like kmod's
// kmod_file_open), and parses it. It never blocks on a FIFO or reads a device: anything
// but a regular file is a *NotRegularError (a directory is EISDIR, as a read of it).
func Open(path string) (*File, error) {
	f, size, err := OpenRegular(path)
	if err != nil {
		var nr *NotRegularError
		if errors.As(err, &nr) && nr.Kind == "directory" {
			return nil, &fs.PathError{Op: "open", Path: path, Err: unix.EISDIR}
		}
		return nil, err
	}
	defer f.Close()
	raw, err := readAll(f, path, size)
	if err != nil {
		return nil, err
	}
	data, c, err := Decompress(raw)
	if err != nil {
		if fe, ok := err.(*FormatError); ok {
			fe.Path = path
		}
		return nil, err
	}
	m, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	m.Compression = c
	m.RawSize = int64(len(raw))
	return m, nil
}

// Parse parses an uncompressed module held in data, which the File keeps and
// the caller must not modify afterwards. name is used in error messages.
//
// Parse validates the ELF header, the section header table (including
// extended numbering, e_shnum == 0 / e_shstrndx == SHN_XINDEX), the section
// name table, and that every section with file contents lies inside the
// module image. A signature trailer, if well-formed, is excluded from that
// image, as the kernel's module_sig_check does before elf_validity_check.
func Parse(name string, data []byte) (*File, error) {
	if len(data) == 0 {
		return nil, formatErr(name, "empty file")
	}
	f := &File{Name: name, RawSize: int64(len(data)), data: data, image: data}
	if t, err := parseTrailer(data); err == nil && t != nil {
		f.trailer = t
		f.image = data[:t.imageLen]
	}
	h, err := parseHeader(name, f.image)
	if err != nil {
		return nil, err
	}
	f.Class = 32
	if h.class == elfClass64 {
		f.Class = 64
	}
	f.ByteOrder = h.order
	f.Type, f.Machine, f.ELFFlags = h.typ, h.machine, h.flags
	f.r = reader{order: h.order, is64: h.class == elfClass64}
	f.shoff, f.shentsize = h.shoff, int(h.shentsize)
	if err := f.parseSections(h); err != nil {
		return nil, err
	}
	return f, nil
}

// Bytes returns the whole decompressed file, signature trailer included
// (what init_module is given). Do not modify it.
func (f *File) Bytes() []byte { return f.data }

// ModuleImage returns the module without its signature trailer: the bytes
// the kernel's module_sig_check leaves for load_module, and the bytes the
// signature covers. For an unsigned module it is the whole file.
func (f *File) ModuleImage() []byte { return f.image }

// Section returns the first section called name, or nil. Like kmod's
// kmod_elf_get_section it ignores SHF_ALLOC; the kernel's find_sec only
// considers SHF_ALLOC sections, which matters for stripped sections.
func (f *File) Section(name string) *Section {
	for _, s := range f.Sections[1:] {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// sectionData returns the contents of the named section, or nil if absent.
func (f *File) sectionData(name string) []byte {
	if s := f.Section(name); s != nil {
		return s.data()
	}
	return nil
}

// parseHeader checks e_ident and reads the ELF header fields.
func parseHeader(name string, b []byte) (*elfHeader, error) {
	if len(b) < 4 || string(b[:4]) != "\x7fELF" {
		if c := DetectCompression(b); c != None {
			return nil, formatErr(name, "not an ELF file: %v-compressed data (use Open or Decompress)", c)
		}
		n := min(len(b), 4)
		return nil, formatErr(name, "not an ELF file: magic %q, want \"\\x7fELF\"", b[:n])
	}
	if len(b) < 16 {
		return nil, formatErr(name, "truncated ELF identification: %d bytes, need 16", len(b))
	}
	h := &elfHeader{class: int(b[4])}
	switch b[5] {
	case elfData2LSB:
		h.order = binary.LittleEndian
	case elfData2MSB:
		h.order = binary.BigEndian
	default:
		return nil, formatErr(name, "unsupported ELF data encoding %d (want 1 little-endian or 2 big-endian)", b[5])
	}
	var ehsize, shentsize int
	switch h.class {
	case elfClass32:
		ehsize, shentsize = 52, 40
	case elfClass64:
		ehsize, shentsize = 64, 64
	default:
		return nil, formatErr(name, "unsupported ELF class %d (want 1 for 32-bit or 2 for 64-bit)", b[4])
	}
	if len(b) < ehsize {
		return nil, formatErr(name, "truncated ELF header: file is %d bytes, the ELF%d header needs %d", len(b), 32*h.class, ehsize)
	}
	r := reader{order: h.order, is64: h.class == elfClass64}
	h.typ = r.u16(b, 16)
	h.machine = r.u16(b, 18)
	if r.is64 {
		h.shoff = r.u64(b, 40)
		h.flags = r.u32(b, 48)
		h.shentsize = r.u16(b, 58)
		h.shnum = uint64(r.u16(b, 60))
		h.shstrndx = uint64(r.u16(b, 62))
	} else {
		h.shoff = uint64(r.u32(b, 32))
		h.flags = r.u32(b, 36)
		h.shentsize = r.u16(b, 46)
		h.shnum = uint64(r.u16(b, 48))
		h.shstrndx = uint64(r.u16(b, 50))
	}
	if h.shoff == 0 {
		return nil, formatErr(name, "no section header table (e_shoff is 0)")
	}
	if int(h.shentsize) != shentsize {
		return nil, formatErr(name, "section header entry size %d, want %d for ELF%d", h.shentsize, shentsize, 32*h.class)
	}
	return h, nil
}

// parseSections reads the section header table and names, and checks that
// every section's contents lie in the image, as the kernel's
// elf_validity_check does (kmod merely skips such sections on lookup).
func (f *File) parseSections(h *elfHeader) error {
	b, name, r := f.image, f.Name, f.r
	size := uint64(len(b))
	ent := uint64(h.shentsize)
	if beyond(h.shoff, ent, size) {
		return formatErr(name, "section header table at 0x%x extends past the end of the file (size %d)", h.shoff, size)
	}
	// Extended numbering: counts too large for the header live in section 0.
	sh0 := b[h.shoff:]
	if h.shnum == 0 {
		if r.is64 {
			h.shnum = r.u64(sh0, 32)
		} else {
			h.shnum = uint64(r.u32(sh0, 20))
		}
		if h.shnum == 0 {
			return formatErr(name, "no sections (e_shnum and section 0 sh_size are both 0)")
		}
	}
	if h.shstrndx == shnXindex {
		if r.is64 {
			h.shstrndx = uint64(r.u32(sh0, 40))
		} else {
			h.shstrndx = uint64(r.u32(sh0, 24))
		}
	}
	if h.shnum > size/ent || beyond(h.shoff, h.shnum*ent, size) {
		return formatErr(name, "section header table at 0x%x (%d entries of %d bytes) extends past the end of the file (size %d)",
			h.shoff, h.shnum, ent, size)
	}
	if h.shstrndx == shnUndef || h.shstrndx >= h.shnum {
		return formatErr(name, "section name table index %d out of range (%d sections)", h.shstrndx, h.shnum)
	}
	secs := make([]*Section, h.shnum)
	for i := range secs {
		p := b[h.shoff+uint64(i)*ent:]
		s := &Section{Index: i, f: f}
		s.Type = r.u32(p, 4)
		if r.is64 {
			s.Flags = r.u64(p, 8)
			s.Addr = r.u64(p, 16)
			s.Offset = r.u64(p, 24)
			s.Size = r.u64(p, 32)
			s.Link = r.u32(p, 40)
			s.Info = r.u32(p, 44)
			s.Addralign = r.u64(p, 48)
			s.Entsize = r.u64(p, 56)
		} else {
			s.Flags = uint64(r.u32(p, 8))
			s.Addr = uint64(r.u32(p, 12))
			s.Offset = uint64(r.u32(p, 16))
			s.Size = uint64(r.u32(p, 20))
			s.Link = r.u32(p, 24)
			s.Info = r.u32(p, 28)
			s.Addralign = uint64(r.u32(p, 32))
			s.Entsize = uint64(r.u32(p, 36))
		}
		secs[i] = s
	}
	shstr := secs[h.shstrndx]
	if shstr.Type == SHTNobits || beyond(shstr.Offset, shstr.Size, size) {
		return formatErr(name, "section name table (section %d) at 0x%x size 0x%x extends past the end of the file (size %d)",
			h.shstrndx, shstr.Offset, shstr.Size, size)
	}
	names := b[shstr.Offset : shstr.Offset+shstr.Size]
	if len(names) == 0 || names[len(names)-1] != 0 {
		return formatErr(name, "section name table (section %d) is empty or not NUL-terminated", h.shstrndx)
	}
	tab := newStrtab(names)
	for i, s := range secs {
		off := uint64(r.u32(b, int(h.shoff+uint64(i)*ent)))
		n, ok := tab.at(off)
		if !ok {
			return formatErr(name, "section %d name offset 0x%x is outside the section name table (size 0x%x)", i, off, len(names))
		}
		s.Name = n
		if i > 0 && s.Type != SHTNobits && beyond(s.Offset, s.Size, size) {
			return formatErr(name, "section %d (%s) at 0x%x size 0x%x extends past the end of the file (size %d)",
				i, s.Name, s.Offset, s.Size, size)
		}
	}
	f.Sections = secs
	return nil
}

// String describes the module briefly, for debugging.
func (f *File) String() string {
	return fmt.Sprintf("%s: ELF%d %v, %d sections, %v", f.Name, f.Class, f.ByteOrder, len(f.Sections), f.Compression)
}
