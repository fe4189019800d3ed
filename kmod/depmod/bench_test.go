package depmod_test

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/depmod"
)

// BenchmarkDepmodTree is a full depmod, in process, of Debian's 6.1 tree (plain .ko),
// hard-linked into a temporary directory (under -b, so without the per-module cache):
// every module is read each time.
// scripts/bench-depmod.sh times the binary against kmod's.
func BenchmarkDepmodTree(b *testing.B) {
	k := testenv.RequireLine(b, "6.1")
	root := b.TempDir()
	copyTree(b, k.ModDir(), root, k.Release)
	o := depmod.Options{BaseDir: root, KernelRelease: k.Release, Stdout: io.Discard, Stderr: io.Discard}
	for b.Loop() {
		if err := depmod.Run(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDepmodTouched is depmod after one module of the tree was replaced by a copy
// (a new inode and mtime, as a package upgrade leaves it), with the per-module cache of
// the run before: the case the cache is for. The tree is hard-linked, so the module is
// copied rather than touched, which would change the original's mtime.
func BenchmarkDepmodTouched(b *testing.B) {
	k := testenv.RequireLine(b, "6.1")
	root := b.TempDir()
	dir := copyTree(b, k.ModDir(), root, k.Release)
	// Linking the tree just changed every file's ctime: without this, the first 2 s of
	// runs would re-read every module as racily cached (benchdepmod waits instead).
	defer depmod.SetRacyWindow(0)()
	o := depmod.Options{BaseDir: root, KernelRelease: k.Release, Stdout: io.Discard, Stderr: io.Discard, Cache: depmod.CacheOn}
	if err := depmod.Run(o); err != nil {
		b.Fatal(err)
	}
	mods := moduleFiles(b, dir)
	i := 0
	for b.Loop() {
		b.StopTimer()
		replaceFile(b, mods[i%len(mods)])
		i++
		b.StartTimer()
		if err := depmod.Run(o); err != nil {
			b.Fatal(err)
		}
	}
}

// moduleFiles lists the module files below dir.
func moduleFiles(tb testing.TB, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			out = append(out, p)
		}
		return err
	})
	if len(out) == 0 {
		tb.Fatalf("no modules below %s", dir)
	}
	return out
}

// replaceFile replaces p by a copy of itself, as installing a package does.
func replaceFile(tb testing.TB, p string) {
	data, err := os.ReadFile(p)
	if err == nil {
		err = os.WriteFile(p+".new", data, 0o644)
	}
	if err == nil {
		err = os.Rename(p+".new", p)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkDepmodAdded is depmod after one module was added to the tree, with the cache
// of the run before: every other module comes from the cache, but the outputs must be
// computed.
func BenchmarkDepmodAdded(b *testing.B) {
	k := testenv.RequireLine(b, "6.1")
	root := b.TempDir()
	dir := copyTree(b, k.ModDir(), root, k.Release)
	// Linking the tree just changed every file's ctime: without this, the first 2 s of
	// runs would re-read every module as racily cached (benchdepmod waits instead).
	defer depmod.SetRacyWindow(0)()
	o := depmod.Options{BaseDir: root, KernelRelease: k.Release, Stdout: io.Discard, Stderr: io.Discard, Cache: depmod.CacheOn}
	mods := moduleFiles(b, dir)
	i := 0
	for b.Loop() {
		b.StopTimer()
		p := mods[i*37%len(mods)]
		i++
		if err := os.Rename(p, p+".away"); err != nil {
			b.Fatal(err)
		}
		if err := depmod.Run(o); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(p+".away", p); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := depmod.Run(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDepmodFirst is a full depmod that makes the cache: the first run on a tree.
func BenchmarkDepmodFirst(b *testing.B) {
	k := testenv.RequireLine(b, "6.1")
	root := b.TempDir()
	dir := copyTree(b, k.ModDir(), root, k.Release)
	o := depmod.Options{BaseDir: root, KernelRelease: k.Release, Stdout: io.Discard, Stderr: io.Discard, Cache: depmod.CacheOn}
	for b.Loop() {
		b.StopTimer()
		os.Remove(filepath.Join(dir, depmod.CacheFile))
		b.StartTimer()
		if err := depmod.Run(o); err != nil {
			b.Fatal(err)
		}
	}
}
