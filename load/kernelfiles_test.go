package load_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
	"gokmod/load"
)

// A kernel described from its bzImage alone (boot/vmlinuz-REL, as Debian installs and
// ships it, no extracted vmlinux) knows the built-in certificate: Debian's signed
// in-tree modules load without the E taint of an unverified signature.
func TestSignedAgainstVmlinuz(t *testing.T) {
	for _, tg := range kernels(t) {
		tk := tg.tk
		k, err := kernel.Load(kernel.Files{
			Release:  tk.Release,
			Config:   tk.Config(),
			ModDir:   tk.ModDir(),
			Symvers:  filepath.Join(tk.Headers(), "Module.symvers"),
			Vmlinuz:  tk.Vmlinuz(),
			NeedExps: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := load.New(k, load.Options{})
		for _, name := range []string{"minix", "llc"} {
			r := mustLoad(t, m, inTree(t, k, name), "")
			if r.Taint != 0 || len(r.Log) != 0 || strings.Contains(strings.Join(r.Uncertain, "\n"), "certificate") {
				t.Errorf("%s %s: taint %q log %q assumed %q, want none", tk.Release, name, r.Taint, r.LogText(), r.Uncertain)
			}
		}
	}
}

// Without sizeof(struct module) the this_module size check (6.12's
// elf_validity_cache_index_mod; 6.1 has none) cannot be made: the result says so, with
// the reason, instead of passing it silently.
func TestStructModuleSizeUnknown(t *testing.T) {
	for _, tg := range kernels(t) {
		k := *tg.k
		if !load.New(&k, load.Options{}).Has(load.ElfValidityCache) {
			continue
		}
		k.Structs.Module.Size, k.Structs.Module.SizeErr = 0, errors.New("no in-tree module found in /nowhere")
		r := mustLoad(t, load.New(&k, load.Options{}), inTree(t, &k, "minix"), "")
		found := false
		for _, u := range r.Uncertain {
			found = found || strings.Contains(u, "sizeof(struct module) of "+k.Release+" is unknown (no in-tree module found in /nowhere)") && strings.Contains(u, "was not made")
		}
		if !found {
			t.Errorf("%s: assumed %q, want the skipped size check named", k.Release, r.Uncertain)
		}
		// Known and different: refused, as the kernel refuses it.
		k.Structs.Module.Size, k.Structs.Module.SizeErr = tg.k.Structs.Module.Size+64, nil
		r = load.New(&k, load.Options{}).Load(inTree(t, &k, "minix"), "", 0)
		if !errors.Is(r.Err, unix.ENOEXEC) {
			t.Errorf("%s: a this_module of the wrong size: %v, want ENOEXEC", k.Release, r.Err)
		}
	}
}
