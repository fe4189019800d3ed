package depmod_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
)

// TestQuickAgainstKmod runs depmod -A beside kmod's on identical trees: up to date (no
// file written), a module newer than modules.dep (everything rewritten, identically), and
// a FIFO in the tree (kmod's "unsupported file type" message).
func TestQuickAgainstKmod(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	tmp := t.TempDir()
	kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
	kdir := subTree(t, k.ModDir(), kroot, k.Release, "kernel/drivers/net", true)
	gdir := subTree(t, k.ModDir(), groot, k.Release, "kernel/drivers/net", true)
	runKmod(t, kroot, k.Release)
	runGo(t, groot, k.Release, depmod.Options{Kmod: compat.Kmod30, Cache: depmod.CacheOn})
	mtime := func(dir string) time.Time {
		st, err := os.Stat(filepath.Join(dir, "modules.dep"))
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime()
	}
	steps := []struct {
		name    string
		change  func(dir string)
		rewrite bool
	}{
		{"up to date", func(string) {}, false},
		{"module newer", func(dir string) {
			future := time.Now().Add(5 * time.Second)
			if err := os.Chtimes(filepath.Join(dir, "kernel/drivers/net/dummy.ko"), future, future); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"fifo in the tree", func(dir string) {
			past := time.Now().Add(-time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "kernel/drivers/net/dummy.ko"), past, past); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(filepath.Join(dir, "kernel/drivers/net/a-fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, st := range steps {
		st.change(kdir)
		st.change(gdir)
		kBefore, gBefore := mtime(kdir), mtime(gdir)
		kr := runKmod(t, kroot, k.Release, "-A")
		gr := runGo(t, groot, k.Release, depmod.Options{Kmod: compat.Kmod30, Quick: true, Cache: depmod.CacheOn})
		compare(t, st.name, kr, gr, kroot, groot)
		if kw, gw := !mtime(kdir).Equal(kBefore), !mtime(gdir).Equal(gBefore); kw != st.rewrite || gw != kw {
			t.Errorf("%s: modules.dep rewritten by kmod %v, by gokmod %v; want %v", st.name, kw, gw, st.rewrite)
		}
	}
	testenv.Report(t, "depmod -A: %d cases beside kmod (up to date, a newer module, a FIFO in the tree)", len(steps))
}
