package kernel

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
)

// Config is a kernel configuration as /boot/config-RELEASE spells it: option names
// without the CONFIG_ prefix mapped to their values ("y", "m", "4096", "\"sha256\"").
// Options that are "not set" are absent.
type Config map[string]string

// ReadConfig parses a kernel .config file, gzip-compressed if its name ends in .gz
// (/proc/config.gz).
func ReadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer z.Close()
		r = z
	}
	c, err := ParseConfig(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses the contents of a kernel .config: "CONFIG_X=value" lines;
// comments (including "# CONFIG_X is not set") and blank lines are skipped.
func ParseConfig(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "CONFIG_") {
			continue
		}
		c[strings.TrimPrefix(k, "CONFIG_")] = v
	}
	return c, sc.Err()
}

// Enabled reports whether option is built in (=y). Loader behaviour depends only on
// bool options, so =m never matters here.
func (c Config) Enabled(option string) bool { return c[option] == "y" }

// String returns a string option's value without its quotes ("" when unset).
func (c Config) String(option string) string { return strings.Trim(c[option], "\"") }

// The options that change what load_module and delete_module do. Each helper names
// the kernel code that tests it.

// ModuleSig is CONFIG_MODULE_SIG: module_sig_check runs and unsigned modules taint E.
func (c Config) ModuleSig() bool { return c.Enabled("MODULE_SIG") }

// ModuleSigForce is CONFIG_MODULE_SIG_FORCE: is_module_sig_enforced() from boot on.
func (c Config) ModuleSigForce() bool { return c.Enabled("MODULE_SIG_FORCE") }

// Modversions is CONFIG_MODVERSIONS: check_version and the CRC tables are in use.
func (c Config) Modversions() bool { return c.Enabled("MODVERSIONS") }

// ModuleUnload is CONFIG_MODULE_UNLOAD: refcounts, delete_module, and .exit sections
// laid out as core.
func (c Config) ModuleUnload() bool { return c.Enabled("MODULE_UNLOAD") }

// ForceLoad is CONFIG_MODULE_FORCE_LOAD: try_to_force_load taints F instead of failing.
func (c Config) ForceLoad() bool { return c.Enabled("MODULE_FORCE_LOAD") }

// ForceUnload is CONFIG_MODULE_FORCE_UNLOAD: delete_module honours O_TRUNC.
func (c Config) ForceUnload() bool { return c.Enabled("MODULE_FORCE_UNLOAD") }

// StrictModuleRWX is CONFIG_STRICT_MODULE_RWX: W+X sections are refused, and on 6.1
// every layout region is page-aligned.
func (c Config) StrictModuleRWX() bool { return c.Enabled("STRICT_MODULE_RWX") }

// Livepatch is CONFIG_LIVEPATCH: "livepatch=" modules are accepted and taint K.
func (c Config) Livepatch() bool { return c.Enabled("LIVEPATCH") }

// KallsymsAll is CONFIG_KALLSYMS_ALL: data symbols are kept in the core symtab.
func (c Config) KallsymsAll() bool { return c.Enabled("KALLSYMS_ALL") }

// Kallsyms is CONFIG_KALLSYMS: layout_symtab reserves the symbol tables.
func (c Config) Kallsyms() bool { return c.Enabled("KALLSYMS") }

// AllowMissingNamespaceImports is CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS.
func (c Config) AllowMissingNamespaceImports() bool {
	return c.Enabled("MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS")
}

// Constructors is CONFIG_CONSTRUCTORS: find_module_sections looks for .ctors.
func (c Config) Constructors() bool { return c.Enabled("CONSTRUCTORS") }

// DynamicDebugCore is CONFIG_DYNAMIC_DEBUG_CORE: unknown "x.dyndbg" params are eaten.
func (c Config) DynamicDebugCore() bool { return c.Enabled("DYNAMIC_DEBUG_CORE") }

// Retpoline is CONFIG_RETPOLINE (6.1) or CONFIG_MITIGATION_RETPOLINE (6.12): modules
// without "retpoline=Y" get a warning when the CPU needs the mitigation.
func (c Config) Retpoline() bool {
	return c.Enabled("RETPOLINE") || c.Enabled("MITIGATION_RETPOLINE")
}

// Decompress returns the algorithm finit_module(MODULE_INIT_COMPRESSED_FILE) accepts:
// "gzip", "xz" or "zstd", or "" without CONFIG_MODULE_DECOMPRESS (→ EOPNOTSUPP).
func (c Config) Decompress() string {
	if !c.Enabled("MODULE_DECOMPRESS") {
		return ""
	}
	switch {
	case c.Enabled("MODULE_COMPRESS_GZIP"):
		return "gzip"
	case c.Enabled("MODULE_COMPRESS_XZ"):
		return "xz"
	case c.Enabled("MODULE_COMPRESS_ZSTD"):
		return "zstd"
	}
	return ""
}

// PreemptModel returns the vermagic word for the preemption model, tested in the order
// include/linux/vermagic.h does: "preempt" (CONFIG_PREEMPT_BUILD), else "preempt_rt"
// (CONFIG_PREEMPT_RT), else "".
func (c Config) PreemptModel() string {
	switch {
	case c.Enabled("PREEMPT_BUILD"):
		return "preempt"
	case c.Enabled("PREEMPT_RT"):
		return "preempt_rt"
	}
	return ""
}

// Modules is CONFIG_MODULES: without it init_module, finit_module and delete_module are
// cond_syscall stubs (sys_ni_syscall, ENOSYS) and nothing below exists.
func (c Config) Modules() bool { return c.Enabled("MODULES") }
