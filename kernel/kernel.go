// Package kernel describes a target Linux kernel (x86_64) as the module loader sees it:
// release and vermagic, the configuration options that change load_module's behaviour,
// the exported symbols of vmlinux with their CRCs, licences and namespaces,
// sizeof(struct module), the built-in modules, the in-tree module list, and the keys
// that module signatures are checked against. Package load uses it to predict what
// init_module/finit_module/delete_module would do on that kernel.
//
// Everything comes from files: Debian's kernel packages unpacked but never installed
// (FromDebianRoot), a release installed on a system (FromInstalled), or the running
// machine's /lib/modules, /boot and /proc (FromHost, FromHostRoot). Nothing here loads or
// probes a module.
package kernel

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gokmod/ko"
)

// Generation selects which version of load_module the model follows. Only the two
// generations of Debian's kernels are modelled; other releases are mapped to the nearest
// and the result is an approximation.
type Generation int

const (
	// Gen61 is Linux 6.1 (before 6.3/6.4): core_layout/init_layout, the old x86
	// relocation code, taints applied in check_modinfo.
	Gen61 Generation = 61
	// Gen612 is Linux 6.12 as Debian ships it (6.12.117): mod->mem[] layout, the 6.3
	// relocation code, split ELF validation, module_augment_kernel_taints.
	Gen612 Generation = 612
)

func (g Generation) String() string {
	if g == Gen61 {
		return "6.1"
	}
	return "6.12"
}

// Version is an upstream kernel version, e.g. 6.1.192.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// Kernel is one target kernel.
type Kernel struct {
	Release string  // uname -r: 6.1.0-56-amd64
	Version Version // the upstream version it is based on: 6.1.192
	Config  Config

	// Vermagic is VERMAGIC_STRING, what check_modinfo compares "vermagic=" with.
	Vermagic string
	// Ksymtab and KsymtabGPL are vmlinux's export tables in the order find_symbol
	// bsearches them (sorted by name).
	Ksymtab, KsymtabGPL []Symbol
	// ModuleExports are the in-tree modules' exports from Module.symvers (nil without it).
	ModuleExports map[string]Symbol
	// ModuleStructSize is sizeof(struct module): the size of .gnu.linkonce.this_module in
	// the in-tree modules (0 if unknown).
	ModuleStructSize uint64
	// Builtin holds the names in modules.builtin.
	Builtin map[string]bool
	// BuiltinSysfs holds the names that exist under /sys/module without a loaded
	// module: built-ins with parameters or MODULE_VERSION (from vmlinux), and the
	// modules.builtin names (built-in drivers usually register a kobject).
	BuiltinSysfs map[string]bool
	// InTree maps an in-tree module name to its path under ModDir (from modules.dep).
	InTree map[string]string
	// Deps maps an in-tree module to the modules it depends on (modules.dep).
	Deps map[string][]string
	// ModDir is /lib/modules/RELEASE.
	ModDir string
	// Certs are the X.509 certificates built into vmlinux (the builtin trusted keyring).
	Certs []*x509.Certificate

	// CmdLine is the boot command line the model assumes (module.sig_enforce=1,
	// module_blacklist=..., nomodule).
	CmdLine string

	// Notes say what could not be read and what the model does without it (an
	// unreadable kernel image: no built-in certificates).
	Notes []string

	exports map[string]int // name -> index: >=0 Ksymtab, <0 -(index+1) in KsymtabGPL
}

// Generation returns the load_module generation that applies to k.
func (k *Kernel) Generation() Generation {
	if k.Version.AtLeast(6, 4) {
		return Gen612
	}
	return Gen61
}

// Export returns vmlinux's export of name.
func (k *Kernel) Export(name string) (Symbol, bool) {
	i, ok := k.exports[name]
	switch {
	case !ok:
		return Symbol{}, false
	case i >= 0:
		return k.Ksymtab[i], true
	default:
		return k.KsymtabGPL[-i-1], true
	}
}

// SigEnforce is is_module_sig_enforced(): CONFIG_MODULE_SIG_FORCE, or
// module.sig_enforce=1 (any true value) on the command line.
func (k *Kernel) SigEnforce() bool {
	if k.Config.ModuleSigForce() {
		return true
	}
	v, ok := k.CmdLineParam("module.sig_enforce")
	return ok && (v == "" || strings.ContainsAny(v[:1], "yY1tT") || strings.HasPrefix(strings.ToLower(v), "on"))
}

// ModuleBlacklist returns the module_blacklist= names from the command line.
func (k *Kernel) ModuleBlacklist() string {
	v, _ := k.CmdLineParam("module_blacklist")
	return v
}

// CmdLineParam returns the value of the last name=value on the command line.
func (k *Kernel) CmdLineParam(name string) (string, bool) {
	val, found := "", false
	for _, f := range strings.Fields(k.CmdLine) {
		n, v, _ := strings.Cut(f, "=")
		if strings.ReplaceAll(n, "-", "_") == strings.ReplaceAll(name, "-", "_") {
			val, found = strings.Trim(v, "\""), true
		}
	}
	return val, found
}

// ComposeVermagic builds VERMAGIC_STRING from the release and configuration as
// include/linux/vermagic.h does (x86_64 has no MODULE_ARCH_VERMAGIC; RANDSTRUCT adds a
// hashed seed the model cannot know, so it is not supported).
func ComposeVermagic(release string, c Config) string {
	s := release + " "
	if c.Enabled("SMP") {
		s += "SMP "
	}
	if p := c.PreemptModel(); p != "" {
		s += p + " "
	}
	if c.ModuleUnload() {
		s += "mod_unload "
	}
	if c.Modversions() {
		s += "modversions "
	}
	return s
}

// Files tells where a kernel's files are; FromDebianRoot and FromHost fill it in.
type Files struct {
	Release  string
	Config   string // boot/config-RELEASE
	ModDir   string // lib/modules/RELEASE
	Symvers  string // Module.symvers ("" or missing: exports from vmlinux only)
	Vmlinux  string // decompressed vmlinux ("" or missing: no addresses, no certs)
	CmdLine  string // the boot command line to assume
	Version  string // "6.1.192" when known; otherwise taken from the banner or Release
	NeedExps bool   // fail when no export table can be found
}

// FromDebianRoot loads the kernel unpacked from Debian's packages into root (as
// scripts/setup.sh does): boot/config-REL, lib/modules/REL, usr/src/linux-headers-REL/
// Module.symvers and the decompressed vmlinux at root/vmlinux.
func FromDebianRoot(root, release string) (*Kernel, error) {
	return Load(Files{
		Release:  release,
		Config:   filepath.Join(root, "boot", "config-"+release),
		ModDir:   filepath.Join(root, "lib", "modules", release),
		Symvers:  filepath.Join(root, "usr", "src", "linux-headers-"+release, "Module.symvers"),
		Vmlinux:  filepath.Join(root, "vmlinux"),
		NeedExps: true,
	})
}

// FromHost describes the running kernel: FromHostRoot("/").
func FromHost() (*Kernel, error) { return FromHostRoot("/") }

// bannerVersion is compiled on first use: at package initialization it would cost every
// gokmod command's start-up.
var bannerVersion = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\) #[^\n(]*Debian (\d+)\.(\d+)\.(\d+)`)
})

// Load builds a Kernel from explicit file locations.
func Load(f Files) (*Kernel, error) {
	k := &Kernel{Release: f.Release, ModDir: f.ModDir, CmdLine: f.CmdLine}
	var err error
	if k.Config, err = ReadConfig(f.Config); err != nil {
		return nil, err
	}
	k.Vermagic = ComposeVermagic(f.Release, k.Config)
	k.Version = parseVersion(f.Version)
	if k.InTree, k.Deps, err = readModulesDep(filepath.Join(f.ModDir, "modules.dep")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if k.Builtin, err = readNameList(filepath.Join(f.ModDir, "modules.builtin")); err != nil {
		return nil, err
	}
	k.BuiltinSysfs = map[string]bool{}
	for n := range k.Builtin {
		k.BuiltinSysfs[n] = true
	}
	var all []Symbol
	if f.Symvers != "" {
		if all, err = readSymvers(f.Symvers); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if f.Vmlinux != "" {
		if err := k.readVmlinux(f.Vmlinux); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if k.Ksymtab == nil && k.KsymtabGPL == nil {
		k.Ksymtab, k.KsymtabGPL = splitVmlinux(all)
	}
	if f.NeedExps && len(k.Ksymtab) == 0 {
		return nil, fmt.Errorf("kernel %s: no export table (neither vmlinux __ksymtab nor Module.symvers)", f.Release)
	}
	k.ModuleExports = map[string]Symbol{}
	for _, s := range all {
		if s.Owner != "vmlinux" {
			k.ModuleExports[s.Name] = s
		}
	}
	k.index()
	if k.Version.Major == 0 {
		k.Version = parseVersion(f.Release)
	}
	k.ModuleStructSize = moduleStructSize(f.ModDir, k.InTree)
	return k, nil
}

// readVmlinux takes the export tables, the built-in sysfs names, the certificates and
// the exact upstream version from the kernel image.
func (k *Kernel) readVmlinux(path string) error {
	v, err := openVmlinux(path)
	if err != nil {
		return err
	}
	defer v.Close()
	if k.Ksymtab, err = v.ksymtab("__ksymtab", "__kcrctab", false); err != nil {
		return err
	}
	if k.KsymtabGPL, err = v.ksymtab("__ksymtab_gpl", "__kcrctab_gpl", true); err != nil {
		return err
	}
	for n := range v.paramModules() {
		k.BuiltinSysfs[n] = true
	}
	for n := range v.modverModules() {
		k.BuiltinSysfs[n] = true
	}
	k.Certs = v.certificates()
	if ro := v.f.Section(".rodata"); ro != nil && k.Version.Major == 0 {
		if m := bannerVersion().FindSubmatch(v.bytes(ro)); m != nil {
			k.Version = parseVersion(string(m[1]) + "." + string(m[2]) + "." + string(m[3]))
		}
	}
	return nil
}

// index builds the name lookup; the first table wins, as in find_symbol.
func (k *Kernel) index() {
	k.exports = make(map[string]int, len(k.Ksymtab)+len(k.KsymtabGPL))
	for i := len(k.KsymtabGPL) - 1; i >= 0; i-- {
		k.exports[k.KsymtabGPL[i].Name] = -i - 1
	}
	for i := len(k.Ksymtab) - 1; i >= 0; i-- {
		k.exports[k.Ksymtab[i].Name] = i
	}
}

// parseVersion reads the leading "A.B[.C]" of s.
func parseVersion(s string) Version {
	var v Version
	parts := strings.SplitN(s, ".", 3)
	num := func(p string) int {
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		n, _ := strconv.Atoi(p[:end])
		return n
	}
	if len(parts) > 0 {
		v.Major = num(parts[0])
	}
	if len(parts) > 1 {
		v.Minor = num(parts[1])
	}
	if len(parts) > 2 {
		v.Patch = num(parts[2])
	}
	return v
}

// moduleStructSize reads sizeof(struct module) from the .gnu.linkonce.this_module
// section of a few in-tree modules (all agree; the first readable one is used).
func moduleStructSize(modDir string, inTree map[string]string) uint64 {
	for _, name := range []string{"minix", "llc", "dummy", "loop"} {
		if p, ok := inTree[name]; ok {
			if f, err := ko.Open(filepath.Join(modDir, p)); err == nil {
				if tm, err := f.ThisModule(); err == nil && tm != nil {
					return tm.Size
				}
			}
		}
	}
	for _, p := range inTree {
		if f, err := ko.Open(filepath.Join(modDir, p)); err == nil {
			if tm, err := f.ThisModule(); err == nil && tm != nil {
				return tm.Size
			}
		}
	}
	return 0
}
