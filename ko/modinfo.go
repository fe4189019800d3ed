package ko

import "strings"

// KV is one .modinfo entry. An entry without '=' has the whole string as
// Key and an empty Value, as kmod_module_get_info treats it.
type KV struct {
	Key, Value string
}

// ModInfoStrings returns the raw strings of the .modinfo section in file
// order, mirroring kmod 30's kmod_elf_get_strings: leading NUL padding is
// skipped, runs of NULs separate strings, an unterminated final string
// counts, and (kmod's quirk) a section that is a single byte after the
// padding yields nothing.
func (f *File) ModInfoStrings() []string {
	return elfStrings(f.sectionData(".modinfo"))
}

// ElfStrings is kmod 30's kmod_elf_get_strings on a section's bytes (see
// ModInfoStrings), for callers that read .modinfo without a File.
func ElfStrings(b []byte) []string { return elfStrings(b) }

// elfStrings is kmod_elf_get_strings on a section's bytes. It copies the
// section once and slices the strings out of that copy, rather than one
// allocation per string: modinfo over a whole tree makes tens of thousands.
func elfStrings(b []byte) []string {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) <= 1 {
		return nil
	}
	s := string(b)
	return AppendElfStrings(make([]string, 0, countStrings(s)), s)
}

// AppendElfStrings appends to dst what ElfStrings gives for a section held
// in s, as slices of s rather than copies: for a caller that reuses its
// memory from module to module (modinfo's workers), s may be a view of a
// buffer it then owns the lifetime of.
func AppendElfStrings(dst []string, s string) []string {
	for len(s) > 1 && s[0] == 0 {
		s = s[1:]
	}
	if len(s) <= 1 {
		return dst
	}
	for len(s) > 0 {
		if s[0] == 0 {
			s = s[1:]
			continue
		}
		j := strings.IndexByte(s, 0)
		if j < 0 {
			j = len(s)
		}
		dst = append(dst, s[:j])
		s = s[j:]
	}
	return dst
}

// countStrings counts the NUL-separated non-empty strings in s, to size
// elfStrings' result exactly (no regrowth, and no allocation beyond what
// the section really holds).
func countStrings(s string) int {
	n := 0
	for len(s) > 0 {
		if s[0] == 0 {
			s = s[1:]
			continue
		}
		n++
		j := strings.IndexByte(s, 0)
		if j < 0 {
			break
		}
		s = s[j:]
	}
	return n
}

// ModInfo returns the .modinfo key=value pairs in file order, repeated keys
// kept (alias, parm, depends...), as kmod's modinfo lists them before the
// signature lines.
func (f *File) ModInfo() []KV {
	strs := f.ModInfoStrings()
	out := make([]KV, len(strs))
	for i, s := range strs {
		if k, v, ok := strings.Cut(s, "="); ok {
			out[i] = KV{k, v}
		} else {
			out[i] = KV{Key: s}
		}
	}
	return out
}

// ModInfoValues returns the values of every .modinfo entry named key, in
// file order (what `modinfo -F key` prints, one per line).
func (f *File) ModInfoValues(key string) []string {
	var out []string
	for _, kv := range f.ModInfo() {
		if kv.Key == key {
			out = append(out, kv.Value)
		}
	}
	return out
}

// ModInfoValue returns the first value for key and whether there was one;
// convenient for single-valued keys like vermagic, license or name.
func (f *File) ModInfoValue(key string) (string, bool) {
	for _, kv := range f.ModInfo() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}
