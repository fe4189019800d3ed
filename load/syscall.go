package load

import (
	"bytes"

	"golang.org/x/sys/unix"

	"gokmod/ko"
)

// FinitModule predicts finit_module(2) on a file holding image (SYSCALL finit_module):
// may_init_module, the flags check, kernel_read_file and, with CompressedFile, the
// in-kernel decompression; then load_module.
func (m *Model) FinitModule(image []byte, params string, flags Flags) *Result {
	c := m.newCall()
	if e := c.syscallExists("finit_module"); e != 0 {
		return c.finish(e)
	}
	if e := c.mayInitModule(); e != 0 {
		return c.finish(e)
	}
	if flags&^c.knownFlags() != 0 {
		return c.finish(c.step("finit_module", unix.EINVAL, "unknown flags %#x", uint32(flags)))
	}
	// kernel_read_file: an empty file is refused before anything else is read.
	if len(image) == 0 {
		return c.finish(c.step("kernel_read_file", unix.EINVAL, "empty file"))
	}
	c.step("kernel_read_file", 0, "%d bytes", len(image))
	if flags&CompressedFile != 0 {
		var e unix.Errno
		if image, e = c.moduleDecompress(image); e != 0 {
			return c.finish(e)
		}
	}
	return c.finish(c.loadModule(image, params, flags))
}

// InitModule predicts init_module(2) with image as the user buffer
// (SYSCALL init_module → copy_module_from_user → load_module with flags 0).
func (m *Model) InitModule(image []byte, params string) *Result {
	c := m.newCall()
	if e := c.syscallExists("init_module"); e != 0 {
		return c.finish(e)
	}
	if e := c.mayInitModule(); e != 0 {
		return c.finish(e)
	}
	// copy_module_from_user: shorter than an ELF header is refused silently.
	if len(image) < elfHeaderSize {
		return c.finish(c.step("copy_module_from_user", unix.ENOEXEC, "%d bytes, less than an ELF header", len(image)))
	}
	c.step("copy_module_from_user", 0, "%d bytes", len(image))
	return c.finish(c.loadModule(image, params, 0))
}

// syscallExists is the system call table: without CONFIG_MODULES, init_module,
// finit_module and delete_module are cond_syscall stubs (kernel/sys_ni.c) that
// sys_ni_syscall answers with ENOSYS before anything is looked at; delete_module is
// also one without CONFIG_MODULE_UNLOAD (its SYSCALL_DEFINE2 sits under that option).
func (c *call) syscallExists(name string) unix.Errno {
	cfg := c.m.K.Config
	switch {
	case !cfg.Modules():
		c.res.Refused = RefusedNoModules
		return c.step("sys_ni_syscall", unix.ENOSYS, "kernel built without CONFIG_MODULES: %s is not implemented", name)
	case name == "delete_module" && !cfg.ModuleUnload():
		c.res.Refused = RefusedNoUnload
		return c.step("sys_ni_syscall", unix.ENOSYS, "kernel built without CONFIG_MODULE_UNLOAD: %s is not implemented", name)
	}
	return 0
}

// mayInitModule mirrors may_init_module: capable(CAP_SYS_MODULE), then modules_disabled.
// Both are EPERM; the trace and Result.Refused name which (the capability first, as
// the kernel tests it first).
func (c *call) mayInitModule() unix.Errno {
	if e := c.mayModule("may_init_module"); e != 0 {
		return e
	}
	c.step("may_init_module", 0, "")
	return 0
}

// mayModule is the privilege test init_module, finit_module and delete_module share:
// !capable(CAP_SYS_MODULE) || modules_disabled → EPERM.
func (c *call) mayModule(fn string) unix.Errno {
	switch {
	case c.m.Opts.Unprivileged:
		c.res.Refused = RefusedCapability
		return c.step(fn, unix.EPERM, "the caller lacks CAP_SYS_MODULE")
	case c.m.Opts.ModulesDisabled:
		c.res.Refused = RefusedDisabled
		return c.step(fn, unix.EPERM, "modules_disabled is 1: module loading and unloading are off until reboot")
	case c.m.modulesDisabled():
		c.res.Refused = RefusedDisabled
		return c.step(fn, unix.EPERM, "modules_disabled is 1 (nomodule on the kernel command line): module loading and unloading are off")
	}
	return 0
}

// Compression magics module_decompress checks (only the configured algorithm's).
var decompressMagic = map[string][]byte{
	"gzip": {0x1f, 0x8b, 0x08},
	"xz":   {0xfd, '7', 'z', 'X', 'Z', 0},
	"zstd": {0x28, 0xb5, 0x2f, 0xfd},
}

// moduleDecompress mirrors module_decompress (kernel/module/decompress.c): only the
// algorithm chosen at build time exists; no CONFIG_MODULE_DECOMPRESS → EOPNOTSUPP.
func (c *call) moduleDecompress(b []byte) ([]byte, unix.Errno) {
	alg := c.m.K.Config.Decompress()
	if alg == "" {
		return nil, c.step("module_decompress", unix.EOPNOTSUPP, "kernel built without CONFIG_MODULE_DECOMPRESS")
	}
	if !bytes.HasPrefix(b, decompressMagic[alg]) {
		article := "a"
		if alg == "xz" {
			article = "an"
		}
		c.log(LevelErr, "not %s %s compressed module", article, alg)
		return nil, c.step("module_decompress", unix.EINVAL, "not %s data", alg)
	}
	out, _, err := ko.Decompress(b)
	if err != nil {
		// The decoder's status code is not modelled; the line's shape is.
		if alg == "zstd" {
			c.log(LevelErr, "ZSTD-decompression failed with status %d", -1)
		} else {
			c.log(LevelErr, "decompression failed with status %d", 1)
		}
		c.uncertain("decompression status code of a corrupt %s stream", alg)
		return nil, c.step("module_decompress", unix.EINVAL, "%v", err)
	}
	c.step("module_decompress", 0, "%s: %d bytes", alg, len(out))
	return out, 0
}

// modulesDisabled is modules_disabled: the sysctl, or "nomodule" on the command line
// (core_param nomodule, a bint).
func (m *Model) modulesDisabled() bool {
	if m.Opts.ModulesDisabled {
		return true
	}
	v, ok := m.K.CmdLineParam("nomodule")
	if !ok {
		return false
	}
	b, e := kstrtobool(v)
	return v == "" || e == 0 && b
}

// knownFlags are the finit_module flags the kernel accepts: MODULE_INIT_COMPRESSED_FILE
// only since 5.17 (InKernelDecompress).
func (c *call) knownFlags() Flags {
	if c.m.Has(InKernelDecompress) {
		return IgnoreModversions | IgnoreVermagic | CompressedFile
	}
	return IgnoreModversions | IgnoreVermagic
}
