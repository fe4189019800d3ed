package depmod_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/elftest"
	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
)

// weakdepRelease is the release of the synthetic tree (depmod only checks "%u.%u").
const weakdepRelease = "6.1.0-weakdep"

// weakdepTree writes ROOT/lib/modules/REL with synthetic x86_64 modules whose .modinfo
// holds weakdep= entries (two in one module, one beside a softdep, one in a module that
// another needs), and a module that weakdeps on nothing known.
func weakdepTree(tb testing.TB, root string) string {
	tb.Helper()
	dir := filepath.Join(root, "lib/modules", weakdepRelease)
	mods := []struct {
		path string
		m    elftest.Module
	}{
		{"kernel/drivers/wa.ko", elftest.Module{Name: "wa", ModInfo: []string{"license=GPL", "alias=pci:v00001234d*", "weakdep=wb", "softdep=pre: wc", "weakdep=wc", "depends=wb"}, Undef: []string{"wb_fn"}, Versions: []elftest.Version{{CRC: 1, Name: "wb_fn"}}}},
		{"kernel/drivers/wb.ko", elftest.Module{Name: "wb", ModInfo: []string{"license=GPL", "weakdep=wc"}, Exports: []elftest.Export{{Name: "wb_fn", CRC: 1}}}},
		{"kernel/drivers/wc.ko", elftest.Module{Name: "wc", ModInfo: []string{"license=GPL", "alias=wc-alias"}}},
		{"kernel/fs/wd.ko", elftest.Module{Name: "wd", ModInfo: []string{"license=GPL", "weakdep=no_such_module"}}},
	}
	var order strings.Builder
	for _, x := range mods {
		x.m.Class, x.m.Order, x.m.Machine, x.m.Rela, x.m.PREL32 = 64, binary.LittleEndian, 62, true, true
		p := filepath.Join(dir, x.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, x.m.Build(), 0o644); err != nil {
			tb.Fatal(err)
		}
		order.WriteString(x.path + "\n")
	}
	for name, data := range map[string]string{"modules.order": order.String(), "modules.builtin": "kernel/lib/crc32.ko\n", "modules.builtin.modinfo": "crc32.alias=crc32c\x00"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// TestWeakdepAgainstKmod runs both kmod releases and gokmod as each on a synthetic tree
// whose modules carry weakdep= entries: kmod 34 writes modules.weakdep from them, kmod
// 30 ignores them; every file, stdout and stderr must match, plain, -n and -v.
func TestWeakdepAgainstKmod(t *testing.T) {
	for _, r := range releases(t) {
		t.Run(r.String(), func(t *testing.T) {
			for _, c := range []struct {
				name string
				args []string
				o    depmod.Options
			}{
				{"plain", nil, depmod.Options{}},
				{"dry-run", []string{"-n"}, depmod.Options{DryRun: true}},
				{"verbose", []string{"-v", "-w"}, depmod.Options{Verbose: 1, WarnDups: true}},
			} {
				tmp := t.TempDir()
				kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
				weakdepTree(t, kroot)
				weakdepTree(t, groot)
				kr := r.run(t, kroot, weakdepRelease, c.args...)
				gr := runGo(t, groot, weakdepRelease, r.options(c.o))
				compare(t, c.name, kr, gr, kroot, groot)
				wd, ok := kr.files["modules.weakdep"]
				if c.name == "dry-run" {
					wd, ok = []byte(kr.stdout), strings.Contains(kr.stdout, "weakdep wa wb\n")
				}
				switch {
				case r.k == compat.Kmod34 && (!ok || !strings.Contains(string(wd), "weakdep wa wc\n")):
					t.Errorf("%s: kmod 34 wrote no weakdep lines; the test would prove nothing", c.name)
				case r.k == compat.Kmod30 && ok:
					t.Errorf("%s: kmod 30 wrote modules.weakdep", c.name)
				}
				if c.o.DryRun {
					testenv.Report(t, "depmod %s, synthetic weakdep tree, %s: stdout %d bytes, stderr %d bytes identical", c.name, r, len(kr.stdout), len(kr.stderr))
				} else {
					testenv.Report(t, "depmod %s, synthetic weakdep tree, %s: %d files byte-identical, stdout %d bytes, stderr %d bytes identical", c.name, r, len(kr.files), len(kr.stdout), len(kr.stderr))
				}
			}
		})
	}
}

// TestCacheAcrossReleases runs gokmod's depmod with its cache as kmod 34, then 30, then
// 34 again, on one tree: outputs written as one release are never kept by a run as the
// other (the file list and the index layout differ), while the module records are used;
// each run's files must be the live kmod release's.
func TestCacheAcrossReleases(t *testing.T) {
	rels := releases(t)
	tmp := t.TempDir()
	groot := filepath.Join(tmp, "g")
	weakdepTree(t, groot)
	var stats depmod.CacheStats
	depmod.SetCacheHook(func(s depmod.CacheStats) { stats = s })
	defer depmod.SetCacheHook(nil)
	defer depmod.SetRacyWindow(0)()
	steps := []struct {
		r      release
		reused bool
	}{{rels[1], false}, {rels[1], true}, {rels[0], false}, {rels[0], true}, {rels[1], false}}
	for i, st := range steps {
		kroot := filepath.Join(tmp, "k", st.r.String(), string(rune('0'+i)))
		weakdepTree(t, kroot)
		kr := st.r.run(t, kroot, weakdepRelease)
		stats = depmod.CacheStats{}
		gr := runGo(t, groot, weakdepRelease, st.r.options(depmod.Options{Cache: depmod.CacheOn}))
		if st.r.k == compat.Kmod30 {
			// kmod 30 leaves the modules.weakdep an earlier kmod 34 run wrote, as
			// gokmod does: compare what kmod 30 writes.
			delete(gr.files, "modules.weakdep")
		}
		compare(t, st.r.String(), kr, gr, kroot, groot)
		if !stats.Loaded && i > 0 || stats.Reused != st.reused {
			t.Errorf("step %d (%s): %+v, want the cache loaded and outputs reused=%v", i, st.r, stats, st.reused)
		}
	}
	testenv.Report(t, "depmod cache across releases: kmod 34, 34, 30, 30, 34 on one tree, each byte-identical to the live kmod, outputs kept only after a run as the same release")
}
