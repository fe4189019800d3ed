package kernel_test

import (
	"bytes"
	"debug/elf"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
	"gokmod/ko"
)

// TestStructsFromBTF: on every prepared kernel the struct layouts come from its
// vmlinux's BTF, and agree with what its own in-tree modules and vmlinux hold: the size
// of .gnu.linkonce.this_module, the name at BTF's offset, init and exit where the
// relocations point them, and __param, __versions and __ksymtab made of whole entries.
// The layouts that do not depend on the configuration are also the ABI's defaults
// (kernel.DefaultStructs) and what package ko decodes with.
func TestStructsFromBTF(t *testing.T) {
	tks := testenv.RequireKernels(t)
	for i, k := range kernels(t) {
		st, btf := k.Structs, tks[i].VMLinux()+" (.BTF)"
		if m := st.Module; m.From != btf || m.SizeErr != nil || !m.InitExit || m.Size == 0 {
			t.Errorf("%s: struct module %+v, want it from %s", k.Release, m, btf)
		}
		for what, from := range map[string]string{"kernel_param": st.KernelParam.From, "kernel_symbol": st.KernelSymbol.From,
			"kparam_array": st.KparamArray.From, "kparam_string": st.KparamString.From,
			"module_version_attribute": st.ModuleVersionAttribute.From} {
			if from != btf {
				t.Errorf("%s: struct %s from %q, want %s", k.Release, what, from, btf)
			}
		}
		// struct modversion_info is in the BTF of a kernel built with modversions
		// (kernel/module/version.c uses it); without, the ABI's layout stands in, and
		// is never used.
		if mv := st.ModversionInfo.From; k.Config.Modversions() && mv != btf ||
			!k.Config.Modversions() && !strings.Contains(mv, "BTF: no struct modversion_info") {
			t.Errorf("%s (modversions %v): struct modversion_info from %q", k.Release, k.Config.Modversions(), mv)
		}
		if !strings.HasPrefix(k.Sources.Structs, btf+": struct module (") {
			t.Errorf("%s: struct layouts from %q", k.Release, k.Sources.Structs)
		}
		// modversion_info is { unsigned long crc; char name[MODULE_NAME_LEN]; } with
		// MODULE_NAME_LEN = 64 - sizeof(unsigned long): 64 bytes.
		if mv := st.ModversionInfo; mv.Size != 64 || mv.NameLen != st.Module.NameLen || mv.Name+mv.NameLen != mv.Size {
			t.Errorf("%s: modversion_info %+v, MODULE_NAME_LEN %d", k.Release, mv, st.Module.NameLen)
		}
		d := kernel.DefaultStructs()
		if st.KernelParam.Size != d.KernelParam.Size || st.KernelParam.Perm != d.KernelParam.Perm || st.KernelParam.Arg != d.KernelParam.Arg ||
			st.KernelSymbol.Size != d.KernelSymbol.Size || st.KernelSymbol.Field != d.KernelSymbol.Field || st.KernelSymbol.Namespace != d.KernelSymbol.Namespace ||
			st.Module.Name != d.Module.Name || st.Module.NameLen != d.Module.NameLen ||
			st.KparamArray.Ops != d.KparamArray.Ops || st.ModuleVersionAttribute != withFrom(d.ModuleVersionAttribute, btf) && !k.Config.Enabled("DEBUG_LOCK_ALLOC") {
			t.Errorf("%s: BTF's layouts differ from the ABI's defaults:\n%+v\n%+v", k.Release, st, d)
		}
		vmlinuxParams(t, tks[i], st.KernelParam)
		checkInTree(t, k)
	}
}

func withFrom(l kernel.ModuleVersionAttributeLayout, from string) kernel.ModuleVersionAttributeLayout {
	l.From = from
	return l
}

// vmlinuxParams: vmlinux's own __param is whole struct kernel_params.
func vmlinuxParams(t *testing.T, tk testenv.Kernel, l kernel.KernelParamLayout) {
	f, err := elf.Open(tk.VMLinux())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section("__param")
	if s == nil || s.Size == 0 || s.Size%l.Size != 0 {
		t.Errorf("%s: vmlinux __param %v is not whole %d-byte struct kernel_params", tk.Release, s, l.Size)
	}
}

// checkInTree compares the layouts with a sample of the kernel's in-tree modules.
func checkInTree(t *testing.T, k *kernel.Kernel) {
	st := k.Structs
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range k.InTree {
			if !yield(n) {
				return
			}
		}
	})
	sample := []string{"minix", "llc"}
	for i := 0; i < len(names); i += 97 {
		sample = append(sample, names[i])
	}
	var params, versions, ksymtab, inits, exits int
	for _, name := range sample {
		path := filepath.Join(k.ModDir, k.InTree[name])
		f, err := ko.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		tm, err := f.ThisModule()
		if err != nil || tm == nil {
			t.Fatalf("%s: this_module %v %v", path, tm, err)
		}
		if tm.Size != st.Module.Size {
			t.Errorf("%s: .gnu.linkonce.this_module is %d bytes, BTF's sizeof(struct module) %d", path, tm.Size, st.Module.Size)
		}
		data, err := f.Section(".gnu.linkonce.this_module").Data()
		if err != nil {
			t.Fatal(err)
		}
		raw := data[st.Module.Name : st.Module.Name+st.Module.NameLen]
		raw = raw[:max(0, bytes.IndexByte(raw, 0))]
		if want, _ := f.ModInfoValue("name"); string(raw) != want || tm.Name != want {
			t.Errorf("%s: name at BTF's offset %d is %q (ko reads %q), .modinfo says %q", path, st.Module.Name, raw, tm.Name, want)
		}
		for _, r := range tm.Refs {
			switch {
			case r.Symbol == "init_module" && r.Offset == st.Module.Init:
				inits++
			case r.Symbol == "cleanup_module" && r.Offset == st.Module.Exit:
				exits++
			default:
				t.Errorf("%s: this_module relocation %+v, BTF has init at %d, exit at %d", path, r, st.Module.Init, st.Module.Exit)
			}
		}
		if s := f.Section("__param"); s != nil {
			kp, err := f.KernelParams()
			if s.Size%st.KernelParam.Size != 0 || err != nil || uint64(len(kp)) != s.Size/st.KernelParam.Size {
				t.Errorf("%s: __param of %d bytes, %d parameters (%v), sizeof(struct kernel_param) %d", path, s.Size, len(kp), err, st.KernelParam.Size)
			}
			params++
		}
		if s := f.Section("__versions"); s != nil {
			v, err := f.Versions()
			if s.Size%st.ModversionInfo.Size != 0 || err != nil || uint64(len(v)) != s.Size/st.ModversionInfo.Size {
				t.Errorf("%s: __versions of %d bytes, %d versions (%v), sizeof(struct modversion_info) %d", path, s.Size, len(v), err, st.ModversionInfo.Size)
			}
			versions++
		}
		for _, tab := range []string{"__ksymtab", "__ksymtab_gpl"} {
			if s := f.Section(tab); s != nil {
				if s.Size%st.KernelSymbol.Size != 0 {
					t.Errorf("%s: %s of %d bytes, sizeof(struct kernel_symbol) %d", path, tab, s.Size, st.KernelSymbol.Size)
				}
				ksymtab++
			}
		}
		f.Close()
	}
	if params == 0 || ksymtab == 0 || inits == 0 || exits == 0 || k.Config.Modversions() && versions == 0 {
		t.Errorf("%s: the sample of %d modules lacks a kind: %d with __param, %d __versions, %d export tables, %d init, %d exit",
			k.Release, len(sample), params, versions, ksymtab, inits, exits)
	}
	testenv.Report(t, "%s: struct layouts from BTF agree with %d in-tree modules (%d with __param, %d __versions, %d export tables, %d init, %d exit): struct module %d bytes, name at %d, init at %d, exit at %d",
		k.Release, len(sample), params, versions, ksymtab, inits, exits, st.Module.Size, st.Module.Name, st.Module.Init, st.Module.Exit)
}

// TestStructsWithoutBTF: a kernel image without .BTF gives the same layouts, from an
// in-tree module's this_module and the ABI's defaults, each saying why.
func TestStructsWithoutBTF(t *testing.T) {
	tks := testenv.RequireKernels(t)
	for i, want := range kernels(t) {
		tk := tks[i]
		img := filepath.Join(t.TempDir(), "vmlinux")
		if out, err := exec.Command("objcopy", "--remove-section=.BTF", tk.VMLinux(), img).CombinedOutput(); err != nil {
			t.Fatalf("objcopy: %v\n%s", err, out)
		}
		k, err := kernel.Load(kernel.Files{Release: tk.Release, Config: tk.Config(), ModDir: tk.ModDir(), Vmlinux: img})
		if err != nil {
			t.Fatal(err)
		}
		why := "no BTF: " + img + ": no .BTF section"
		got, w := k.Structs, want.Structs
		if m := got.Module; m.Size != w.Module.Size || m.Init != w.Module.Init || m.Exit != w.Module.Exit || !m.InitExit ||
			m.Name != w.Module.Name || !strings.Contains(m.From, ".ko") || !strings.Contains(m.From, "(.gnu.linkonce.this_module; "+why) {
			t.Errorf("%s: struct module %+v; from BTF %+v", tk.Release, m, w.Module)
		}
		if got.KernelParam.Size != w.KernelParam.Size || got.KernelSymbol.Size != w.KernelSymbol.Size ||
			!strings.HasPrefix(got.KernelParam.From, "the x86_64 ABI's default ("+why) {
			t.Errorf("%s: kernel_param %+v, kernel_symbol %+v", tk.Release, got.KernelParam, got.KernelSymbol)
		}
		if !strings.Contains(k.Sources.Structs, why) {
			t.Errorf("%s: struct layouts from %q", tk.Release, k.Sources.Structs)
		}
		if len(k.Ksymtab) != len(want.Ksymtab) || len(k.KsymtabGPL) != len(want.KsymtabGPL) {
			t.Errorf("%s: %d+%d exports without BTF, %d+%d with", tk.Release, len(k.Ksymtab), len(k.KsymtabGPL), len(want.Ksymtab), len(want.KsymtabGPL))
		}
	}
}

// TestStructsFromHostBTF: the running kernel's /sys/kernel/btf/vmlinux (under the root
// prefix) is read before the image, and a broken one falls back to the image's, saying so.
func TestStructsFromHostBTF(t *testing.T) {
	tk := testenv.RequireKernels(t)[0]
	f, err := elf.Open(tk.VMLinux())
	if err != nil {
		t.Fatal(err)
	}
	btf, err := f.Section(".BTF").Data()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{{"good", btf}, {"broken", []byte(strings.Repeat("not BTF; ", 4))}} {
		root := t.TempDir()
		testenv.InstallInto(t, root, tk, testenv.DebugVmlinux)
		testenv.WriteFiles(t, root, map[string]string{
			"proc/sys/kernel/osrelease": tk.Release + "\n",
			"sys/kernel/btf/vmlinux":    string(tc.data),
		})
		k, err := kernel.FromHostRoot(root)
		if err != nil {
			t.Fatal(err)
		}
		sys := filepath.Join(root, "sys/kernel/btf/vmlinux")
		from := k.Structs.Module.From
		switch {
		case tc.name == "good" && from != sys:
			t.Errorf("good: struct module from %q, want %s", from, sys)
		case tc.name == "broken" && (!strings.HasPrefix(from, filepath.Join(root, "usr/lib/debug/boot/vmlinux-"+tk.Release)) || !strings.Contains(from, "(.BTF; not "+sys+": BTF: ") || !strings.Contains(from, "bad magic")):
			t.Errorf("broken: struct module from %q, want the image's .BTF", from)
		}
		if k.Structs.Module.Size == 0 {
			t.Errorf("%s: no sizeof(struct module): %v", tc.name, k.Structs.Module.SizeErr)
		}
	}
}
