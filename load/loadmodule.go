package load

import (
	"golang.org/x/sys/unix"
)

// loadModule mirrors load_module (kernel/module/main.c) on every followed line; each
// call below names the kernel function it stands for. Failures after the module joined
// the list unwind it (unlink, references dropped); log lines and global taints stay.
func (c *call) loadModule(image []byte, args string, flags Flags) unix.Errno {
	info := &loadInfo{hdr: image, len: uint64(len(image))}
	if e := c.moduleSigCheck(info, flags); e != 0 {
		return e
	}
	if !c.m.Has(ElfValidityCache) {
		if e := c.elfValidityCheck(info); e != 0 { // elf_validity_check
			return e
		}
		if e := c.setupLoadInfo61(info, flags); e != 0 { // setup_load_info
			return e
		}
	} else if e := c.elfValidityCacheCopy612(info, flags); e != 0 { // elf_validity_cache_copy
		return e
	}
	mod := &module{Name: info.modName}
	// 6.12 groups the next steps as early_mod_check.
	if e := c.blacklisted(info); e != 0 { // blacklisted
		return e
	}
	c.rewriteSectionHeaders(info)                        // rewrite_section_headers
	if e := c.checkModstructVersion(info, mod); e != 0 { // check_modstruct_version
		return e
	}
	if !c.m.Has(ModinfoEarly) {
		// Before 6.4, layout_and_allocate starts with check_modinfo, which also taints.
		if e := c.checkModinfo61(info, mod, flags); e != 0 {
			return e
		}
	} else if e := c.checkModinfo612(info, mod, flags); e != 0 { // check_modinfo
		return e
	}
	if c.m.Has(PatientCheckEarly) {
		if e := c.patientCheckExists(mod.Name, "module_patient_check_exists"); e != 0 {
			return e
		}
	}
	layout, e := c.layoutAndAllocate(info, mod) // layout_and_allocate
	if e != 0 {
		return e
	}
	mod.layout = layout
	info.mem = newMemory(info)
	if e := c.addUnformedModule(mod); e != 0 { // add_unformed_module
		return e
	}
	if e := c.formModule(info, mod, args); e != 0 {
		if mod.state != stateGoing || c.m.find(mod.Name, true) == mod {
			c.m.unlink(mod)
		}
		return e
	}
	if e := c.doInitModule(mod); e != 0 { // do_init_module
		return e
	}
	c.res.Module = mod.snapshot()
	return 0
}

// formModule is load_module from the taints after add_unformed_module to
// mod_sysfs_setup: the part that runs with the module in the list.
func (c *call) formModule(info *loadInfo, mod *module, args string) unix.Errno {
	if !c.m.Has(TaintsAfterList) {
		c.signatureTaint(info, mod) // the CONFIG_MODULE_SIG block of load_module
	} else {
		c.moduleAugmentKernelTaints(info, mod) // module_augment_kernel_taints
	}
	if e := c.percpuModalloc(info, mod); e != 0 { // percpu_modalloc
		return e
	}
	mod.refcnt = moduleRefBase + 1                    // module_unload_init: base + the init reference
	if e := c.findModuleSections(info, mod); e != 0 { // find_module_sections
		return e
	}
	if !c.m.Has(ExportSymbolVersions) {
		if e := c.checkModuleLicenseAndVersions(mod); e != 0 { // check_module_license_and_versions
			return e
		}
	} else if e := c.checkExportSymbolVersions(mod, c.exportCheckName()); e != 0 {
		return e
	}
	if e := c.setupModinfo(info, mod); e != 0 { // setup_modinfo
		return e
	}
	info.readSymtab()
	if e := c.simplifySymbols(info, mod); e != 0 { // simplify_symbols
		return e
	}
	if e := c.applyRelocations(info, mod); e != 0 { // apply_relocations
		return e
	}
	c.moduleTables(info, mod)                             // post_relocation: the relocated tables become readable
	if e := c.arch.moduleFinalize(c, info, mod); e != 0 { // post_relocation: module_finalize
		return e
	}
	c.m.indexExports(mod)
	if c.m.Opts.KeepImage {
		for _, s := range info.mem.secs {
			c.res.Image = append(c.res.Image, SectionImage{Name: info.secName(s.index), Addr: s.addr, Data: s.b})
		}
	}
	if e := c.completeFormation(mod); e != 0 { // complete_formation
		return e
	}
	c.step("prepare_coming_module", 0, "COMING notifiers assumed to accept (BTF, livepatch, ftrace)")
	after, dashes, e := c.parseArgs(info, mod, args) // parse_args
	if e != 0 {
		return c.step("parse_args", e, "parameter error")
	}
	if dashes {
		c.log(LevelWarn, "%s: parameters '%s' after `--' ignored", mod.Name, after)
	}
	c.step("parse_args", 0, "%q", args)
	return c.modSysfsSetup(mod) // mod_sysfs_setup
}

// completeFormation mirrors complete_formation: verify_exported_symbols, then the
// module becomes COMING (6.1's misalignment check and 6.12's set_memory failures cannot
// happen for a well-formed layout).
func (c *call) completeFormation(mod *module) unix.Errno {
	for _, t := range [][]export{mod.syms, mod.gplSyms} {
		for _, s := range t {
			if f, ok := c.m.findSymbol(s.name, true); ok {
				owner := "kernel"
				if f.owner != nil {
					owner = f.owner.Name
				}
				c.log(LevelErr, "%s: exports duplicate symbol %s (owned by %s)", mod.Name, s.name, owner)
				return c.step("verify_exported_symbols", unix.ENOEXEC, "%s already exported by %s", s.name, owner)
			}
		}
	}
	mod.state = stateComing
	c.step("complete_formation", 0, "module is COMING")
	return 0
}

// percpuModuleReserve is PERCPU_MODULE_RESERVE: the per-cpu area all modules share.
func (c *call) percpuModuleReserve() uint64 {
	if c.m.K.Config.Enabled("MEM_ALLOC_PROFILING") {
		return 8 << 13
	}
	return 8 << 10
}

// percpuModalloc mirrors percpu_modalloc: modules' DEFINE_PER_CPU data come from a small
// reserved chunk. The model allocates it as a bump allocator of the loaded modules'
// sizes; the real chunk's fragmentation is not modelled.
func (c *call) percpuModalloc(info *loadInfo, mod *module) unix.Errno {
	s := info.sechdrs[info.index.pcpu]
	if info.index.pcpu == 0 || s.size == 0 {
		return 0
	}
	a := s.addralign
	if a > pageSize {
		c.log(LevelWarn, "%s: per-cpu alignment %d > %d", mod.Name, a, pageSize)
		a = pageSize
	}
	used := uint64(0)
	for _, o := range c.m.modules {
		used += o.percpuSize
	}
	if used+s.size > c.percpuModuleReserve() {
		c.log(LevelWarn, "%s: Could not allocate %d bytes percpu data", mod.Name, s.size)
		c.uncertain("per-cpu reserve exhaustion depends on fragmentation and on what the kernel itself uses")
		return c.step("percpu_modalloc", unix.ENOMEM, "%d bytes requested, %d of %d used", s.size, used, c.percpuModuleReserve())
	}
	if a == 0 {
		a = 1
	}
	c.m.nextPCPU = (c.m.nextPCPU + a - 1) &^ (a - 1)
	mod.percpu, mod.percpuSize = c.m.nextPCPU, s.size
	c.m.nextPCPU += s.size
	c.step("percpu_modalloc", 0, "%d bytes of per-cpu data", s.size)
	return 0
}

// exportCheckName is the function checking a module's export sections: renamed
// check_export_symbol_sections when __kflagstab came (KFlagstab).
func (c *call) exportCheckName() string {
	if c.m.Has(KFlagstab) {
		return "check_export_symbol_sections"
	}
	return "check_export_symbol_versions"
}
