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
	if e := c.mayInitModule(); e != 0 {
		return c.finish(e)
	}
	if flags&^(IgnoreModversions|IgnoreVermagic|CompressedFile) != 0 {
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

// mayInitModule mirrors may_init_module: CAP_SYS_MODULE and modules_disabled.
func (c *call) mayInitModule() unix.Errno {
	if c.m.Opts.Unprivileged || c.m.modulesDisabled() {
		return c.step("may_init_module", unix.EPERM, "no CAP_SYS_MODULE or modules_disabled=1")
	}
	c.step("may_init_module", 0, "")
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
