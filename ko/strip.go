package ko

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// StripSection returns a copy of img with SHF_ALLOC cleared on the first
// section called name, so load_module leaves it out; img is a whole uncompressed
// module as given to init_module (a signature trailer is kept, and no longer
// matches). It mirrors kmod 30's kmod_elf_strip_section, which insmod
// --force-modversion applies to "__versions"; a missing section is an error
// matching unix.ENOENT, after which kmod loads the module unchanged.
func StripSection(img []byte, name string) ([]byte, error) {
	f, err := Parse("", img)
	if err != nil {
		return nil, err
	}
	s := f.Section(name)
	if s == nil {
		return nil, &FormatError{Msg: "no section " + name, Errno: unix.ENOENT, Err: ErrNoSection}
	}
	out := bytes.Clone(img)
	r := f.r
	off := int(f.shoff) + s.Index*f.shentsize + 8 // sh_flags follows sh_name and sh_type
	if r.is64 {
		r.order.PutUint64(out[off:], s.Flags&^SHFAlloc)
	} else {
		r.order.PutUint32(out[off:], uint32(s.Flags&^SHFAlloc))
	}
	return out, nil
}

// StripVermagic returns a copy of img with the .modinfo "vermagic=..."
// string overwritten with NULs, so the kernel sees no vermagic and skips the
// check (tainting). It mirrors kmod 30's kmod_elf_strip_vermagic, used by
// insmod --force-vermagic: after skipping leading padding it looks for a
// string starting with "vermagic=" that leaves at least one byte after the
// prefix in the section, and zeroes up to its terminating NUL. An empty
// .modinfo returns an unchanged copy; no vermagic matches unix.ENOENT.
func StripVermagic(img []byte) ([]byte, error) {
	f, err := Parse("", img)
	if err != nil {
		return nil, err
	}
	s := f.Section(".modinfo")
	if s == nil {
		return nil, &FormatError{Msg: "no section .modinfo", Errno: unix.ENOENT, Err: ErrNoSection}
	}
	b := s.data()
	start := int(s.Offset)
	if s.Type == SHTNobits {
		b = nil
	}
	for len(b) > 1 && b[0] == 0 {
		b, start = b[1:], start+1
	}
	if len(b) <= 1 {
		return bytes.Clone(img), nil
	}
	const key = "vermagic="
	for i := 0; i < len(b); i++ {
		if b[i] == 0 || i+1 >= len(b) {
			continue
		}
		n := bytes.IndexByte(b[i:], 0)
		if n < 0 {
			n = len(b) - i
		}
		if i+len(key) >= len(b) || !bytes.HasPrefix(b[i:], []byte(key)) {
			i += n
			continue
		}
		out := bytes.Clone(img)
		clear(out[start+i : start+i+n])
		return out, nil
	}
	return nil, &FormatError{Msg: "no vermagic in .modinfo", Errno: unix.ENOENT}
}
