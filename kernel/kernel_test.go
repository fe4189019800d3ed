package kernel_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
	"gokmod/ko"
)

var (
	loadOnce sync.Once
	loaded   []*kernel.Kernel
	loadErr  error
)

// kernels loads every prepared kernel once per test binary.
func kernels(t *testing.T) []*kernel.Kernel {
	t.Helper()
	ks := testenv.RequireKernels(t)
	loadOnce.Do(func() {
		for _, k := range ks {
			kk, err := kernel.FromDebianRoot(k.Root, k.Release)
			if err != nil {
				loadErr = err
				return
			}
			loaded = append(loaded, kk)
		}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func TestVermagicMatchesInTreeModules(t *testing.T) {
	for _, k := range kernels(t) {
		f, err := ko.Open(filepath.Join(k.ModDir, k.InTree["minix"]))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := f.ModInfoValue("vermagic")
		if got != k.Vermagic {
			t.Errorf("%s: composed vermagic %q, in-tree minix has %q", k.Release, k.Vermagic, got)
		}
	}
}

func TestVersion(t *testing.T) {
	for i, k := range kernels(t) {
		// The banner's upstream version must be the one the release names (6.1.0-N is
		// 6.1.x, 6.12.N+debM is 6.12.N).
		var major, minor int
		if _, err := fmt.Sscanf(k.Release, "%d.%d", &major, &minor); err != nil {
			t.Fatalf("%s: %v", k.Release, err)
		}
		if k.Version.Major != major || k.Version.Minor != minor {
			t.Errorf("%s: version %v from the banner", k.Release, k.Version)
		}
		// The stable patch level is the image package's (5.10.223-1, 7.2.13-1); a release
		// candidate (experimental's 7.3~rc7-1~exp1) has none.
		if want := kernel.Version(testenv.RequireKernels(t)[i].Version()); k.Version != want {
			t.Errorf("%s: version %v from the banner, the package says %v", k.Release, k.Version, want)
		}
	}
}

// vmlinux's export tables are large, sorted (find_symbol bsearches them) and hold
// module_layout, whose CRC check_modstruct_version compares.
func TestExportTables(t *testing.T) {
	for _, k := range kernels(t) {
		if len(k.Ksymtab) < 4000 || len(k.KsymtabGPL) < 4000 {
			t.Fatalf("%s: only %d+%d exports", k.Release, len(k.Ksymtab), len(k.KsymtabGPL))
		}
		// module_layout and the CRCs exist only with CONFIG_MODVERSIONS (Debian's 7.x
		// builds go without).
		if ml, ok := k.Export("module_layout"); k.Config.Modversions() && (!ok || !ml.HasCRC || ml.GPLOnly) {
			t.Errorf("%s: module_layout export %+v", k.Release, ml)
		}
		for i := 1; i < len(k.Ksymtab); i++ {
			if k.Ksymtab[i-1].Name >= k.Ksymtab[i].Name {
				t.Fatalf("%s: __ksymtab not sorted at %d", k.Release, i)
			}
		}
	}
}

func TestStructModuleSize(t *testing.T) {
	for _, k := range kernels(t) {
		if k.Structs.Module.Size < 0x300 || k.Structs.Module.Size > 0x1000 {
			t.Errorf("%s: sizeof(struct module) = %#x", k.Release, k.Structs.Module.Size)
		}
	}
}

func TestBuiltinSysfs(t *testing.T) {
	for _, k := range kernels(t) {
		for _, n := range []string{"kernel", "printk", "module"} {
			if !k.BuiltinSysfs[n] {
				t.Errorf("%s: /sys/module/%s not predicted", k.Release, n)
			}
		}
	}
}

func TestConfigHelpers(t *testing.T) {
	for _, k := range kernels(t) {
		c := k.Config
		if !c.ModuleSig() || c.ModuleSigForce() || !c.StrictModuleRWX() || !c.ForceLoad() {
			t.Errorf("%s: unexpected Debian config", k.Release)
		}
		// Debian builds with CONFIG_MODVERSIONS up to 6.12 and without it in 7.x: the
		// helper must say what the file says.
		if c.Modversions() != (c["MODVERSIONS"] == "y") {
			t.Errorf("%s: Modversions() = %v, CONFIG_MODVERSIONS=%q", k.Release, c.Modversions(), c["MODVERSIONS"])
		}
		// In-kernel decompression (since 5.17, when configured) takes the format the
		// in-tree modules are shipped in.
		want := ""
		if c.Enabled("MODULE_DECOMPRESS") {
			for _, f := range k.InTree {
				want = strings.TrimPrefix(filepath.Ext(f), ".")
				break
			}
		}
		if c.Decompress() != want {
			t.Errorf("%s: Decompress() = %q, want %q", k.Release, c.Decompress(), want)
		}
	}
}

func TestSigEnforceFromCmdline(t *testing.T) {
	k := &kernel.Kernel{Config: kernel.Config{"MODULE_SIG": "y"}}
	if k.SigEnforce() {
		t.Error("enforced without command line")
	}
	k.CmdLine = "quiet module.sig_enforce=1"
	if !k.SigEnforce() {
		t.Error("module.sig_enforce=1 not honoured")
	}
}

// Debian's in-tree signatures verify against the certificate built into vmlinux; a
// flipped byte in the RSA signature does not.
func TestInTreeSignatureVerifies(t *testing.T) {
	for _, k := range kernels(t) {
		if len(k.Certs) == 0 {
			t.Fatalf("%s: no built-in certificate found in vmlinux", k.Release)
		}
		f, err := ko.Open(filepath.Join(k.ModDir, k.InTree["minix"]))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := f.Signature()
		if err != nil || sig == nil {
			t.Fatalf("%s: minix signature: %v", k.Release, err)
		}
		img := f.ModuleImage()
		if err := kernel.VerifyModuleSignature(img, sig.Raw, k.Certs); err != nil {
			t.Errorf("%s: in-tree minix does not verify: %v", k.Release, err)
		}
		bad := append([]byte(nil), sig.Raw...)
		bad[len(bad)-5] ^= 1
		if err := kernel.VerifyModuleSignature(img, bad, k.Certs); !errors.Is(err, unix.EKEYREJECTED) {
			t.Errorf("%s: flipped signature byte: %v, want EKEYREJECTED", k.Release, err)
		}
		if err := kernel.VerifyModuleSignature(img, sig.Raw, nil); !errors.Is(err, unix.ENOKEY) {
			t.Errorf("%s: no keys: %v, want ENOKEY", k.Release, err)
		}
	}
}

// Without vmlinux the export tables come from Module.symvers; both sources must agree
// on every name, CRC, licence and namespace (and on the table order find_symbol uses).
func TestSymversAgreesWithVmlinux(t *testing.T) {
	for i, tk := range testenv.RequireKernels(t) {
		k := kernels(t)[i]
		s, err := kernel.Load(kernel.Files{
			Release: tk.Release,
			Config:  tk.Config(),
			ModDir:  k.ModDir,
			Symvers: filepath.Join(tk.Headers(), "Module.symvers"),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2][]kernel.Symbol{{k.Ksymtab, s.Ksymtab}, {k.KsymtabGPL, s.KsymtabGPL}} {
			a, b := pair[0], pair[1]
			if len(a) != len(b) {
				t.Fatalf("%s: vmlinux has %d exports, Module.symvers %d", k.Release, len(a), len(b))
			}
			for j := range a {
				x, y := a[j], b[j]
				if x.Name != y.Name || x.CRC != y.CRC || x.GPLOnly != y.GPLOnly || x.Namespace != y.Namespace {
					t.Fatalf("%s: export %d: vmlinux %+v, Module.symvers %+v", k.Release, j, x, y)
				}
			}
		}
		if s.Version.Line() != k.Version.Line() {
			t.Errorf("%s: without vmlinux: version %v, want %v", k.Release, s.Version, k.Version)
		}
	}
}

// FromHost depends on the machine; it must not fail on a Debian host with a kernel
// config in /boot, and must describe the running release.
func TestFromHost(t *testing.T) {
	k, err := kernel.FromHost()
	if err != nil {
		t.Logf("FromHost: %v (this machine has no /boot/config for its kernel)", err)
		return
	}
	t.Logf("host %s: %d+%d exports, vermagic %q", k.Release, len(k.Ksymtab), len(k.KsymtabGPL), k.Vermagic)
}
