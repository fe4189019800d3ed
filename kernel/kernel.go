// Package kernel describes a target Linux kernel (x86_64) as the module loader sees it:
// release and vermagic, the configuration options that change load_module's behaviour,
// the exported symbols of vmlinux with their CRCs, licences and namespaces, the
// layouts of struct module and the other structures it reads (from BTF), the built-in
// modules, the in-tree module list, and the keys that module signatures are checked
// against. Package load uses it to predict what init_module/finit_module/delete_module
// would do on that kernel.
//
// Everything comes from files: Debian's kernel packages unpacked but never installed
// (FromDebianRoot), a release installed on a system (FromInstalled), or the running
// machine's /lib/modules, /boot and /proc (FromHost, FromHostRoot). Nothing here loads or
// probes a module.
// The kernel image may be a vmlinux ELF or the bzImage the packages ship
// (boot/vmlinuz-REL, decompressed in memory by ExtractVmlinux); a module tree without
// depmod's modules.dep is walked as depmod would. Kernel.Sources records which file each
// fact came from.
package kernel

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gokmod/kernel/cert"
)

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
	// Structs are the layouts of struct module, kernel_param, kernel_symbol,
	// modversion_info and the others gokmod reads (structs.go): from the kernel's BTF,
	// else an in-tree module and the ABI. An unknown sizeof(struct module)
	// (Structs.Module.SizeErr) means load_module's check of a module's this_module size
	// cannot be made, and package load reports that in each Result's Uncertain.
	Structs Structs
	// Builtin holds the names in modules.builtin.
	Builtin map[string]bool
	// BuiltinSysfs holds the names that exist under /sys/module without a loaded
	// module: built-ins with parameters or MODULE_VERSION (from vmlinux), and the
	// modules.builtin names (built-in drivers usually register a kobject).
	BuiltinSysfs map[string]bool
	// BuiltinSysfsPartial is true when BuiltinSysfs holds modules.builtin's names only:
	// no kernel image was searched for built-in code's parameters (__param) and
	// versions (__modver), whose names also exist under /sys/module (an arm64 Image
	// has no section headers; Debian's System.map is a stub). A module of such a name is
	// refused ("module is already loaded", EINVAL), which the model then cannot know.
	BuiltinSysfsPartial bool
	// InTree maps an in-tree module name to its path under ModDir: from modules.dep, or
	// without it from a walk of ModDir as depmod's (see Sources.InTree).
	InTree map[string]string
	// Deps maps an in-tree module to the modules it depends on, from modules.dep; nil
	// without modules.dep. Use ModuleDeps, which also works without it.
	Deps map[string][]string
	// ModDir is /lib/modules/RELEASE.
	ModDir string
	// Certs are the X.509 certificates built into vmlinux (the builtin trusted keyring).
	Certs []*cert.Certificate
	// Sources says which file each of these facts came from.
	Sources Sources

	// CmdLine is the boot command line the model assumes (module.sig_enforce=1,
	// module_blacklist=..., nomodule, lockdown=).
	CmdLine string
	// Security is what the running system shows of signature enforcement and
	// lockdown, and the keys trusted beyond Certs (lockdown.go, keys.go).
	Security Security

	// Distro is the distribution that built the kernel, when its image says so
	// ("Debian": linux_banner names a Debian package version); "" when unknown.
	Distro string

	// Notes say what could not be read and what the model does without it (an
	// unreadable kernel image: no built-in certificates).
	Notes []string

	// imageArch is the architecture the kernel image says (its ELF e_machine or its
	// arm64 Image header); "" when no image was read.
	imageArch string

	exports map[string]int // name -> index: >=0 Ksymtab, <0 -(index+1) in KsymtabGPL

	depCache *depCache // ModuleDeps's depends= lists, without modules.dep (shared by copies)
}

// Sources records where each fact of a Kernel came from, for explanations (gokmod
// explain prints it): a file's path, followed in parentheses by what in it when that
// is not the whole file, or "unknown: " and the reason when the fact could not be
// found. The zero value (all "") means the Kernel was not made by Load.
type Sources struct {
	// Config is the kernel configuration file (boot/config-REL or /proc/config.gz).
	Config string `json:"config"`
	// Version is where the upstream version (Kernel.Version) came from: the kernel
	// image's banner, the caller, or the release name.
	Version string `json:"version"`
	// Exports is where vmlinux's export tables came from: the kernel image's
	// __ksymtab sections, or Module.symvers.
	Exports string `json:"exports"`
	// ModuleExports is the Module.symvers that gave the in-tree modules' exports.
	ModuleExports string `json:"module_exports"`
	// Certificates is the kernel image the built-in certificates were found in.
	Certificates string `json:"certificates"`
	// InTree is modules.dep, or the module directory walked when it is absent.
	InTree string `json:"in_tree"`
	// Structs is where the struct layouts came from (Structs.Describe): the kernel's
	// BTF, an in-tree module's this_module section, or the ABI's defaults and why.
	Structs string `json:"structs"`
	// Builtin is modules.builtin.
	Builtin string `json:"builtin"`
	// BuiltinSysfs is where the built-in /sys/module names came from.
	BuiltinSysfs string `json:"builtin_sysfs"`
}

// Source is one fact of a Kernel and where it came from.
type Source struct {
	Fact string `json:"fact"`
	From string `json:"from"`
}

// List returns the sources in a fixed order, named as the facts are in explanations.
func (s Sources) List() []Source {
	return []Source{
		{"config", s.Config},
		{"version", s.Version},
		{"exports", s.Exports},
		{"module exports", s.ModuleExports},
		{"certificates", s.Certificates},
		{"in-tree modules", s.InTree},
		{"struct layouts", s.Structs},
		{"built-in modules", s.Builtin},
		{"built-in sysfs names", s.BuiltinSysfs},
	}
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
// include/linux/vermagic.h does: x86_64 has no MODULE_ARCH_VERMAGIC, arm64's is
// "aarch64" (arch/arm64/include/asm/vermagic.h); RANDSTRUCT adds a hashed seed the
// model cannot know, so it is not supported.
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
	if c.Enabled("ARM64") {
		s += "aarch64"
	}
	return s
}

// Files tells where a kernel's files are; FromDebianRoot and FromHost fill it in.
type Files struct {
	Release  string
	Config   string // boot/config-RELEASE
	ModDir   string // lib/modules/RELEASE
	Symvers  string // Module.symvers ("" or missing: exports from vmlinux only)
	Vmlinux  string // decompressed vmlinux ("" or missing: Vmlinuz is read instead)
	Vmlinuz  string // the bzImage, boot/vmlinuz-REL ("" or missing too: no addresses, no certs)
	CmdLine  string // the boot command line to assume
	Version  string // "6.1.192" when known; otherwise taken from the banner or Release
	BTF      string // the running kernel's /sys/kernel/btf/vmlinux ("": the image's .BTF)
	NeedExps bool   // fail when no export table can be found
}

// FromDebianRoot loads the kernel unpacked from Debian's packages into root, in any of
// Debian's layouts (layout.go): the configuration (boot/config-REL, or 7.x's
// usr/lib/modules/REL/config), the module directory (lib/modules/REL or
// usr/lib/modules/REL), usr/src/linux-headers-REL/Module.symvers, and the kernel image —
// the decompressed root/vmlinux that scripts/setup.sh extracts, else the bzImage as the
// package ships it (boot/vmlinuz-REL, or usr/lib/modules/REL/vmlinuz). Without
// modules.dep (dpkg -x of the packages gives none; their postinst runs depmod) the module
// directory is walked.
func FromDebianRoot(root, release string) (*Kernel, error) {
	return Load(Files{
		Release:  release,
		Config:   ConfigIn(root, release),
		ModDir:   ModuleDirIn(root, release),
		Symvers:  filepath.Join(root, "usr", "src", "linux-headers-"+release, "Module.symvers"),
		Vmlinux:  filepath.Join(root, "vmlinux"),
		Vmlinuz:  VmlinuzIn(root, release),
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

// Load builds a Kernel from explicit file locations, recording in Sources which file
// gave each fact.
func Load(f Files) (*Kernel, error) {
	k := &Kernel{Release: f.Release, ModDir: f.ModDir, CmdLine: f.CmdLine, Structs: DefaultStructs()}
	if f.BTF != "" {
		k.Structs.fromFile(f.BTF)
	}
	src := &k.Sources
	var err error
	if k.Config, err = ReadConfig(f.Config); err != nil {
		return nil, err
	}
	src.Config = f.Config
	k.Vermagic = ComposeVermagic(f.Release, k.Config)
	if k.Version = parseVersion(f.Version); k.Version.Major != 0 {
		src.Version = "given by the caller"
	}
	dep := filepath.Join(f.ModDir, "modules.dep")
	switch k.InTree, k.Deps, err = readModulesDep(dep); {
	case err == nil:
		src.InTree = dep
	case errors.Is(err, os.ErrNotExist):
		k.Deps, k.depCache = nil, &depCache{m: map[string][]string{}}
		src.InTree = fmt.Sprintf("%s (walked: no modules.dep; dependencies from each module's depends=)", f.ModDir)
		if k.InTree, err = walkModules(f.ModDir); errors.Is(err, os.ErrNotExist) {
			// A machine without a module tree (a container, a kernel without modules):
			// a module file can still be explained, with no in-tree module known.
			k.InTree = map[string]string{}
			src.InTree = "unknown: no " + f.ModDir
		} else if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: %w", dep, err)
	}
	builtin := filepath.Join(f.ModDir, "modules.builtin")
	if k.Builtin, err = readNameList(builtin); err != nil {
		return nil, err
	}
	src.Builtin = builtin
	if _, err := os.Stat(builtin); err != nil {
		src.Builtin = "unknown: no " + builtin
	}
	k.BuiltinSysfs = map[string]bool{}
	for n := range k.Builtin {
		k.BuiltinSysfs[n] = true
	}
	src.BuiltinSysfs = src.Builtin
	k.BuiltinSysfsPartial = true // until an image's __param and __modver are read
	var all []Symbol
	if f.Symvers != "" {
		if all, err = readSymvers(f.Symvers); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	image, tried := "", []string{}
	for _, p := range []string{f.Vmlinux, f.Vmlinuz} {
		if p == "" {
			continue
		}
		tried = append(tried, p)
		if _, err := os.Stat(p); err == nil {
			image = p
			break
		}
	}
	src.Certificates = "unknown: no kernel image (" + strings.Join(tried, ", ") + ")"
	if len(tried) == 0 {
		src.Certificates = "unknown: no kernel image given"
	}
	if image != "" {
		btf := ""
		if f.Symvers != "" {
			// Debian's arm64 headers ship a vmlinux of BTF alone beside Module.symvers.
			btf = filepath.Join(filepath.Dir(f.Symvers), "vmlinux")
		}
		err := k.readArm64Image(image, btf)
		if errors.Is(err, errNotArm64Image) {
			err = k.readVmlinux(image)
		}
		switch {
		case errors.Is(err, fs.ErrPermission):
			// The host's /boot/vmlinuz is root's alone on some systems: the model goes on
			// without what only the image holds, and says so.
			src.Certificates = fmt.Sprintf("unknown: %v", err)
		case err != nil:
			return nil, err
		}
	}
	if k.Ksymtab == nil && k.KsymtabGPL == nil {
		k.Ksymtab, k.KsymtabGPL = splitVmlinux(all)
		if len(k.Ksymtab)+len(k.KsymtabGPL) > 0 {
			src.Exports = f.Symvers + " (vmlinux's entries)"
		}
	}
	if f.NeedExps && len(k.Ksymtab) == 0 {
		return nil, fmt.Errorf("kernel %s: no export table (neither vmlinux __ksymtab nor Module.symvers)", f.Release)
	}
	if src.Exports == "" {
		src.Exports = "unknown: neither a kernel image with __ksymtab nor Module.symvers"
	}
	k.ModuleExports = map[string]Symbol{}
	for _, s := range all {
		if s.Owner != "vmlinux" {
			k.ModuleExports[s.Name] = s
		}
	}
	src.ModuleExports = "unknown: no Module.symvers"
	if len(k.ModuleExports) > 0 {
		src.ModuleExports = f.Symvers
	}
	k.index()
	if k.Version.Major == 0 {
		k.Version = parseVersion(f.Release)
		src.Version = "the release name " + f.Release
	}
	k.Structs.finish(f.ModDir, k.InTree)
	src.Structs = k.Structs.Describe()
	return k, nil
}

// readVmlinux takes the export tables, the built-in sysfs names, the certificates and
// the exact upstream version from the kernel image: a vmlinux ELF or a bzImage.
func (k *Kernel) readVmlinux(path string) error {
	v, err := openVmlinux(path)
	if err != nil {
		return err
	}
	defer v.Close()
	k.imageArch = "x86_64"
	if v.f.Machine == elf.EM_AARCH64 {
		k.imageArch = "aarch64"
	}
	where := path
	if v.how != "ELF" {
		where = path + ": " + v.how
	}
	src := &k.Sources
	k.Structs.fromImage(v, where)
	st := k.Structs.OrDefaults()
	if k.Ksymtab, err = v.ksymtab(st.KernelSymbol, "__ksymtab", "__kcrctab", false); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if k.KsymtabGPL, err = v.ksymtab(st.KernelSymbol, "__ksymtab_gpl", "__kcrctab_gpl", true); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if k.Ksymtab != nil || k.KsymtabGPL != nil {
		src.Exports = where + " (__ksymtab, __ksymtab_gpl)"
	}
	if k.KsymtabGPL == nil {
		var ok bool
		if k.Ksymtab, k.KsymtabGPL, ok = v.splitFlagged(k.Ksymtab); ok {
			src.Exports = where + " (__ksymtab, the licences from __kflagstab)"
		}
	}
	for n := range v.paramModules(st.KernelParam) {
		k.BuiltinSysfs[n] = true
	}
	for n := range v.modverModules(st.ModuleVersionAttribute) {
		k.BuiltinSysfs[n] = true
	}
	src.BuiltinSysfs = src.Builtin + "; " + where + " (__param, __modver)"
	k.BuiltinSysfsPartial = false
	k.Certs = v.certificates()
	src.Certificates = fmt.Sprintf("%s (%d built in)", where, len(k.Certs))
	if ro := v.f.Section(".rodata"); ro != nil {
		// Debian's banner names its package version: the distribution, and the upstream
		// version the release name lacks (6.1.0-57 is 6.1.192).
		if m := bannerVersion().FindSubmatch(v.bytes(ro)); m != nil {
			k.Distro = "Debian"
			if k.Version.Major == 0 {
				k.Version = parseVersion(string(m[1]) + "." + string(m[2]) + "." + string(m[3]))
				src.Version = where + " (linux_banner)"
			}
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

// Arch is the target architecture as uname -m names it: "x86_64" or "aarch64", from
// the kernel image (a vmlinux's e_machine, an arm64 Image's header) when one was read,
// else from the configuration (CONFIG_X86_64, CONFIG_ARM64); "" when neither says.
func (k *Kernel) Arch() string {
	switch {
	case k.imageArch != "":
		return k.imageArch
	case k.Config.Enabled("X86_64"):
		return "x86_64"
	case k.Config.Enabled("ARM64"):
		return "aarch64"
	}
	return ""
}
