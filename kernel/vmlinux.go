package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"gokmod/kernel/cert"
)

// vmlinux is the decompressed kernel image (a linked, usually stripped ELF). Linked
// sections carry their run-time addresses, so the pointers and PREL32 offsets inside
// __ksymtab, __param and __modver can be followed without relocations. On Debian the
// PVH boot used by the tests disables KASLR, so these are also the real addresses.
type vmlinux struct {
	f    *elf.File
	file io.Closer // the vmlinux file read on demand; nil when decompressed in memory
	secs []*elf.Section
	data map[*elf.Section][]byte
	read int64 // bytes of section data read so far
	// how says where the ELF came from: "ELF" for a vmlinux file, else how
	// ExtractVmlinux found it in a bzImage ("xz payload at offset 20480").
	how string
}

// openVmlinux opens path as a kernel ELF: a vmlinux, whose sections are read on
// demand, or a bzImage (vmlinuz), whose payload is decompressed into memory. Either
// file, and the ELF in a bzImage, may be at most MaxVmlinuxSize bytes, which bounds
// what reading its sections can allocate. Errors name the file; a missing file is
// os.ErrNotExist.
func openVmlinux(path string) (*vmlinux, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > maxVmlinux {
		fh.Close()
		return nil, fmt.Errorf("%s: %d bytes, more than the %d accepted for a kernel image (MaxVmlinuxSize)", path, st.Size(), maxVmlinux)
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(fh, head)
	v := &vmlinux{data: map[*elf.Section][]byte{}, how: "ELF"}
	if n == 4 && bytes.Equal(head, elfMagic) {
		if v.f, err = elf.NewFile(fh); err != nil {
			fh.Close()
			return nil, fmt.Errorf("%s: bad ELF: %w", path, err)
		}
		v.file = fh
	} else {
		defer fh.Close()
		img := make([]byte, st.Size())
		if _, err := fh.ReadAt(img, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		b, how, err := ExtractVmlinux(img)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if v.f, err = elf.NewFile(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%s: the kernel ELF from its %s: %w", path, how, err)
		}
		v.how = how
	}
	if v.f.Class != elf.ELFCLASS64 || v.f.Machine != elf.EM_X86_64 && v.f.Machine != elf.EM_AARCH64 {
		v.Close()
		return nil, fmt.Errorf("%s: not an x86_64 or aarch64 ELF64 kernel", path)
	}
	v.secs = v.f.Sections
	return v, nil
}

// Close releases the file of a vmlinux read on demand.
func (v *vmlinux) Close() error {
	if v.file != nil {
		return v.file.Close()
	}
	return nil
}

// bytes returns the contents of s (cached), or nil when it cannot be read. The
// sections read add up to at most MaxVmlinuxSize bytes: a real kernel's do not overlap
// and fit in its file, while a hostile file's section table could point thousands of
// sections at the same bytes.
func (v *vmlinux) bytes(s *elf.Section) []byte {
	if b, ok := v.data[s]; ok {
		return b
	}
	var b []byte
	if s.Type != elf.SHT_NOBITS && s.Size <= uint64(maxVmlinux-v.read) {
		if d, err := s.Data(); err == nil {
			b = d
			v.read += int64(len(d))
		}
	}
	v.data[s] = b
	return b
}

// at returns the bytes from address addr to the end of its section, or nil. Sections
// linked at address 0 (.data..percpu) are never matched: their "addresses" are per-cpu
// offsets.
func (v *vmlinux) at(addr uint64) []byte {
	for _, s := range v.secs {
		if s.Addr == 0 || s.Type == elf.SHT_NOBITS || addr < s.Addr || addr >= s.Addr+s.Size {
			continue
		}
		b := v.bytes(s)
		if b == nil {
			return nil
		}
		return b[addr-s.Addr:]
	}
	return nil
}

// cstring reads the NUL-terminated string at addr.
func (v *vmlinux) cstring(addr uint64) string {
	b := v.at(addr)
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return ""
}

// ksymtab decodes one struct kernel_symbol table (value, name, namespace: on x86_64
// s32 offsets, each relative to its own field, as the layout l says) with its parallel
// __kcrctab of u32 CRCs, keeping the linker's (name-sorted) order, which find_symbol
// bsearches.
func (v *vmlinux) ksymtab(l KernelSymbolLayout, name, crcName string, gpl bool) ([]Symbol, error) {
	s := v.f.Section(name)
	if s == nil {
		return nil, nil
	}
	b := v.bytes(s)
	ent := l.Size
	if ent == 0 || max(l.Value, l.Name, l.Namespace)+l.Field > ent || (l.Field != 4 && l.Field != 8) {
		return nil, fmt.Errorf("vmlinux: struct kernel_symbol layout %+v not readable", l)
	}
	if uint64(len(b))%ent != 0 {
		return nil, fmt.Errorf("vmlinux: %s size %d is not a multiple of sizeof(struct kernel_symbol) (%d)", name, len(b), ent)
	}
	var crcs []byte
	if c := v.f.Section(crcName); c != nil {
		crcs = v.bytes(c)
	}
	out := make([]Symbol, uint64(len(b))/ent)
	for i := range out {
		e := uint64(i) * ent
		// field returns what the member at off points to, and whether it is set (a
		// namespace is NULL, or a zero offset, when there is none).
		field := func(off uint64) (uint64, bool) {
			if l.Field == 8 {
				p := binary.LittleEndian.Uint64(b[e+off:])
				return p, p != 0
			}
			rel := int32(binary.LittleEndian.Uint32(b[e+off:]))
			return s.Addr + e + off + uint64(int64(rel)), rel != 0
		}
		sym := Symbol{Owner: "vmlinux", GPLOnly: gpl}
		sym.Addr, _ = field(l.Value)
		name, _ := field(l.Name)
		sym.Name = v.cstring(name)
		if ns, ok := field(l.Namespace); ok {
			sym.Namespace = v.cstring(ns)
		}
		if len(crcs) >= (i+1)*4 {
			sym.CRC, sym.HasCRC = binary.LittleEndian.Uint32(crcs[i*4:]), true
		}
		out[i] = sym
	}
	return out, nil
}

// splitFlagged splits one export table by its __kflagstab, when vmlinux has one: since
// the kernel moved the licence out of the table ("module: ... kflagstab", Debian's 7.x;
// include/linux/module_symbol.h), every export is in __ksymtab and __kflagstab holds one
// byte per entry, in the same order, with KSYM_FLAG_GPL_ONLY (bit 0) for
// EXPORT_SYMBOL_GPL. find_exported_symbol_in_section bsearches the one table and takes
// the licence from the byte; two tables split by that bit, each still sorted by name,
// give every lookup the same symbol and licence. ok is false (and the table is returned
// as it is) without __kflagstab or when its size is not the table's.
func (v *vmlinux) splitFlagged(all []Symbol) (plain, gpl []Symbol, ok bool) {
	s := v.f.Section("__kflagstab")
	if s == nil {
		return all, nil, false
	}
	flags := v.bytes(s)
	if len(flags) != len(all) {
		return all, nil, false
	}
	for i, sym := range all {
		if flags[i]&1 != 0 { // KSYM_FLAG_GPL_ONLY
			sym.GPLOnly = true
			gpl = append(gpl, sym)
		} else {
			plain = append(plain, sym)
		}
	}
	return plain, gpl, true
}

// paramModules returns the names param_sysfs_builtin gives /sys/module directories:
// the part before the first '.' of every built-in struct kernel_param (laid out as l
// says) with a non-zero perm ("kernel" for core_param names without a dot).
func (v *vmlinux) paramModules(l KernelParamLayout) map[string]bool {
	out := map[string]bool{}
	s := v.f.Section("__param")
	if s == nil || l.Size == 0 || max(l.Name+8, l.Perm+2) > l.Size {
		return out
	}
	b := v.bytes(s)
	for off := uint64(0); off+l.Size <= uint64(len(b)); off += l.Size {
		if binary.LittleEndian.Uint16(b[off+l.Perm:]) == 0 {
			continue
		}
		name := v.cstring(binary.LittleEndian.Uint64(b[off+l.Name:]))
		if mod, _, ok := strings.Cut(name, "."); ok {
			out[mod] = true
		} else {
			out["kernel"] = true
		}
	}
	return out
}

// modverModules returns the built-in modules with MODULE_VERSION (version_sysfs_builtin):
// __modver holds struct module_version_attribute (laid out as l says: a struct
// module_attribute, then module_name and version pointers).
func (v *vmlinux) modverModules(l ModuleVersionAttributeLayout) map[string]bool {
	out := map[string]bool{}
	s := v.f.Section("__modver")
	if s == nil || l.Size == 0 || l.ModuleName+8 > l.Size {
		return out
	}
	b := v.bytes(s)
	for off := uint64(0); off+l.Size <= uint64(len(b)); off += l.Size {
		if n := v.cstring(binary.LittleEndian.Uint64(b[off+l.ModuleName:])); n != "" {
			out[n] = true
		}
	}
	return out
}

// certificates finds the X.509 certificates built into the kernel (the
// system_certificate_list, placed in .init.data on x86): every DER SEQUENCE that parses
// as a certificate. The builtin trusted keyring is loaded from exactly this list.
func (v *vmlinux) certificates() []*cert.Certificate {
	var out []*cert.Certificate
	for _, name := range []string{".init.data", ".rodata", ".data"} {
		s := v.f.Section(name)
		if s == nil {
			continue
		}
		out = append(out, scanCertificates(v.bytes(s))...)
		if len(out) > 0 {
			break
		}
	}
	return out
}

// scanCertificates returns the DER certificates found anywhere in b.
func scanCertificates(b []byte) []*cert.Certificate {
	return scanDER(b, cert.Parse)
}

// scanDER returns what parse makes of every DER certificate in b. A certificate is
// SEQUENCE(0x30 0x82 len16){ SEQUENCE(0x30 0x82 len16) tbsCertificate ... }, which is
// cheap to pre-filter before handing the candidate to parse. The tests run it with
// crypto/x509's parser too, to show both find the same certificates.
func scanDER[T any](b []byte, parse func([]byte) (T, error)) []T {
	var out []T
	for i := 0; i+8 < len(b); i++ {
		if b[i] != 0x30 || b[i+1] != 0x82 || b[i+4] != 0x30 || b[i+5] != 0x82 {
			continue
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 64 || i+4+n > len(b) {
			continue
		}
		c, err := parse(b[i : i+4+n])
		if err != nil {
			continue
		}
		out = append(out, c)
		i += 3 + n
	}
	return out
}
