package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// InstalledFiles says where the files of kernel release are on a system installed from
// Debian's packages, below root ("" or "/" for this machine's own), in any of Debian's
// layouts (layout.go): the configuration (boot/config-REL, else 7.x's
// usr/lib/modules/REL/config), the module directory (lib/modules/REL, else
// usr/lib/modules/REL), Module.symvers from the headers (the module directory's build
// link, an absolute one followed inside root, else usr/src/linux-headers-REL) and the
// kernel image: the first present of usr/lib/debug/boot/vmlinux-REL (linux-image-REL-dbg)
// and boot/vmlinux-REL, else the bzImage boot/vmlinuz-REL or 7.x's
// usr/lib/modules/REL/vmlinuz.
func InstalledFiles(root, release string) Files {
	in := func(p string) string { return filepath.Join(root, p) }
	f := Files{
		Release: release,
		Config:  ConfigIn(in("/"), release),
		ModDir:  ModuleDirIn(in("/"), release),
	}
	var symvers []string
	if l, err := os.Readlink(filepath.Join(f.ModDir, "build")); err == nil {
		if filepath.IsAbs(l) {
			symvers = append(symvers, filepath.Join(in(l), "Module.symvers"))
		} else {
			symvers = append(symvers, filepath.Join(f.ModDir, l, "Module.symvers"))
		}
	}
	symvers = append(symvers, in("/usr/src/linux-headers-"+release+"/Module.symvers"))
	for _, p := range symvers {
		if _, err := os.Stat(p); err == nil {
			f.Symvers = p
			break
		}
	}
	for _, p := range []string{"/usr/lib/debug/boot/vmlinux-", "/boot/vmlinux-"} {
		if _, err := os.Stat(in(p + release)); err == nil {
			f.Vmlinux = in(p + release)
			break
		}
	}
	// Load reads the bzImage when there is no vmlinux (ExtractVmlinux).
	f.Vmlinuz = VmlinuzIn(in("/"), release)
	return f
}

// FromInstalled describes kernel release as installed below root (InstalledFiles): the
// configuration must be there; the rest is used when present. A kernel image that cannot
// be read is left out and said so in Notes (exports then come from Module.symvers).
func FromInstalled(root, release string) (*Kernel, error) {
	f := InstalledFiles(root, release)
	if _, err := os.Stat(f.Config); err != nil {
		return nil, fmt.Errorf("kernel %s: no configuration: %w", release, err)
	}
	return loadInstalled(f)
}

// FromHostRoot describes the running kernel as the system below root shows it: the
// release from proc/sys/kernel/osrelease; its installed files (InstalledFiles), with
// proc/config.gz when boot/config-REL is missing (CONFIG_IKCONFIG_PROC); the command
// line from proc/cmdline; and the built-in names under sys/module, which are exact on
// the host (the directories of modules listed in proc/modules are left out). Without
// Module.symvers or a readable kernel image the export table is empty and every import
// is predicted as an unknown symbol (Notes says so). root is "/" for this machine; tests
// give a fake one.
func FromHostRoot(root string) (*Kernel, error) {
	in := func(p string) string { return filepath.Join(root, p) }
	rel, err := os.ReadFile(in("/proc/sys/kernel/osrelease"))
	if err != nil {
		return nil, fmt.Errorf("the running kernel's release: %w", err)
	}
	release := strings.TrimSpace(string(rel))
	f := InstalledFiles(root, release)
	// The running kernel's own BTF, world-readable where its image may not be.
	f.BTF = in("/sys/kernel/btf/vmlinux")
	if _, err := os.Stat(f.Config); err != nil {
		gz := in("/proc/config.gz")
		if _, err2 := os.Stat(gz); err2 != nil {
			return nil, fmt.Errorf("kernel %s: no configuration: neither %s nor %s: %w", release, f.Config, gz, err)
		}
		f.Config = gz
	}
	if b, err := os.ReadFile(in("/proc/cmdline")); err == nil {
		f.CmdLine = strings.TrimSpace(string(b))
	}
	k, err := loadInstalled(f)
	if err != nil {
		return nil, err
	}
	k.readHostSecurity(root) // lockdown, sig_enforce, Secure Boot, enrolled keys (lockdown.go)
	if ents, err := os.ReadDir(in("/sys/module")); err == nil {
		loaded := map[string]bool{}
		if b, err := os.ReadFile(in("/proc/modules")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if fs := strings.Fields(l); len(fs) > 0 {
					loaded[fs[0]] = true
				}
			}
		}
		k.BuiltinSysfs, k.BuiltinSysfsPartial = map[string]bool{}, false
		k.Sources.BuiltinSysfs = in("/sys/module") + " (less " + in("/proc/modules") + ")"
		for _, e := range ents {
			if !loaded[e.Name()] {
				k.BuiltinSysfs[e.Name()] = true
			}
		}
	}
	return k, nil
}

// loadInstalled is Load, leaving out a kernel image it cannot read (a compressed
// vmlinuz in a format package kernel does not read), and noting what is missing.
func loadInstalled(f Files) (*Kernel, error) {
	k, err := Load(f)
	var unread string
	if err != nil && f.Vmlinux == "" && f.Vmlinuz != "" {
		unread = fmt.Sprintf("%s could not be read (%v)", f.Vmlinuz, err)
		f.Vmlinuz = ""
		k, err = Load(f)
	}
	if err != nil {
		return nil, err
	}
	if !k.Config.Modules() {
		return k, nil // nothing is ever looked up
	}
	switch {
	case unread != "":
		k.Notes = append(k.Notes, unread+": no built-in certificates, exports from Module.symvers only")
	case f.Vmlinux == "" && !exists(f.Vmlinuz):
		k.Notes = append(k.Notes, "no kernel image (vmlinux or vmlinuz): no built-in certificates, exports from Module.symvers only")
	}
	if f.Vmlinux == "" && !exists(f.Vmlinuz) && f.Symvers == "" {
		k.Notes = append(k.Notes, fmt.Sprintf("no Module.symvers either (install linux-headers-%s): no export table, every import is predicted an unknown symbol", f.Release))
	}
	return k, nil
}

// exists reports whether path names a file ("" does not).
func exists(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}
