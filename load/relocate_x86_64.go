package load

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// x86_64 relocation types apply_relocate_add handles.
const (
	rX86_64None  = 0
	rX86_64_64   = 1
	rX86_64PC32  = 2
	rX86_64PLT32 = 4
	rX86_64_32   = 10
	rX86_64_32S  = 11
	rX86_64PC64  = 24
)

var relocNames = map[uint32]string{
	rX86_64None: "R_X86_64_NONE", rX86_64_64: "R_X86_64_64", rX86_64PC32: "R_X86_64_PC32",
	rX86_64PLT32: "R_X86_64_PLT32", rX86_64_32: "R_X86_64_32", rX86_64_32S: "R_X86_64_32S",
	rX86_64PC64: "R_X86_64_PC64",
}

func relocName(t uint32) string {
	if n, ok := relocNames[t]; ok {
		return n
	}
	return fmt.Sprintf("R_X86_64_%d", t)
}

// applyRelocations mirrors apply_relocations: every relocation section whose target is
// in range and SHF_ALLOC, stopping at the first error. Livepatch relocation sections are
// not modelled; SHT_REL is unsupported on x86_64.
func (c *call) applyRelocations(info *loadInfo, mod *module) unix.Errno {
	const fn = "apply_relocations"
	total := 0
	for i := 1; i < len(info.sechdrs); i++ {
		s := info.sechdrs[i]
		if int(s.info) >= len(info.sechdrs) {
			continue
		}
		// PercpuRelocs: the per-cpu section (no longer SHF_ALLOC) is relocated in the
		// image's template, then copied to each CPU.
		percpu := s.info != 0 && int(s.info) == info.index.pcpu && c.m.Has(PercpuRelocs)
		if info.sechdrs[s.info].flags&shfAlloc == 0 && !percpu {
			continue
		}
		var e unix.Errno
		switch {
		case s.flags&shfRelaLivepatch != 0:
			c.uncertain("livepatch relocation section %s is applied by klp_apply_section_relocs, not modelled", info.secName(i))
		case s.typ == shtRel:
			// apply_relocate (moduleloader.h stub): printk(KERN_ERR ...).
			c.log(LevelErr, "module %s: REL relocation unsupported", mod.Name)
			e = unix.ENOEXEC
		case s.typ == shtRela:
			var n int
			n, e = c.applyRelocateAdd(info, mod, i)
			total += n
		}
		if e != 0 {
			return c.step(fn, e, "relocation section %s", info.secName(i))
		}
	}
	c.step(fn, 0, "%d relocations applied", total)
	return 0
}

// applyRelocateAdd mirrors x86_64's __apply_relocate_add (6.1) and
// __write_relocate_add (6.12, rewritten in 6.3): they differ in the order of the
// "existing value is nonzero" and overflow checks and in the message's wording. The
// printed loc is a hashed %p in the kernel: the model prints its own address.
func (c *call) applyRelocateAdd(info *loadInfo, mod *module, relsec int) (int, unix.Errno) {
	rs := info.sechdrs[relsec]
	tgtAddr := info.sechdrs[rs.info].addr
	var tb []byte
	if target := info.mem.section(int(rs.info)); target != nil {
		tb = target.b
	} else if t := info.sechdrs[rs.info]; int(rs.info) == info.index.pcpu && t.typ != shtNobits && t.offset+t.size <= uint64(len(info.hdr)) {
		// The per-cpu template: a copy of the section's bytes in the image.
		tb = append([]byte(nil), info.hdr[t.offset:t.offset+t.size]...)
	}
	n := rs.size / relaSize
	for i := uint64(0); i < n; i++ {
		off := rs.offset + i*relaSize
		if off+relaSize > uint64(len(info.hdr)) {
			break
		}
		rOffset, rInfo, rAddend := u64(info.hdr, off), u64(info.hdr, off+8), u64(info.hdr, off+16)
		typ, symIdx := uint32(rInfo), rInfo>>32
		if symIdx >= uint64(len(info.syms)) {
			c.uncertain("relocation %d of %s names symbol %d beyond the symbol table: undefined behaviour in the kernel", i, info.secName(relsec), symIdx)
			continue
		}
		loc := tgtAddr + rOffset
		val := info.syms[symIdx].value + rAddend
		var field []byte
		if rOffset < uint64(len(tb)) {
			field = tb[rOffset:]
		}
		e := c.relocateOne(mod, relocAt{relsec, i}, typ, loc, val, field)
		c.sampleReloc(info, relsec, typ, symIdx, rOffset, loc, rAddend, field, e != 0)
		if e != 0 {
			return int(i), e
		}
		c.res.Relocs[relocName(typ)]++
	}
	return int(n), 0
}

// relocAt is a relocation's place: its SHT_RELA section and index there, which 7.2's
// error lines print (X86RelocSecIdx).
type relocAt struct {
	sec int
	idx uint64
}

// relocateOne applies one relocation to field (the bytes at loc onwards).
func (c *call) relocateOne(mod *module, at relocAt, typ uint32, loc, val uint64, field []byte) unix.Errno {
	size := 0
	switch typ {
	case rX86_64None:
		return 0
	case rX86_64_64, rX86_64PC64:
		size = 8
	case rX86_64_32, rX86_64_32S, rX86_64PC32, rX86_64PLT32:
		size = 4
	default:
		c.log(LevelErr, "module: %s: Unknown rela relocation: %d", mod.Name, typ)
		return unix.ENOEXEC
	}
	if typ == rX86_64PC32 || typ == rX86_64PLT32 || typ == rX86_64PC64 {
		val -= loc
	}
	if len(field) < size {
		c.uncertain("relocation at %#x writes outside its section: undefined behaviour in the kernel", loc)
		return 0
	}
	nonzero := false
	for _, b := range field[:size] {
		nonzero = nonzero || b != 0
	}
	overflow := typ == rX86_64_32 && val != uint64(uint32(val)) ||
		typ == rX86_64_32S && int64(val) != int64(int32(uint32(val)))
	if !c.m.Has(X86RelocWriteOrder) {
		// Before 6.3: the non-zero check first, then write, then the overflow check.
		if nonzero {
			c.log(LevelErr, "module: x86/modules: Skipping invalid relocation target, existing value is nonzero for type %d, loc %016x, val %x", typ, loc, val)
			return unix.ENOEXEC
		}
		write(field, val, size)
		if overflow {
			return c.relocOverflow(mod, at, typ, val)
		}
		return 0
	}
	// Since 6.3: overflow first, then the non-zero check, then write.
	if overflow {
		return c.relocOverflow(mod, at, typ, val)
	}
	if nonzero && c.m.Has(X86RelocSecIdx) {
		c.log(LevelErr, "module: x86/modules: Invalid relocation target, existing value is nonzero for sec %d, idx %d, type %d, loc %x, val %x", at.sec, at.idx, typ, loc, val)
		c.uncertain("the address in the relocation error line depends on where the kernel put the module")
		return unix.ENOEXEC
	}
	if nonzero {
		c.log(LevelErr, "module: x86/modules: Invalid relocation target, existing value is nonzero for type %d, loc %016x, val %x", typ, loc, val)
		return unix.ENOEXEC
	}
	write(field, val, size)
	return 0
}

func write(field []byte, val uint64, size int) {
	if size == 8 {
		binary.LittleEndian.PutUint64(field, val)
	} else {
		binary.LittleEndian.PutUint32(field, uint32(val))
	}
}

// relocOverflow prints the two overflow lines (the value depends on real addresses).
func (c *call) relocOverflow(mod *module, at relocAt, typ uint32, val uint64) unix.Errno {
	if c.m.Has(X86RelocSecIdx) {
		c.log(LevelErr, "module: overflow in relocation type %d val %x sec %d idx %d", typ, val, at.sec, at.idx)
	} else {
		c.log(LevelErr, "module: overflow in relocation type %d val %x", typ, val)
	}
	c.log(LevelErr, "module: `%s' likely not compiled with -mcmodel=kernel", mod.Name)
	c.uncertain("the overflowing value in the log depends on real (KASLR) addresses")
	return unix.ENOEXEC
}
