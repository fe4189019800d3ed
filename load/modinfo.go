package load

import (
	"strings"

	"golang.org/x/sys/unix"
)

// licenseIsGPLCompatible mirrors license_is_gpl_compatible (include/linux/license.h).
func licenseIsGPLCompatible(l string) bool {
	switch l {
	case "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL":
		return true
	}
	return false
}

// checkModinfoVermagic is the part of check_modinfo every line shares: vermagic
// (or try_to_force_load when absent or ignored) and the livepatch support check.
func (c *call) checkModinfoVermagic(info *loadInfo, mod *module, flags Flags) unix.Errno {
	const fn = "check_modinfo"
	modmagic, ok := info.getModinfo("vermagic")
	if flags&IgnoreVermagic != 0 {
		ok = false
	}
	if !ok {
		if e := c.tryToForceLoad(mod, "bad vermagic"); e != 0 {
			return c.step(fn, e, "no vermagic and no CONFIG_MODULE_FORCE_LOAD")
		}
	} else if !c.sameMagic(modmagic, c.m.K.Vermagic, info.index.vers != 0) {
		c.log(LevelErr, "%s: version magic '%s' should be '%s'", info.name, modmagic, c.m.K.Vermagic)
		return c.step(fn, unix.ENOEXEC, "vermagic %q differs from the kernel's %q", modmagic, c.m.K.Vermagic)
	}
	return 0
}

// checkModinfoLivepatch mirrors check_modinfo_livepatch. On 6.1 it also taints K (with
// its once-only notice); on 6.12 that moved to module_augment_kernel_taints.
func (c *call) checkModinfoLivepatch(info *loadInfo, mod *module, taintNow bool) unix.Errno {
	if _, ok := info.getModinfo("livepatch"); !ok {
		return 0
	}
	if c.m.K.Config.Livepatch() {
		mod.livepatch = true
		if taintNow {
			c.addTaintModule(mod, TaintLivepatch)
			c.logOnce("livepatch", LevelNotice, "%s: tainting kernel with TAINT_LIVEPATCH", mod.Name)
		}
		return 0
	}
	// The kernel's format string has no trailing newline; the record is the same.
	c.log(LevelErr, "%s: module is marked as livepatch module, but livepatch support is disabled", mod.Name)
	return c.step("check_modinfo_livepatch", unix.ENOEXEC, "livepatch module without CONFIG_LIVEPATCH")
}

// checkModinfoRetpoline mirrors check_modinfo_retpoline and x86's retpoline_module_ok:
// a module without "retpoline=" on a kernel with retpoline support and a CPU that needs
// the mitigation gets two lines (no taint).
func (c *call) checkModinfoRetpoline(info *loadInfo, mod *module) {
	if !c.m.K.Config.Retpoline() || c.m.Opts.NoSpectreV2Mitigation {
		return
	}
	if _, ok := info.getModinfo("retpoline"); ok {
		return
	}
	c.log(LevelErr, "Spectre V2 : System may be vulnerable to spectre v2")
	c.log(LevelWarn, "%s: loading module not compiled with retpoline compiler.", mod.Name)
	c.uncertain("retpoline warning assumes a CPU whose spectre v2 mitigation is not NONE")
}

// setLicense mirrors set_license (6.1) / module_license_taint_check (6.12).
func (c *call) setLicense(info *loadInfo, mod *module) {
	license, ok := info.getModinfo("license")
	if !ok {
		license = "unspecified"
	}
	if licenseIsGPLCompatible(license) {
		return
	}
	if !c.testTaint(TaintProprietaryModule) {
		c.log(LevelWarn, "%s: module license '%s' taints kernel.", mod.Name, license)
	}
	c.addTaintModule(mod, TaintProprietaryModule) // LOCKDEP_NOW_UNRELIABLE
	c.lockdepUnreliable()
}

// outOfTreeStagingTest applies the intree (O), retpoline, staging (C) checks, shared by
// 6.1's check_modinfo and 6.12's module_augment_kernel_taints.
func (c *call) outOfTreeAndStaging(info *loadInfo, mod *module) {
	if _, ok := info.getModinfo("intree"); !ok {
		if !c.testTaint(TaintOOTModule) {
			c.log(LevelWarn, "%s: loading out-of-tree module taints kernel.", mod.Name)
		}
		c.addTaintModule(mod, TaintOOTModule)
	}
	c.checkModinfoRetpoline(info, mod)
	if _, ok := info.getModinfo("staging"); ok {
		c.addTaintModule(mod, TaintCrap)
		c.log(LevelWarn, "%s: module is from the staging directory, the quality is unknown, you have been warned.", mod.Name)
	}
}

// testModule applies the "test=" taint N.
func (c *call) testModule(info *loadInfo, mod *module) {
	if _, ok := info.getModinfo("test"); ok && c.m.Has(TestTaint) {
		if !c.testTaint(TaintTest) {
			c.log(LevelWarn, "%s: loading test module taints kernel.", mod.Name)
		}
		c.addTaintModule(mod, TaintTest)
	}
}

// checkModinfo61 mirrors 6.1's check_modinfo, which also applies the O, C, K, P and N
// taints — before the duplicate check, so they stick even when the load then fails.
func (c *call) checkModinfo61(info *loadInfo, mod *module, flags Flags) unix.Errno {
	if e := c.checkModinfoVermagic(info, mod, flags); e != 0 {
		return e
	}
	c.outOfTreeAndStaging(info, mod)
	if e := c.checkModinfoLivepatch(info, mod, true); e != 0 {
		return e
	}
	c.setLicense(info, mod)
	c.testModule(info, mod)
	c.step("check_modinfo", 0, "vermagic ok; module taints %q", mod.taints.ModuleString())
	return 0
}

// checkModinfo612 mirrors 6.12's check_modinfo: vermagic and livepatch support only.
func (c *call) checkModinfo612(info *loadInfo, mod *module, flags Flags) unix.Errno {
	if e := c.checkModinfoVermagic(info, mod, flags); e != 0 {
		return e
	}
	if e := c.checkModinfoLivepatch(info, mod, false); e != 0 {
		return e
	}
	c.step("check_modinfo", 0, "vermagic ok")
	return 0
}

// nameBasedLicenseTaints mirrors the ndiswrapper/driverloader/lve rules and the
// "module license taints kernel." summary, printed when P was unset at prevP.
func (c *call) nameBasedLicenseTaints(mod *module, prevP bool) {
	switch mod.Name {
	case "ndiswrapper":
		c.addTaint(TaintProprietaryModule)
		c.lockdepUnreliable()
	case "driverloader", "lve":
		c.addTaintModule(mod, TaintProprietaryModule)
		c.lockdepUnreliable()
	}
	if !prevP && c.testTaint(TaintProprietaryModule) {
		c.log(LevelWarn, "%s: module license taints kernel.", mod.Name)
	}
}

// signatureTaint is the E taint for a module whose signature was not verified, with
// its once-per-boot notice (6.1: in load_module; 6.12: in module_augment_kernel_taints).
func (c *call) signatureTaint(info *loadInfo, mod *module) {
	if !c.m.K.Config.ModuleSig() || info.sigOK {
		return
	}
	c.logOnce("sig", LevelNotice, "%s: module verification failed: signature and/or required key missing - tainting kernel", mod.Name)
	c.addTaintModule(mod, TaintUnsignedModule)
}

// moduleAugmentKernelTaints mirrors 6.12's module_augment_kernel_taints: every taint,
// after the module joined the list.
func (c *call) moduleAugmentKernelTaints(info *loadInfo, mod *module) {
	prevP := c.testTaint(TaintProprietaryModule)
	c.outOfTreeAndStaging(info, mod)
	if mod.livepatch {
		c.addTaintModule(mod, TaintLivepatch)
		c.logOnce("livepatch", LevelNotice, "%s: tainting kernel with TAINT_LIVEPATCH", mod.Name)
	}
	c.setLicense(info, mod)
	c.testModule(info, mod)
	c.signatureTaint(info, mod)
	c.nameBasedLicenseTaints(mod, prevP)
	c.step("module_augment_kernel_taints", 0, "module taints %q", mod.taints.ModuleString())
}

// checkModuleLicenseAndVersions mirrors 6.1's check_module_license_and_versions: the
// name-based licence rules, then exported symbols without CRCs.
func (c *call) checkModuleLicenseAndVersions(mod *module) unix.Errno {
	c.nameBasedLicenseTaints(mod, c.testTaint(TaintProprietaryModule))
	return c.checkExportSymbolVersions(mod, "check_module_license_and_versions")
}

// checkExportSymbolVersions mirrors check_export_symbol_versions (6.12; the second half
// of the 6.1 function): exports without a matching __kcrctab need a forced load.
func (c *call) checkExportSymbolVersions(mod *module, fn string) unix.Errno {
	if c.m.Has(KFlagstab) && len(mod.syms) > 0 && !mod.hasFlags { // check_export_symbol_sections
		c.log(LevelErr, "%s: no flags for exported symbols", mod.Name)
		return c.step(fn, unix.ENOEXEC, "exports without __kflagstab")
	}
	if c.m.K.Config.Modversions() && (len(mod.syms) > 0 && !mod.hasCRCs || len(mod.gplSyms) > 0 && !mod.hasGPLCRCs) {
		if e := c.tryToForceLoad(mod, "no versions for exported symbols"); e != 0 {
			return c.step(fn, e, "exports without CRCs")
		}
	}
	c.step(fn, 0, "")
	return 0
}

// setupModinfo mirrors setup_modinfo: the version and srcversion attributes and, with
// module namespaces, the refusal of an explicit import of one.
func (c *call) setupModinfo(info *loadInfo, mod *module) unix.Errno {
	mod.version, _ = info.getModinfo("version")
	mod.srcversion, _ = info.getModinfo("srcversion")
	if c.m.Has(ModuleNamespaces) {
		for _, ns := range info.getModinfoAll("import_ns") {
			if strings.HasPrefix(ns, "module:") {
				c.log(LevelErr, "%s: module tries to import module namespace: %s", mod.Name, ns)
				return c.step("setup_modinfo", unix.EPERM, "explicit import of %s", ns)
			}
		}
	}
	return 0
}
