package kernel_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
)

// TestFromInstalled: a release installed from Debian's packages (a fake root of links
// into the cache) is described as the unpacked packages are, whichever image it has.
func TestFromInstalled(t *testing.T) {
	ks := testenv.RequireKernels(t)
	for i, want := range kernels(t) {
		for _, img := range []testenv.Image{testenv.DebugVmlinux, testenv.VmlinuzOnly} {
			root := t.TempDir()
			testenv.InstallInto(t, root, ks[i], img)
			f := kernel.InstalledFiles(root, want.Release)
			if f.Symvers != filepath.Join(root, "usr/src/linux-headers-"+want.Release, "Module.symvers") {
				t.Errorf("%s: Module.symvers at %q, want the headers' inside the root", want.Release, f.Symvers)
			}
			if img == testenv.DebugVmlinux && f.Vmlinux != filepath.Join(root, "usr/lib/debug/boot/vmlinux-"+want.Release) {
				t.Errorf("%s: image %q, want the debug vmlinux first", want.Release, f.Vmlinux)
			}
			if img == testenv.VmlinuzOnly && (f.Vmlinux != "" || f.Vmlinuz != filepath.Join(root, "boot/vmlinuz-"+want.Release)) {
				t.Errorf("%s: image %q / %q, want boot/vmlinuz alone", want.Release, f.Vmlinux, f.Vmlinuz)
			}
			k, err := kernel.FromInstalled(root, want.Release)
			if err != nil {
				t.Fatalf("%s: %v", want.Release, err)
			}
			if k.Vermagic != want.Vermagic || len(k.InTree) != len(want.InTree) || k.Structs.Module.Size != want.Structs.Module.Size {
				t.Errorf("%s: installed kernel differs from the unpacked one: %q %d %d", want.Release, k.Vermagic, len(k.InTree), k.Structs.Module.Size)
			}
			if len(k.Ksymtab) == 0 || len(k.KsymtabGPL) == 0 {
				t.Errorf("%s (image %d): no exports", want.Release, img)
			}
			// The bzImage is read as well as a vmlinux (kernel.ExtractVmlinux): the
			// built-in certificates are known either way.
			if len(k.Certs) != len(want.Certs) || len(k.Notes) != 0 {
				t.Errorf("%s (image %d): %d certs (want %d), notes %q", want.Release, img, len(k.Certs), len(want.Certs), k.Notes)
			}
		}
	}
}

func TestFromInstalledMissing(t *testing.T) {
	_, err := kernel.FromInstalled(t.TempDir(), "6.99.0-1-amd64")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "config-6.99.0-1-amd64") {
		t.Errorf("missing release: %v", err)
	}
}

// TestFromHostRoot: the running system below a root prefix: the release from proc, the
// configuration from proc/config.gz when boot has none, a kernel without CONFIG_MODULES
// (and so without lib/modules), and the built-in names of sys/module.
func TestFromHostRoot(t *testing.T) {
	root := t.TempDir()
	testenv.WriteFiles(t, root, map[string]string{
		"proc/sys/kernel/osrelease":           "6.18.2-test\n",
		"proc/cmdline":                        "ro nomodule\n",
		"sys/module/8250/parameters/nr_uarts": "4\n",
		"sys/module/vt/parameters/x":          "",
	})
	gz := gzipData(t, "CONFIG_SMP=y\n# CONFIG_MODULES is not set\n")
	if err := os.WriteFile(filepath.Join(root, "proc/config.gz"), gz, 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.FromHostRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.18.2-test" || k.Config.Modules() || !k.Config.Enabled("SMP") || k.CmdLine != "ro nomodule" ||
		!k.BuiltinSysfs["8250"] || !k.BuiltinSysfs["vt"] || len(k.Notes) != 0 {
		t.Errorf("%+v", k)
	}
	if f := k.ModelFit(); f.Exact || f.ModelVersion != "6.12" || !strings.Contains(f.Note(), "Linux 6.18 is not a version the model follows (5.10, 6.1, 6.12, 7.2, 7.3): modelled as 6.12") {
		t.Errorf("6.18: %+v %q", f, f.Note())
	}
	os.Remove(filepath.Join(root, "proc/config.gz"))
	if _, err := kernel.FromHostRoot(root); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "config.gz") || !strings.Contains(err.Error(), "boot/config-6.18.2-test") {
		t.Errorf("no configuration: %v", err)
	}
}

// TestInstalledBuildLink: lib/modules/REL/build, an absolute link as Debian makes it,
// names a directory of the installed system, not of the machine reading it.
func TestInstalledBuildLink(t *testing.T) {
	root := t.TempDir()
	testenv.WriteFiles(t, root, map[string]string{
		"lib/modules/6.99.0-1-amd64/modules.dep":       "",
		"usr/src/kbuild-elsewhere/Module.symvers":      "0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n",
		"usr/src/linux-headers-6.99.0-1-amd64/Kconfig": "",
	})
	if err := os.Symlink("/usr/src/kbuild-elsewhere", filepath.Join(root, "lib/modules/6.99.0-1-amd64/build")); err != nil {
		t.Fatal(err)
	}
	if f := kernel.InstalledFiles(root, "6.99.0-1-amd64"); f.Symvers != filepath.Join(root, "usr/src/kbuild-elsewhere/Module.symvers") {
		t.Errorf("Module.symvers %q", f.Symvers)
	}
}
