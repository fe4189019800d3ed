package load

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
)

// ELF constants the loader uses (x86_64, ELF64 little-endian only: the kernel never
// looks at EI_CLASS or EI_DATA and reads every header as Elf64).
const (
	elfHeaderSize = 64
	shdrSize      = 64
	symSize       = 24
	relaSize      = 24

	etRel        = 1
	shnUndef     = 0
	shnAbs       = 0xfff1
	shnCommon    = 0xfff2
	shnLivepatch = 0xff20

	shtNull     = 0
	shtProgbits = 1
	shtSymtab   = 2
	shtStrtab   = 3
	shtRela     = 4
	shtNobits   = 8
	shtRel      = 9

	shfWrite         = 0x1
	shfAlloc         = 0x2
	shfExecinstr     = 0x4
	shfRelaLivepatch = 0x00100000
	shfRoAfterInit   = 0x00200000

	stbWeak = 2
)

// shdr is one Elf64_Shdr as the kernel keeps it in info->sechdrs: a private copy the
// stages modify (sh_addr, sh_flags, sh_entsize) as the kernel modifies its copy.
type shdr struct {
	name      uint32
	typ       uint32
	flags     uint64
	addr      uint64
	offset    uint64
	size      uint64
	link      uint32
	info      uint32
	addralign uint64
	entsize   uint64
}

// loadInfo mirrors struct load_info: the image, its headers and the convenience indices
// that setup_load_info (6.1) or elf_validity_cache_copy (6.12) fill in.
type loadInfo struct {
	name    string // info->name ("" = NULL)
	hasName bool
	hdr     []byte // the whole buffer (info->hdr)
	len     uint64 // info->len: shrinks when the signature is stripped
	sigOK   bool

	eType, eMachine, eShentsize, eShnum, eShstrndx uint16
	eShoff                                         uint64

	sechdrs    []shdr
	secstrings []byte // the section name table (NUL-terminated, checked)
	strtabOff  uint64 // info->strtab: file offset of the symbol string table

	index struct {
		sym, str, mod, vers, info, pcpu int
	}
	modName string // the name field of the struct module image (mod->name)

	place []placed // where layout_sections/layout_symtab put each section
	mem   *memory  // module memory after move_module
	syms  []elfSym // the symbol table, st_value simplified by simplify_symbols
}

// u16/u32/u64 read little-endian fields; callers have checked bounds.
func u16(b []byte, off uint64) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func u32(b []byte, off uint64) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64(b []byte, off uint64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// readEhdr reads the Elf64_Ehdr fields; the caller checked len >= 64.
func (info *loadInfo) readEhdr() {
	h := info.hdr
	info.eType, info.eMachine = u16(h, 16), u16(h, 18)
	info.eShoff = u64(h, 40)
	info.eShentsize, info.eShnum, info.eShstrndx = u16(h, 58), u16(h, 60), u16(h, 62)
}

// readSechdrs copies the section header table; the caller checked it lies in the image.
func (info *loadInfo) readSechdrs() {
	info.sechdrs = make([]shdr, info.eShnum)
	for i := range info.sechdrs {
		p := info.hdr[info.eShoff+uint64(i)*shdrSize:]
		info.sechdrs[i] = shdr{
			name: u32(p, 0), typ: u32(p, 4), flags: u64(p, 8), addr: u64(p, 16),
			offset: u64(p, 24), size: u64(p, 32), link: u32(p, 40), info: u32(p, 44),
			addralign: u64(p, 48), entsize: u64(p, 56),
		}
	}
}

// cstr reads a NUL-terminated string at off in the image, stopping at the image's end
// where the kernel would read past it.
func (info *loadInfo) cstr(off uint64) string {
	if off >= uint64(len(info.hdr)) {
		return ""
	}
	b := info.hdr[off:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// secName is info->secstrings + sh_name (bounds-checked for ALLOC sections by the ELF
// checks; others are read as far as the image goes).
func (info *loadInfo) secName(i int) string {
	n := uint64(info.sechdrs[i].name)
	if n < uint64(len(info.secstrings)) {
		b := info.secstrings[n:]
		return string(b[:bytes.IndexByte(b, 0)])
	}
	shstr := info.sechdrs[info.eShstrndx]
	return info.cstr(shstr.offset + n)
}

// findSec mirrors find_sec: the first section with SHF_ALLOC and this name; 0 if none.
func (info *loadInfo) findSec(name string) int {
	for i := 1; i < len(info.sechdrs); i++ {
		if info.sechdrs[i].flags&shfAlloc != 0 && info.secName(i) == name {
			return i
		}
	}
	return 0
}

// findAnyUniqueSec mirrors 6.12's find_any_unique_sec: the index of the only section
// with this name regardless of flags, 0 if none, -count if several.
func (info *loadInfo) findAnyUniqueSec(name string) int {
	idx, count := 0, 0
	for i := 1; i < len(info.sechdrs); i++ {
		if info.secName(i) == name {
			count++
			idx = i
		}
	}
	if count > 1 {
		return -count
	}
	return idx
}

// modinfoStrings returns the .modinfo section's strings the way next_string walks them
// (kernel/module/main.c): starting at the section start, skipping NUL padding.
func (info *loadInfo) modinfoStrings() []string {
	if info.index.info == 0 {
		return nil
	}
	s := info.sechdrs[info.index.info]
	if s.offset >= uint64(len(info.hdr)) {
		return nil
	}
	end := min(s.offset+s.size, uint64(len(info.hdr)))
	b := info.hdr[s.offset:end]
	var out []string
	// get_next_modinfo looks at the string at the start, then next_string advances; a
	// walk that runs out of section (secsize reaching 1) stops.
	p, size := 0, len(b)
	for p < len(b) {
		q := p
		for q < len(b) && b[q] != 0 {
			q++
		}
		out = append(out, string(b[p:q]))
		// next_string: skip the string, then the NUL padding, decrementing secsize.
		for p < len(b) && b[p] != 0 {
			p++
			if size <= 1 {
				return out
			}
			size--
		}
		for p < len(b) && b[p] == 0 {
			p++
			if size <= 1 {
				return out
			}
			size--
		}
	}
	return out
}

// getModinfo mirrors get_modinfo: the value of the first "tag=value" string.
func (info *loadInfo) getModinfo(tag string) (string, bool) {
	for _, s := range info.modinfoStrings() {
		if len(s) > len(tag) && s[:len(tag)] == tag && s[len(tag)] == '=' {
			return s[len(tag)+1:], true
		}
	}
	return "", false
}

// getModinfoAll returns every value of tag (for_each_modinfo_entry).
func (info *loadInfo) getModinfoAll(tag string) []string {
	var out []string
	for _, s := range info.modinfoStrings() {
		if len(s) > len(tag) && s[:len(tag)] == tag && s[len(tag)] == '=' {
			out = append(out, s[len(tag)+1:])
		}
	}
	return out
}

// nameOrMissing is `info->name ?: "(missing .modinfo section or name field)"`.
func (info *loadInfo) nameOrMissing() string {
	if info.hasName {
		return info.name
	}
	return "(missing .modinfo section or name field)"
}

// readModName reads mod->name from the struct module image in .gnu.linkonce.this_module,
// at the offset and of the length (MODULE_NAME_LEN) the kernel's layout l gives.
func (info *loadInfo) readModName(l kernel.ModuleLayout) {
	s := info.sechdrs[info.index.mod]
	off := s.offset + l.Name
	if off+l.NameLen > uint64(len(info.hdr)) || s.size < l.Name+l.NameLen {
		// The kernel would read whatever follows; model it as the bytes that exist.
		info.modName = info.cstr(off)
		return
	}
	b := info.hdr[off : off+l.NameLen]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	info.modName = string(b)
}

// setupLoadInfo61 mirrors 6.1's setup_load_info: name from .modinfo (first ALLOC
// section of that name), the first SHT_SYMTAB, .gnu.linkonce.this_module (first ALLOC
// one, no size check), the name fallback, __versions and the per-cpu section.
func (c *call) setupLoadInfo61(info *loadInfo, flags Flags) unix.Errno {
	info.index.info = info.findSec(".modinfo")
	if info.index.info != 0 {
		info.name, info.hasName = info.getModinfo("name")
	}
	for i := 1; i < len(info.sechdrs); i++ {
		if info.sechdrs[i].typ == shtSymtab {
			info.index.sym = i
			info.index.str = int(info.sechdrs[i].link)
			info.strtabOff = info.sechdrs[info.index.str].offset
			break
		}
	}
	if info.index.sym == 0 {
		c.log(LevelWarn, "%s: module has no symbols (stripped?)", info.nameOrMissing())
		return c.step("setup_load_info", unix.ENOEXEC, "no SHT_SYMTAB section")
	}
	info.index.mod = info.findSec(".gnu.linkonce.this_module")
	if info.index.mod == 0 {
		c.log(LevelWarn, "%s: No module found in object", info.nameOrMissing())
		return c.step("setup_load_info", unix.ENOEXEC, "no SHF_ALLOC .gnu.linkonce.this_module section")
	}
	info.readModName(c.m.st.Module)
	if !info.hasName {
		info.name, info.hasName = info.modName, true
	}
	if flags&IgnoreModversions == 0 {
		info.index.vers = info.findSec("__versions")
	}
	info.index.pcpu = info.findSec(".data..percpu")
	c.step("setup_load_info", 0, "name %q, struct module name %q, symtab section %d", info.name, info.modName, info.index.sym)
	return 0
}
