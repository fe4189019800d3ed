package kernel_test

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
)

// sameExports compares two export tables entry by entry (order included: find_symbol
// bsearches them).
func sameExports(t *testing.T, what string, a, b []kernel.Symbol) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d exports against %d", what, len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("%s: export %d: %+v against %+v", what, i, a[i], b[i])
		}
	}
}

func sameCerts(t *testing.T, what string, a, b *kernel.Kernel) {
	t.Helper()
	if len(a.Certs) == 0 || len(a.Certs) != len(b.Certs) {
		t.Fatalf("%s: %d certificates against %d", what, len(a.Certs), len(b.Certs))
	}
	for i := range a.Certs {
		if !bytes.Equal(a.Certs[i].Raw, b.Certs[i].Raw) {
			t.Fatalf("%s: certificate %d differs", what, i)
		}
	}
}

// The bzImage Debian ships (boot/vmlinuz-REL: xz in 6.1, zstd in 6.12) gives exactly
// what the vmlinux scripts/setup.sh extracted from it gives: every export with its
// address and CRC, the certificates, the version and the built-in sysfs names.
func TestVmlinuzAgreesWithVmlinux(t *testing.T) {
	for i, tk := range testenv.RequireKernels(t) {
		want := kernels(t)[i]
		vmlinuz := tk.Vmlinuz()
		got, err := kernel.Load(kernel.Files{
			Release:  tk.Release,
			Config:   tk.Config(),
			ModDir:   tk.ModDir(),
			Vmlinuz:  vmlinuz,
			NeedExps: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		sameExports(t, tk.Release+" __ksymtab", want.Ksymtab, got.Ksymtab)
		sameExports(t, tk.Release+" __ksymtab_gpl", want.KsymtabGPL, got.KsymtabGPL)
		sameCerts(t, tk.Release, want, got)
		if got.Version != want.Version || !maps.Equal(got.BuiltinSysfs, want.BuiltinSysfs) {
			t.Errorf("%s: version %v, %d sysfs names; from vmlinux %v, %d", tk.Release,
				got.Version, len(got.BuiltinSysfs), want.Version, len(want.BuiltinSysfs))
		}
		if s := got.Sources.Exports; !strings.HasPrefix(s, vmlinuz+": ") || !strings.Contains(s, "payload at offset") {
			t.Errorf("%s: exports source %q", tk.Release, s)
		}
		if s := want.Sources.Exports; !strings.HasPrefix(s, tk.VMLinux()+" ") {
			t.Errorf("%s: the prepared root's exports come from %q, not its vmlinux", tk.Release, s)
		}
		// The payload found by the boot header, and by the magic-number scan when the
		// header is blanked, is byte for byte the vmlinux setup.sh extracted.
		img, err := os.ReadFile(vmlinuz)
		if err != nil {
			t.Fatal(err)
		}
		elf, err := os.ReadFile(tk.VMLinux())
		if err != nil {
			t.Fatal(err)
		}
		if out, how, err := kernel.ExtractVmlinux(img); err != nil || !bytes.Equal(out, elf) {
			t.Errorf("%s: %s: %v (%s, %d bytes, vmlinux %d)", tk.Release, vmlinuz, err, how, len(out), len(elf))
		}
		copy(img[0x202:], "XXXX")
		if out, how, err := kernel.ExtractVmlinux(img); err != nil || !bytes.Equal(out, elf) || !strings.Contains(how, "found at offset") {
			t.Errorf("%s: %s without its setup header: %v (%s, %d bytes, vmlinux %d)", tk.Release, vmlinuz, err, how, len(out), len(elf))
		}
		testenv.Report(t, "%s: %s gives %d+%d exports, %d certificates, version %v, as vmlinux",
			tk.Release, filepath.Base(vmlinuz), len(got.Ksymtab), len(got.KsymtabGPL), len(got.Certs), got.Version)
	}
}

// unpackRaw unpacks the kernel's image, headers and -common packages with dpkg -x into
// a new directory, exactly as they ship: no vmlinux, no modules.dep.
func unpackRaw(t *testing.T, tk testenv.Kernel) string {
	t.Helper()
	debs, err := tk.Debs()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	n := 0
	for pkg, deb := range debs {
		if strings.HasPrefix(pkg, "linux-kbuild-") {
			continue
		}
		if out, err := exec.Command("dpkg", "-x", deb, root).CombinedOutput(); err != nil {
			t.Fatalf("dpkg -x %s: %v\n%s", deb, err, out)
		}
		n++
	}
	// The image, headers and -common packages; 7.x's image is a metapackage over the
	// binary, modules and base packages.
	if want := map[bool]int{false: 3, true: 6}[len(debs) > 4]; n != want {
		t.Fatalf("%s: want the image (and its binary, modules and base), headers and -common packages, found %d of %v", tk.Release, n, slices.Sorted(maps.Keys(debs)))
	}
	for _, p := range []string{filepath.Join(root, "vmlinux"), filepath.Join(kernel.ModuleDirIn(root, tk.Release), "modules.dep")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s: the packages ship %s: this test no longer tests a tree without it", tk.Release, p)
		}
	}
	return root
}

// closure returns name's dependencies, transitively, sorted.
func closure(k *kernel.Kernel, name string) []string {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		for _, d := range k.ModuleDeps(n) {
			if !seen[d] {
				seen[d] = true
				visit(d)
			}
		}
	}
	visit(name)
	return slices.Sorted(maps.Keys(seen))
}

// Debian's packages unpacked as they ship (what an installed system has before depmod,
// or a mirror's .debs) give the same Kernel as the prepared root with its extracted
// vmlinux and depmod's modules.dep: version, vermagic, export tables, certificates,
// sizeof(struct module), the in-tree modules and built-ins, and dependencies.
func TestRawDebianRoot(t *testing.T) {
	for i, tk := range testenv.RequireKernels(t) {
		want := kernels(t)[i]
		raw := unpackRaw(t, tk)
		got, err := kernel.FromDebianRoot(raw, tk.Release)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != want.Version || got.Vermagic != want.Vermagic {
			t.Errorf("%s: version %v vermagic %q; prepared %v %q", tk.Release, got.Version, got.Vermagic, want.Version, want.Vermagic)
		}
		sameExports(t, tk.Release+" __ksymtab", want.Ksymtab, got.Ksymtab)
		sameExports(t, tk.Release+" __ksymtab_gpl", want.KsymtabGPL, got.KsymtabGPL)
		sameCerts(t, tk.Release, want, got)
		if got.Structs.Module.Size == 0 || got.Structs.Module.Size != want.Structs.Module.Size || got.Structs.Module.SizeErr != nil {
			t.Errorf("%s: sizeof(struct module) %d (%v), prepared %d", tk.Release, got.Structs.Module.Size, got.Structs.Module.SizeErr, want.Structs.Module.Size)
		}
		if !maps.Equal(got.InTree, want.InTree) {
			var only []string
			for n, p := range got.InTree {
				if want.InTree[n] != p {
					only = append(only, n+"="+p)
				}
			}
			for n, p := range want.InTree {
				if got.InTree[n] != p {
					only = append(only, "modules.dep: "+n+"="+p)
				}
			}
			sort.Strings(only)
			t.Errorf("%s: walked %d in-tree modules, modules.dep has %d; differing: %v", tk.Release, len(got.InTree), len(want.InTree), only[:min(len(only), 20)])
		}
		if !maps.Equal(got.Builtin, want.Builtin) || !maps.Equal(got.BuiltinSysfs, want.BuiltinSysfs) {
			t.Errorf("%s: %d built-ins, %d sysfs names; prepared %d, %d", tk.Release, len(got.Builtin), len(got.BuiltinSysfs), len(want.Builtin), len(want.BuiltinSysfs))
		}
		if got.Deps != nil {
			t.Errorf("%s: Deps filled without modules.dep", tk.Release)
		}
		// depends= lists, followed transitively, are modules.dep's lists. A sample: the
		// 6.12 modules are xz-compressed and each read is a decompression.
		names := slices.Sorted(maps.Keys(want.InTree))
		checked := 0
		for j := 0; j < len(names); j += 23 {
			n := names[j]
			w := slices.Clone(want.Deps[n])
			sort.Strings(w)
			if g := closure(got, n); !slices.Equal(g, w) && !(len(g) == 0 && len(w) == 0) {
				t.Errorf("%s: %s depends on %v; modules.dep says %v", tk.Release, n, g, w)
			}
			checked++
		}
		if !strings.HasSuffix(got.Sources.InTree, "(walked: no modules.dep; dependencies from each module's depends=)") ||
			!strings.HasPrefix(got.Sources.Certificates, kernel.VmlinuzIn(raw, tk.Release)+": ") ||
			!strings.HasPrefix(got.Sources.Structs, kernel.VmlinuzIn(raw, tk.Release)+": ") || !strings.Contains(got.Sources.Structs, "payload at offset") ||
			!strings.Contains(got.Sources.Structs, "(.BTF): struct module (") {
			t.Errorf("%s: sources %+v", tk.Release, got.Sources)
		}
		testenv.Report(t, "%s: raw packages agree with the prepared root: %d in-tree modules walked, %d+%d exports, %d certificates, struct module %d bytes, %d dependency closures",
			tk.Release, len(got.InTree), len(got.Ksymtab), len(got.KsymtabGPL), len(got.Certs), got.Structs.Module.Size, checked)
	}
}
