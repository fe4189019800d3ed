package depmod_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
)

// zstdNoSize writes src compressed by the zstd command with --no-content-size to dst:
// a frame that does not record its decompressed size, which kmod 34 refuses.
func zstdNoSize(tb testing.TB, src, dst string) {
	tb.Helper()
	if _, err := exec.LookPath("zstd"); err != nil {
		tb.Fatal("the zstd command is missing: run scripts/setup.sh (make setup), which installs zstd")
	}
	if out, err := exec.Command("zstd", "-q", "-f", "--no-content-size", "-o", dst, src).CombinedOutput(); err != nil {
		tb.Fatalf("zstd --no-content-size %s: %v\n%s", src, err, out)
	}
}

// zstdSizeTree makes ROOT/lib/modules/REL with a few of k's modules: llc (exported
// symbols stp needs) and e1000e (aliases) compressed without their content size, fat as
// kbuild's zstd compresses it (with the size), stp and vfat plain.
func zstdSizeTree(tb testing.TB, k testenv.Kernel, root string) {
	tb.Helper()
	dir := filepath.Join(root, "lib/modules", k.Release, "kernel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	src := func(rel string) string { return filepath.Join(k.ModDir(), "kernel", rel) }
	zstdNoSize(tb, src("net/llc/llc.ko"), filepath.Join(dir, "llc.ko.zst"))
	zstdNoSize(tb, src("drivers/net/ethernet/intel/e1000e/e1000e.ko"), filepath.Join(dir, "e1000e.ko.zst"))
	if out, err := exec.Command("zstd", "-q", "-f", "-o", filepath.Join(dir, "fat.ko.zst"), src("fs/fat/fat.ko")).CombinedOutput(); err != nil {
		tb.Fatalf("zstd: %v\n%s", err, out)
	}
	for _, m := range []string{"net/802/stp.ko", "fs/fat/vfat.ko"} {
		b, err := os.ReadFile(src(m))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(m)), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestZstdWithoutContentSize compares depmod on a tree holding .ko.zst files whose frame
// does not record the decompressed size: kmod 34.2 refuses them (libkmod's "zstd: Failed
// to determine decompression size", three times a module, and no symbols, aliases or
// dependencies from them), kmod 30 reads them. Every file, stdout and stderr must be
// identical under each release's behaviour; and a cache written by a kmod 30 run must not
// hide the refusal from a kmod 34 run.
func TestZstdWithoutContentSize(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	for _, r := range releases(t) {
		t.Run(r.String(), func(t *testing.T) {
			tmp := t.TempDir()
			kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
			zstdSizeTree(t, k, kroot)
			zstdSizeTree(t, k, groot)
			for _, c := range []struct {
				name string
				args []string
				o    depmod.Options
			}{{"plain", nil, depmod.Options{}}, {"-v", []string{"-v"}, depmod.Options{Verbose: 1}}} {
				kr := r.run(t, kroot, k.Release, c.args...)
				gr := runGo(t, groot, k.Release, r.options(c.o))
				compare(t, c.name, kr, gr, kroot, groot)
				refused := strings.Count(kr.stderr, "zstd: Failed to determine decompression size")
				if want := map[compat.Kmod]int{compat.Kmod30: 0, compat.Kmod34: 6}[r.k]; refused != want {
					t.Fatalf("%s: kmod %s refused %d times, want %d: the test would prove nothing", c.name, r, refused, want)
				}
			}
			testenv.Report(t, "depmod, .ko.zst without content size, %s: plain and -v runs identical to %s", k.Release, r)
		})
	}
	// The cache: a kmod 30 run reads the files and must not record them for kmod 34.
	defer depmod.SetRacyWindow(0)() // else the fresh files' records are read again anyway
	tmp := t.TempDir()
	zstdSizeTree(t, k, tmp)
	cache := filepath.Join(tmp, "cache")
	run := func(kv compat.Kmod) result {
		return runGo(t, tmp, k.Release, depmod.Options{Kmod: kv, CachePath: cache})
	}
	run(compat.Kmod30)
	if g := run(compat.Kmod34); strings.Count(g.stderr, "zstd: Failed to determine decompression size") != 6 {
		t.Errorf("kmod 34 run after a kmod 30 run with the cache:\n%s", g.stderr)
	}
}
