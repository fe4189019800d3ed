package load

import (
	"golang.org/x/sys/unix"
)

// ELF machine numbers elf_check_arch accepts, one per modelled architecture.
const (
	emX86_64  = 62
	emAarch64 = 183
)

// archHooks is what an architecture gives load_module: the hooks declared in
// include/linux/moduleloader.h, plus the facts of its address space the model needs.
// The target architecture is data (kernel.Kernel.Arch), never the build's: an x86
// machine models an arm64 kernel and the other way round, so no file here carries a
// GOARCH suffix. Each architecture's hooks live in files named after the kernel's:
//
//	x86_64  relocate_x86_64.go      arch/x86/kernel/module.c
//	arm64   arm64_module.go         arch/arm64/kernel/module.c
//	        arm64_module_plts.go    arch/arm64/kernel/module-plts.c
//
// A value is made for each system call (newArchHooks): arm64 keeps per-module state
// between its hooks (mod->arch: the PLT sections and their counts).
type archHooks interface {
	// machine is the e_machine elf_check_arch accepts, and its name for the trace.
	machine() (uint16, string)
	// moduleFrobArchSections is module_frob_arch_sections, the first thing
	// layout_and_allocate does: it may resize sections before layout_sections.
	moduleFrobArchSections(c *call, info *loadInfo, mod *module) unix.Errno
	// applyRelocateAdd is apply_relocate_add for one SHT_RELA section: it returns how
	// many relocations it applied.
	applyRelocateAdd(c *call, info *loadInfo, mod *module, relsec int) (int, unix.Errno)
	// moduleFinalize is module_finalize, called by post_relocation.
	moduleFinalize(c *call, info *loadInfo, mod *module) unix.Errno
	// space is where the model puts module memory, exports and per-cpu data.
	space() addressSpace
}

// addressSpace is where the model puts things: module memory, vmlinux exports whose
// address the kernel files do not give, and modules' per-cpu data. The values only
// matter to the relocations' range checks, so each architecture keeps the distances
// its kernel keeps.
type addressSpace struct {
	moduleArea   uint64 // the first module allocation
	kernelText   uint64 // synthetic vmlinux export addresses start here
	percpuModule uint64 // the first module per-cpu offset or address
}

// newArchHooks returns the hooks of the model's kernel: arm64 when its configuration or
// image says so, else x86_64 (the model's first architecture, and what a kernel without
// either answer has always been modelled as).
func (m *Model) newArchHooks() archHooks {
	if m.K != nil && m.K.Arch() == "aarch64" {
		return newArm64Hooks(m)
	}
	return x86Hooks{}
}

// applyRelocations mirrors apply_relocations (kernel/module/main.c): every relocation
// section whose target is in range and SHF_ALLOC, stopping at the first error.
// Livepatch relocation sections are not modelled; SHT_REL is unsupported on both
// modelled architectures (the moduleloader.h stub of apply_relocate).
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
			n, e = c.arch.applyRelocateAdd(c, info, mod, i)
			total += n
		}
		if e != 0 {
			return c.step(fn, e, "relocation section %s", info.secName(i))
		}
	}
	c.step(fn, 0, "%d relocations applied", total)
	return 0
}

// relocTarget returns the bytes relocation section relsec patches: the target
// section's model memory, or for the per-cpu section (PercpuRelocs) a copy of its
// template in the image; nil when neither exists.
func relocTarget(info *loadInfo, relsec int) []byte {
	rs := info.sechdrs[relsec]
	if target := info.mem.section(int(rs.info)); target != nil {
		return target.b
	}
	if t := info.sechdrs[rs.info]; int(rs.info) == info.index.pcpu && t.typ != shtNobits && t.offset+t.size <= uint64(len(info.hdr)) {
		return append([]byte(nil), info.hdr[t.offset:t.offset+t.size]...)
	}
	return nil
}

// rela is one Elf64_Rela.
type rela struct {
	offset, info, addend uint64
}

func (r rela) typ() uint32 { return uint32(r.info) }
func (r rela) sym() uint64 { return r.info >> 32 }

// readRelas reads relocation section relsec's entries from the image, stopping at the
// image's end.
func readRelas(info *loadInfo, relsec int) []rela {
	rs := info.sechdrs[relsec]
	n := rs.size / relaSize
	out := make([]rela, 0, min(n, uint64(len(info.hdr))/relaSize))
	for i := uint64(0); i < n; i++ {
		off := rs.offset + i*relaSize
		if off+relaSize > uint64(len(info.hdr)) {
			break
		}
		out = append(out, rela{u64(info.hdr, off), u64(info.hdr, off+8), u64(info.hdr, off+16)})
	}
	return out
}
