package ko

import "golang.org/x/sys/unix"

// Version is one symbol version (CONFIG_MODVERSIONS): the CRC the module
// was built against for a symbol it imports.
type Version struct {
	CRC  uint64 // unsigned long on disk: 64-bit on ELF64, 32-bit on ELF32
	Name string
}

// modversionSize is sizeof(struct modversion_info) on both word sizes
// (kernel.Kernel.Structs has a target kernel's, from its BTF).
const modversionSize = 64

// Versions decodes __versions, an array of struct modversion_info
// { unsigned long crc; char name[64 - sizeof(unsigned long)]; }. Names are
// returned as stored; kmod's kmod_elf_get_modversions also drops a leading
// '.' (ppc64 ELFv1 function descriptors), callers imitating
// `modprobe --dump-modversions` must do the same. A module without the
// section yields nil, nil; a size that is not a multiple of 64 is an error
// (kmod: -EINVAL).
func (f *File) Versions() ([]Version, error) {
	s := f.Section("__versions")
	if s == nil {
		return nil, nil
	}
	b := s.data()
	if len(b)%modversionSize != 0 {
		return nil, errnoErr(f.Name, unix.EINVAL, "__versions size 0x%x is not a multiple of %d", len(b), modversionSize)
	}
	w := f.r.wordSize()
	out := make([]Version, len(b)/modversionSize)
	for i := range out {
		e := b[i*modversionSize : (i+1)*modversionSize]
		out[i] = Version{CRC: f.r.word(e, 0), Name: cstring(e[w:])}
	}
	return out, nil
}

// ExtVersions decodes the extended modversions of Linux 6.14+
// (CONFIG_EXTENDED_MODVERSIONS): __version_ext_crcs, an array of s32, and
// __version_ext_names, the matching NUL-terminated names back to back.
// When present the kernel's check_version relies on them instead of
// __versions. Absent sections yield nil, nil; one without the other, or
// fewer names than CRCs, is the error elf_validity_cache_index_versions
// reports.
func (f *File) ExtVersions() ([]Version, error) {
	crcs, names := f.Section("__version_ext_crcs"), f.Section("__version_ext_names")
	if crcs == nil && names == nil {
		return nil, nil
	}
	if crcs == nil || names == nil {
		return nil, formatErr(f.Name, "extended version crc+name presence does not match")
	}
	c, n := crcs.data(), names.data()
	out := make([]Version, 0, len(c)/4)
	for i := 0; i+4 <= len(c); i += 4 {
		end := 0
		for end < len(n) && n[end] != 0 {
			end++
		}
		if end >= len(n) {
			return nil, formatErr(f.Name, "more extended version crcs (%d) than names (%d)", len(c)/4, len(out))
		}
		out = append(out, Version{CRC: uint64(f.r.u32(c, i)), Name: string(n[:end])})
		n = n[end+1:]
	}
	return out, nil
}
