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

func x86RelocName(t uint32) string {
	if n, ok := relocNames[t]; ok {
		return n
	}
	return fmt.Sprintf("R_X86_64_%d", t)
}

// x86Hooks are x86_64's hooks (arch/x86/kernel/module.c): no frobbing of sections,
// apply_relocate_add below, and a module_finalize (alternatives, ORC, static calls)
// that cannot fail for a module the earlier stages accepted.
type x86Hooks struct{}

func (x86Hooks) machine() (uint16, string) { return emX86_64, "EM_X86_64" }

// moduleFrobArchSections is the __weak default: x86 changes no section.
func (x86Hooks) moduleFrobArchSections(*call, *loadInfo, *module) unix.Errno { return 0 }

func (x86Hooks) applyRelocateAdd(c *call, info *loadInfo, mod *module, relsec int) (int, unix.Errno) {
	return c.applyRelocateAdd(info, mod, relsec)
}

// moduleFinalize: x86's module_finalize patches alternatives, paravirt and static
// calls and registers ORC data; none of it can refuse a module here.
func (x86Hooks) moduleFinalize(*call, *loadInfo, *module) unix.Errno { return 0 }

// x86 address space: modules at MODULES_VADDR, vmlinux in the top 2 GiB, per-cpu
// offsets zero-based (x86_64's per-cpu segment).
func (x86Hooks) space() addressSpace {
	return addressSpace{moduleArea: moduleAreaStart, kernelText: 0xffffffff81000000, percpuModule: percpuModuleStart}
}

// applyRelocateAdd mirrors x86_64's __apply_relocate_add (6.1) and
// __write_relocate_add (6.12, rewritten in 6.3): they differ in the order of the
// "existing value is nonzero" and overflow checks and in the message's wording. The
// printed loc is a hashed %p in the kernel: the model prints its own address.
func (c *call) applyRelocateAdd(info *loadInfo, mod *module, relsec int) (int, unix.Errno) {
	rs := info.sechdrs[relsec]
	tgtAddr := info.sechdrs[rs.info].addr
	tb := relocTarget(info, relsec)
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
		c.res.Relocs[x86RelocName(typ)]++
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
