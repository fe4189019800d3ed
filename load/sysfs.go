package load

import "golang.org/x/sys/unix"

// modSysfsSetup mirrors mod_sysfs_setup's failure that the model can predict: a
// /sys/module/NAME directory that already exists because of built-in code
// (mod_sysfs_init: "module is already loaded", EINVAL). Loaded modules were caught by
// the duplicate check before. Where the image's built-in parameters could not be read
// (kernel.Kernel.BuiltinSysfsPartial: an arm64 Image), a name free in modules.builtin is
// only assumed free, and the result says so.
func (c *call) modSysfsSetup(mod *module) unix.Errno {
	if c.m.K.BuiltinSysfs[mod.Name] {
		c.log(LevelErr, "%s: module is already loaded", mod.Name)
		return c.step("mod_sysfs_setup", unix.EINVAL, "/sys/module/%s exists for built-in code", mod.Name)
	}
	if c.m.K.BuiltinSysfsPartial {
		c.uncertain("/sys/module/%s is free of built-in code: the image's built-in parameters (__param) could not be read (%s)", mod.Name, c.m.K.Sources.BuiltinSysfs)
	}
	c.step("mod_sysfs_setup", 0, "/sys/module/%s created", mod.Name)
	return 0
}
