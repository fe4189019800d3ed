package load

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// elfHeaderChecks mirrors the header part shared by 6.1's elf_validity_check and
// 6.12's elf_validity_ehdr: length, magic, ET_REL, elf_check_arch (the e_machine of
// archHooks.machine), and on 6.12 module_elf_check_arch (always true on x86 and arm64). EI_CLASS, EI_DATA and e_version are
// not checked by the kernel.
func (c *call) elfHeaderChecks(info *loadInfo, fn string) unix.Errno {
	if info.len < elfHeaderSize {
		c.elfLog("Invalid ELF header len %d", info.len)
		return c.step(fn, unix.ENOEXEC, "image shorter than an ELF header")
	}
	info.readEhdr()
	if string(info.hdr[:4]) != "\x7fELF" {
		c.elfLog("Invalid ELF header magic: != \x7fELF")
		return c.step(fn, unix.ENOEXEC, "no ELF magic")
	}
	if info.eType != etRel {
		c.elfLog("Invalid ELF header type: %d != %d", info.eType, etRel)
		return c.step(fn, unix.ENOEXEC, "not ET_REL")
	}
	if em, name := c.arch.machine(); info.eMachine != em { // elf_check_arch
		c.elfLog("Invalid architecture in ELF header: %d", info.eMachine)
		return c.step(fn, unix.ENOEXEC, "not %s", name)
	}
	return 0
}

// shdrTableChecks mirrors the e_shentsize and "section header overflow" checks.
func (c *call) shdrTableChecks(info *loadInfo, fn string) unix.Errno {
	if info.eShentsize != shdrSize {
		c.elfLog("Invalid ELF section header size")
		return c.step(fn, unix.ENOEXEC, "e_shentsize %d", info.eShentsize)
	}
	if info.eShoff >= info.len || uint64(info.eShnum)*shdrSize > info.len-info.eShoff {
		c.elfLog("Invalid ELF section header overflow")
		return c.step(fn, unix.ENOEXEC, "section headers at %#x (%d) beyond %d bytes", info.eShoff, info.eShnum, info.len)
	}
	info.readSechdrs()
	return 0
}

// validateSectionOffset mirrors validate_section_offset: offset+size neither overflows
// nor passes info->len.
func (info *loadInfo) validateSectionOffset(s shdr) bool {
	end := s.offset + s.size
	return end >= s.offset && end <= info.len
}

// section0Check mirrors the "section 0 must be null" check.
func (c *call) section0Check(info *loadInfo, fn string) unix.Errno {
	s0 := info.sechdrs[0]
	if s0.typ != shtNull || s0.size != 0 || s0.addr != 0 {
		c.elfLog("ELF Spec violation: section 0 type(%d)!=SH_NULL or non-zero len or addr", int32(s0.typ))
		return c.step(fn, unix.ENOEXEC, "bad section 0")
	}
	return 0
}

// shstrndxCheck mirrors the e_shstrndx range check.
func (c *call) shstrndxCheck(info *loadInfo, fn string) unix.Errno {
	if info.eShstrndx == shnUndef || info.eShstrndx >= info.eShnum {
		c.elfLog("Invalid ELF section name index: %d || e_shstrndx (%d) >= e_shnum (%d)",
			info.eShstrndx, info.eShstrndx, info.eShnum)
		return c.step(fn, unix.ENOEXEC, "e_shstrndx out of range")
	}
	return 0
}

// secstringsTermination mirrors the empty / not-NUL-terminated name table checks.
func (c *call) secstringsTermination(info *loadInfo, fn string) unix.Errno {
	str := info.sechdrs[info.eShstrndx]
	if str.size == 0 && !c.m.Has(EmptyShstrtabCheck) {
		// Before 5.19 an empty table is not refused: secstrings[sh_size - 1] reads the
		// byte just before it, and that byte decides.
		if str.offset == 0 || str.offset > uint64(len(info.hdr)) || info.hdr[str.offset-1] != 0 {
			return c.step(fn, unix.ENOEXEC, "empty .shstrtab: the byte before it is not NUL")
		}
		info.secstrings = info.hdr[str.offset:str.offset]
		return 0
	}
	if str.size == 0 {
		c.elfLog("empty section name table")
		return c.step(fn, unix.ENOEXEC, "empty .shstrtab")
	}
	// 6.12 reads this before any bounds check of the table (it is validated by the
	// section loop only for non-NOBITS tables); stay inside the buffer.
	last := str.offset + str.size - 1
	if last >= uint64(len(info.hdr)) || info.hdr[last] != 0 {
		c.elfLog("ELF Spec violation: section name table isn't null terminated")
		return c.step(fn, unix.ENOEXEC, "unterminated .shstrtab")
	}
	info.secstrings = info.hdr[str.offset : str.offset+str.size]
	return 0
}

// elfLog prints one of elf_validity_check's own error lines. Before 5.16 the checks
// are silent (but for the two "Invalid ELF section" lines, printed unconditionally) and
// load_module says "Module has invalid ELF structures" after any of them instead.
func (c *call) elfLog(format string, args ...any) {
	if c.m.Has(ElfValidityMessages) {
		c.log(LevelErr, format, args...)
	}
}

// elfValidityCheck mirrors elf_validity_check from 5.10 to 6.12.116, every check in
// its order; before 5.16 (ElfValidityMessages) load_module adds its one line on failure.
func (c *call) elfValidityCheck(info *loadInfo) unix.Errno {
	e := c.elfValidityCheck61(info)
	if e != 0 && !c.m.Has(ElfValidityMessages) {
		c.log(LevelErr, "Module has invalid ELF structures")
	}
	return e
}

// elfValidityCheck61 is elf_validity_check's checks (5.10 to 6.12.116).
func (c *call) elfValidityCheck61(info *loadInfo) unix.Errno {
	const fn = "elf_validity_check"
	if e := c.elfHeaderChecks(info, fn); e != 0 {
		return e
	}
	if e := c.shdrTableChecks(info, fn); e != 0 {
		return e
	}
	if e := c.shstrndxCheck(info, fn); e != 0 {
		return e
	}
	str := info.sechdrs[info.eShstrndx]
	if !info.validateSectionOffset(str) {
		c.elfLog("Invalid ELF section hdr(type %d)", str.typ)
		return c.step(fn, unix.ENOEXEC, "section name table outside the image")
	}
	if e := c.secstringsTermination(info, fn); e != 0 {
		return e
	}
	if e := c.section0Check(info, fn); e != 0 {
		return e
	}
	for i := 1; i < int(info.eShnum); i++ {
		s := info.sechdrs[i]
		switch s.typ {
		case shtNull, shtNobits:
			continue
		case shtSymtab:
			if s.link == shnUndef || s.link >= uint32(info.eShnum) {
				c.elfLog("Invalid ELF sh_link!=SHN_UNDEF(%d) or (sh_link(%d) >= hdr->e_shnum(%d)", s.link, s.link, info.eShnum)
				return c.step(fn, unix.ENOEXEC, "symtab sh_link out of range")
			}
		}
		if !info.validateSectionOffset(s) {
			c.log(LevelErr, "Invalid ELF section in module (section %d type %d)", i, s.typ)
			return c.step(fn, unix.ENOEXEC, "section %d outside the image", i)
		}
		if s.flags&shfAlloc != 0 && uint64(s.name) >= str.size {
			c.log(LevelErr, "Invalid ELF section name in module (section %d type %d)", i, s.typ)
			return c.step(fn, unix.ENOEXEC, "section %d name out of range", i)
		}
	}
	c.step(fn, 0, "%d sections", info.eShnum)
	return 0
}

// elfValidityCacheCopy612 mirrors Debian 6.12.117's elf_validity_cache_copy, which has
// the split validation of 6.13 backported: elf_validity_cache_sechdrs (header, table,
// section 0, offsets), _secstrings (index, SHT_STRTAB type, termination, every name in
// range), _index_info (unique .modinfo), _index_mod (exactly one ALLOC, sized
// .gnu.linkonce.this_module), _index_sym (exactly one SHT_SYMTAB), _index_str.
func (c *call) elfValidityCacheCopy612(info *loadInfo, flags Flags) unix.Errno {
	const fn = "elf_validity_cache_copy"
	if e := c.elfHeaderChecks(info, "elf_validity_ehdr"); e != 0 {
		return e
	}
	if e := c.shdrTableChecks(info, "elf_validity_cache_sechdrs"); e != 0 {
		return e
	}
	if e := c.section0Check(info, "elf_validity_cache_sechdrs"); e != 0 {
		return e
	}
	for i := 1; i < int(info.eShnum); i++ {
		s := info.sechdrs[i]
		if s.typ == shtNull || s.typ == shtNobits {
			continue
		}
		if !info.validateSectionOffset(s) {
			c.log(LevelErr, "Invalid ELF section in module (section %d type %d)", i, s.typ)
			return c.step("elf_validity_cache_sechdrs", unix.ENOEXEC, "section %d outside the image", i)
		}
	}
	if e := c.shstrndxCheck(info, "elf_validity_cache_secstrings"); e != 0 {
		return e
	}
	str := info.sechdrs[info.eShstrndx]
	if str.typ != shtStrtab {
		c.log(LevelErr, "Invalid ELF section name table type: %d", str.typ)
		return c.step("elf_validity_cache_secstrings", unix.ENOEXEC, "name table is not SHT_STRTAB")
	}
	if e := c.secstringsTermination(info, "elf_validity_cache_secstrings"); e != 0 {
		return e
	}
	for i := 0; i < int(info.eShnum); i++ {
		s := info.sechdrs[i]
		if s.typ != shtNull && uint64(s.name) >= str.size {
			c.log(LevelErr, "Invalid ELF section name in module (section %d type %d)", i, s.typ)
			return c.step("elf_validity_cache_secstrings", unix.ENOEXEC, "section %d name out of range", i)
		}
	}
	// _index_info
	switch idx := info.findAnyUniqueSec(".modinfo"); {
	case idx < 0:
		c.log(LevelErr, "Only one .modinfo section must exist.")
		return c.step("elf_validity_cache_index_info", unix.ENOEXEC, "%d .modinfo sections", -idx)
	case idx > 0:
		info.index.info = idx
		info.name, info.hasName = info.getModinfo("name")
	}
	// _index_mod
	idx := info.findAnyUniqueSec(".gnu.linkonce.this_module")
	if idx <= 0 {
		c.log(LevelErr, "module %s: Exactly one .gnu.linkonce.this_module section must exist.", info.nameOrMissing())
		return c.step("elf_validity_cache_index_mod", unix.ENOEXEC, "no unique .gnu.linkonce.this_module")
	}
	ms := info.sechdrs[idx]
	if ms.typ == shtNobits {
		c.log(LevelErr, "module %s: .gnu.linkonce.this_module section must have a size set", info.nameOrMissing())
		return c.step("elf_validity_cache_index_mod", unix.ENOEXEC, "this_module is NOBITS")
	}
	if ms.flags&shfAlloc == 0 {
		c.log(LevelErr, "module %s: .gnu.linkonce.this_module must occupy memory during process execution", info.nameOrMissing())
		return c.step("elf_validity_cache_index_mod", unix.ENOEXEC, "this_module is not SHF_ALLOC")
	}
	if want := c.m.st.Module.Size; want == 0 {
		why := c.m.st.Module.SizeErr
		if why == nil {
			why = errors.New("the kernel description has none")
		}
		c.uncertain("sizeof(struct module) of %s is unknown (%v): the check of .gnu.linkonce.this_module's size (%d bytes) against it was not made", c.m.K.Release, why, ms.size)
	} else if ms.size != want {
		c.log(LevelErr, "module %s: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time", info.nameOrMissing())
		return c.step("elf_validity_cache_index_mod", unix.ENOEXEC, "this_module is %d bytes, sizeof(struct module) is %d", ms.size, want)
	}
	info.index.mod = idx
	// _index_sym
	nsym := 0
	for i := 1; i < int(info.eShnum); i++ {
		if info.sechdrs[i].typ == shtSymtab {
			nsym++
			info.index.sym = i
		}
	}
	if nsym != 1 {
		c.log(LevelWarn, "%s: module has no symbols (stripped?)", info.nameOrMissing())
		return c.step("elf_validity_cache_index_sym", unix.ENOEXEC, "%d SHT_SYMTAB sections", nsym)
	}
	// _index_str
	strIdx := info.sechdrs[info.index.sym].link
	if strIdx == shnUndef || strIdx >= uint32(info.eShnum) {
		c.log(LevelErr, "Invalid ELF sh_link!=SHN_UNDEF(%d) or (sh_link(%d) >= hdr->e_shnum(%d)", strIdx, strIdx, info.eShnum)
		return c.step("elf_validity_cache_index_str", unix.ENOEXEC, "symtab sh_link out of range")
	}
	if t := info.sechdrs[strIdx].typ; t != shtStrtab {
		c.log(LevelErr, "Invalid ELF symbol string table type: %d", t)
		return c.step("elf_validity_cache_index_str", unix.ENOEXEC, "symbol string table is not SHT_STRTAB")
	}
	info.index.str = int(strIdx)
	info.strtabOff = info.sechdrs[strIdx].offset
	info.readModName(c.m.st.Module)
	if !info.hasName {
		info.name, info.hasName = info.modName, true
	}
	if flags&IgnoreModversions == 0 {
		info.index.vers = info.findSec("__versions")
	}
	info.index.pcpu = info.findSec(".data..percpu")
	if c.m.Has(StrtabChecks) {
		if e := c.elfValidityCacheStrtab(info); e != 0 {
			return e
		}
	}
	c.step(fn, 0, "%d sections, name %q, struct module name %q", info.eShnum, info.name, info.modName)
	return 0
}

// elfValidityCacheStrtab mirrors elf_validity_cache_strtab (StrtabChecks): .strtab is
// non-empty, starts and ends with NUL, and every symbol's name starts inside it. The
// section's bytes lie inside the image (elf_validity_cache_sechdrs checked them).
func (c *call) elfValidityCacheStrtab(info *loadInfo) unix.Errno {
	const fn = "elf_validity_cache_strtab"
	str, sym := info.sechdrs[info.index.str], info.sechdrs[info.index.sym]
	switch {
	case str.size == 0:
		c.log(LevelErr, "empty symbol string table")
		return c.step(fn, unix.ENOEXEC, "empty .strtab")
	case info.hdr[str.offset] != 0:
		c.log(LevelErr, "symbol string table missing leading NUL")
		return c.step(fn, unix.ENOEXEC, ".strtab does not start with NUL")
	case info.hdr[str.offset+str.size-1] != 0:
		c.log(LevelErr, "symbol string table isn't NUL terminated")
		return c.step(fn, unix.ENOEXEC, "unterminated .strtab")
	}
	for off := sym.offset; off+symSize <= sym.offset+sym.size && off+symSize <= uint64(len(info.hdr)); off += symSize {
		if uint64(binary.LittleEndian.Uint32(info.hdr[off:])) >= str.size {
			c.log(LevelErr, "symbol name out of bounds in string table")
			return c.step(fn, unix.ENOEXEC, "symbol %d's name outside .strtab", (off-sym.offset)/symSize)
		}
	}
	return 0
}
