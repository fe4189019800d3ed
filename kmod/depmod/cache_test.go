package depmod_test

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
)

// TestCacheAgainstKmod changes a tree (drivers/net of the 6.1 tree) step by step — modules touched, rewritten with other
// contents, removed, added back, rewritten in place with the mtime set back, the cache
// corrupted or truncated, an output file edited — and after each step runs kmod's depmod
// and gokmod's (with its cache) on identical copies: the outputs must be byte-identical,
// and the cache must have been used, reused or ignored as the step requires.
func TestCacheAgainstKmod(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	tmp := t.TempDir()
	kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
	// gokmod's tree is a real copy: a hard link made to the same files by a test running
	// beside this one changes their ctime, which rightly invalidates their cache records.
	kdir := subTree(t, k.ModDir(), kroot, k.Release, "kernel/drivers/net", false)
	gdir := subTree(t, k.ModDir(), groot, k.Release, "kernel/drivers/net", true)
	var stats depmod.CacheStats
	depmod.SetCacheHook(func(s depmod.CacheStats) { stats = s })
	defer depmod.SetCacheHook(nil)
	// The steps follow each other within milliseconds, inside the window in which a
	// record is re-checked (TestCacheRacy covers it): without it, the counts below are
	// exactly the modules each step changed.
	defer depmod.SetRacyWindow(0)()

	rel := func(p string) string { r, _ := filepath.Rel(kdir, p); return r }
	mods := moduleFiles(t, kdir)
	e1000, e1000e, dummy, tun := "", "", "", ""
	for _, p := range mods {
		switch filepath.Base(p) {
		case "e1000.ko":
			e1000 = rel(p)
		case "e1000e.ko":
			e1000e = rel(p)
		case "dummy.ko":
			dummy = rel(p)
		case "tun.ko":
			tun = rel(p)
		}
	}
	if e1000 == "" || e1000e == "" || dummy == "" || tun == "" {
		t.Fatal("e1000, e1000e, dummy or tun missing from the tree")
	}
	// both applies a change to the same file of both trees.
	both := func(f func(dir string)) { f(kdir); f(gdir) }
	cachePath := filepath.Join(gdir, depmod.CacheFile)
	// Each step counts the directories read rather than taken from the cache.
	defer depmod.SetWaitForListings(true)()
	ndirs := countDirs(t, gdir)
	net := filepath.Dir(filepath.Dir(dummy)) // kernel/drivers/net, where the new directories go
	mkdir := func(p string) {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rename := func(from, to string) {
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	// The module directory itself is read again after a run that wrote the outputs in
	// it: renaming them over the old ones changes it.
	var prev depmod.CacheStats
	listed := func(want int) func(t *testing.T, s depmod.CacheStats) {
		return func(t *testing.T, s depmod.CacheStats) {
			if !prev.Reused {
				want++
			}
			if !s.Loaded || s.DirsListed != want || s.DirsCached != ndirs-want {
				t.Errorf("%+v, want %d of the %d directories read, the others from the cache", s, want, ndirs)
			}
		}
	}

	steps := []struct {
		name   string
		change func()
		check  func(t *testing.T, s depmod.CacheStats)
	}{
		{"first run", func() {}, func(t *testing.T, s depmod.CacheStats) {
			if s.Loaded || s.Reused || s.Reread < len(mods) {
				t.Errorf("first run: %+v, want every module read", s)
			}
		}},
		{"nothing changed", func() {}, func(t *testing.T, s depmod.CacheStats) {
			if !s.Loaded || !s.Reused || s.Reread != 0 {
				t.Errorf("%+v, want outputs reused and nothing read", s)
			}
		}},
		{"module replaced by an identical copy", func() {
			both(func(d string) { replaceFile(t, filepath.Join(d, e1000)) })
		}, func(t *testing.T, s depmod.CacheStats) {
			if !s.Reused || s.Reread != 1 {
				t.Errorf("%+v, want one module read and the outputs reused", s)
			}
		}},
		{"module rewritten with another's contents", func() {
			both(func(d string) { copyFile(t, filepath.Join(d, e1000e), filepath.Join(d, e1000)) })
		}, func(t *testing.T, s depmod.CacheStats) {
			if s.Reused || s.Reread != 1 {
				t.Errorf("%+v, want one module read and the outputs computed", s)
			}
		}},
		{"module removed", func() {
			both(func(d string) {
				if err := os.Rename(filepath.Join(d, dummy), d+"-dummy"); err != nil {
					t.Fatal(err)
				}
			})
		}, func(t *testing.T, s depmod.CacheStats) {
			if s.Reused || s.Reread != 0 {
				t.Errorf("%+v, want nothing read and the outputs computed", s)
			}
		}},
		{"module added back", func() {
			both(func(d string) {
				if err := os.Rename(d+"-dummy", filepath.Join(d, dummy)); err != nil {
					t.Fatal(err)
				}
			})
		}, func(t *testing.T, s depmod.CacheStats) {
			if s.Reused || s.Reread != 1 {
				t.Errorf("%+v, want one module read and the outputs computed", s)
			}
		}},
		{"module cut short (unreadable)", func() {
			both(func(d string) {
				p := filepath.Join(d, tun)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(p+".whole", data, 0o644)
				os.WriteFile(p+".new", data[:100], 0o644)
				os.Rename(p+".new", p)
			})
		}, func(t *testing.T, s depmod.CacheStats) {
			// Reread counts new records; a module that cannot be read makes none.
			if s.Reused || s.Reread != 0 {
				t.Errorf("%+v, want no record made and the outputs computed", s)
			}
		}},
		{"module restored after it could not be read", func() {
			both(func(d string) {
				p := filepath.Join(d, tun)
				if err := os.Rename(p+".whole", p); err != nil {
					t.Fatal(err)
				}
			})
		}, func(t *testing.T, s depmod.CacheStats) {
			// Its data is as recorded before it was cut, but the outputs of the run
			// that could not read it are not what the data says: computed.
			if s.Reused || s.Reread != 1 {
				t.Errorf("%+v, want one module read and the outputs computed", s)
			}
		}},
		{"module rewritten in place, mtime set back", func() {
			both(func(d string) {
				p := filepath.Join(d, tun)
				replaceFile(t, p) // its own inode, not the original tree's
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := os.ReadFile(filepath.Join(d, e1000e))
				if err := os.WriteFile(p, data, 0o644); err != nil { // same inode
					t.Fatal(err)
				}
				os.Chtimes(p, st.ModTime(), st.ModTime())
			})
		}, func(t *testing.T, s depmod.CacheStats) {
			if s.Reused || s.Reread != 1 {
				t.Errorf("%+v, want the module read again (ctime) and the outputs computed", s)
			}
		}},
		{"cache corrupted", func() {
			b, err := os.ReadFile(cachePath)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x40
			os.WriteFile(cachePath, b, 0o644)
		}, func(t *testing.T, s depmod.CacheStats) {
			if s.Loaded || s.Reused || s.Reread < len(mods) {
				t.Errorf("%+v, want the cache ignored", s)
			}
		}},
		{"cache truncated", func() {
			b, _ := os.ReadFile(cachePath)
			os.WriteFile(cachePath, b[:len(b)-7], 0o644)
		}, func(t *testing.T, s depmod.CacheStats) {
			if s.Loaded || s.Reused {
				t.Errorf("%+v, want the cache ignored", s)
			}
		}},
		{"output file edited", func() {
			f, err := os.OpenFile(filepath.Join(gdir, "modules.alias"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("alias bogus bogus\n")
			f.Close()
		}, func(t *testing.T, s depmod.CacheStats) {
			if !s.Loaded || s.Reused || s.Reread != 0 {
				t.Errorf("%+v, want the cache used but the outputs computed", s)
			}
		}},
		{"another module replaced by an identical copy", func() {
			both(func(d string) { replaceFile(t, filepath.Join(d, dummy)) })
		}, func(t *testing.T, s depmod.CacheStats) {
			if !s.Reused || s.Reread != 1 {
				t.Errorf("%+v, want one module read and the outputs reused", s)
			}
		}},
		// Directory listings (cache_dirs.go): a directory is read again when an entry
		// is added to it, removed from it or renamed in it, or when it is replaced.
		{"nothing changed: every listing from the cache", func() {}, listed(0)},
		{"module added in a new directory", func() {
			both(func(d string) {
				mkdir(filepath.Join(d, net, "zznew"))
				copyFile(t, filepath.Join(d, dummy), filepath.Join(d, net, "zznew", "zzdummy.ko"))
			})
			ndirs++
		}, listed(2)}, // its parent and itself
		{"module added to a directory listed from the cache", func() {
			both(func(d string) { copyFile(t, filepath.Join(d, tun), filepath.Join(d, net, "zznew", "zztun.ko")) })
		}, listed(1)},
		{"module renamed", func() {
			both(func(d string) {
				rename(filepath.Join(d, net, "zznew", "zztun.ko"), filepath.Join(d, net, "zznew", "zztun2.ko"))
			})
		}, listed(1)},
		{"directory renamed", func() {
			both(func(d string) { rename(filepath.Join(d, net, "zznew"), filepath.Join(d, net, "zznew2")) })
		}, listed(2)},
		{"directory replaced by another of the same name", func() {
			both(func(d string) {
				other := filepath.Join(d, net, "zzother")
				mkdir(other)
				copyFile(t, filepath.Join(d, e1000e), filepath.Join(other, "zze1000e.ko"))
				rename(filepath.Join(d, net, "zznew2"), filepath.Join(d, net, "zzold"))
				rename(other, filepath.Join(d, net, "zznew2"))
			})
			ndirs++
		}, listed(3)}, // the parent, and both directories under their new names
		{"directory removed", func() {
			both(func(d string) {
				if err := os.RemoveAll(filepath.Join(d, net, "zzold")); err != nil {
					t.Fatal(err)
				}
			})
			ndirs--
		}, listed(1)},
		{"module linked from a directory listed from the cache", func() {
			// A symbolic link makes the listing one the cache does not keep: its
			// directory is read every time, and kmod's stat follows the link.
			both(func(d string) {
				if err := os.Symlink("dummy.ko", filepath.Join(d, filepath.Dir(dummy), "zzlink.ko")); err != nil {
					t.Fatal(err)
				}
			})
		}, listed(1)},
		{"nothing changed, a directory with a link", func() {}, listed(1)},
	}
	for _, st := range steps {
		st.change()
		time.Sleep(10 * time.Millisecond) // distinct mtimes between steps
		kr := runKmod(t, kroot, k.Release)
		stats = depmod.CacheStats{}
		gr := runGo(t, groot, k.Release, depmod.Options{Kmod: compat.Kmod30, Cache: depmod.CacheOn})
		compare(t, st.name, kr, gr, kroot, groot)
		st.check(t, stats)
		t.Logf("%s: %+v", st.name, stats)
		prev = stats
	}
	testenv.Report(t, "depmod cache: %d steps (touch, rewrite, remove, add, unreadable and restored, in-place with mtime set back, corrupt/truncated cache, edited output, directories added, renamed, replaced, removed, linked) byte-identical to kmod", len(steps))
}

// countDirs counts the directories of the tree at dir, itself included.
func countDirs(t *testing.T, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// copyFile writes src's contents to a new file renamed over dst.
func copyFile(t *testing.T, src, dst string) {
	data, err := os.ReadFile(src)
	if err == nil {
		err = os.WriteFile(dst+".new", data, 0o644)
	}
	if err == nil {
		err = os.Rename(dst+".new", dst)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// subTree makes ROOT/lib/modules/REL with the kernel-build inputs (modules.order,
// modules.builtin, modules.builtin.modinfo) and the modules below sub, hard-linked or
// copied.
func subTree(tb testing.TB, src, root, rel, sub string, copyFiles bool) string {
	tb.Helper()
	dst := filepath.Join(root, "lib/modules", rel)
	put := func(from, to string) error {
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if !copyFiles && os.Link(from, to) == nil {
			return nil
		}
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	}
	for _, f := range []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		if err := put(filepath.Join(src, f), filepath.Join(dst, f)); err != nil {
			tb.Fatal(err)
		}
	}
	err := filepath.WalkDir(filepath.Join(src, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, _ := filepath.Rel(src, p)
		return put(p, filepath.Join(dst, r))
	})
	if err != nil {
		tb.Fatal(err)
	}
	return dst
}

// TestCacheRacy checks that a record made just after its file changed is not trusted
// as is: the next run reads the file again, and still keeps the outputs when the data is
// alike. So it is with a directory's listing.
func TestCacheRacy(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	tmp := t.TempDir()
	kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
	subTree(t, k.ModDir(), kroot, k.Release, "kernel/drivers/net/phy", false)
	gdir := subTree(t, k.ModDir(), groot, k.Release, "kernel/drivers/net/phy", true)
	var stats depmod.CacheStats
	depmod.SetCacheHook(func(s depmod.CacheStats) { stats = s })
	defer depmod.SetCacheHook(nil)
	defer depmod.SetRacyWindow(time.Hour)() // every file here changed within the hour
	defer depmod.SetWaitForListings(true)()
	n, ndirs := len(moduleFiles(t, gdir)), countDirs(t, gdir)
	for i, want := range []depmod.CacheStats{
		{Loaded: false, Reread: n, Reused: false, DirsListed: ndirs}, // no cache yet
		// Every record racy, the directories' too: read again, alike.
		{Loaded: true, Reread: n, Reused: true, DirsListed: ndirs},
	} {
		stats = depmod.CacheStats{}
		gr := runGo(t, groot, k.Release, depmod.Options{Kmod: compat.Kmod30, Cache: depmod.CacheOn})
		compare(t, fmt.Sprint("run ", i+1), runKmod(t, kroot, k.Release), gr, kroot, groot)
		if stats != want {
			t.Errorf("run %d: %+v, want %+v", i+1, stats, want)
		}
	}
}

// TestCacheNoDescriptorLeak runs depmod without and with its cache and checks that every
// descriptor it opened is closed when Run returns, as a program calling it in a loop
// needs. (Keeping directories open for the readers to stat relative to them was tried
// and measured slower: past 64 descriptors a multi-threaded process's file table grows
// under synchronize_rcu.)
func TestCacheNoDescriptorLeak(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	root := t.TempDir()
	subTree(t, k.ModDir(), root, k.Release, "kernel/drivers/net", false)
	open := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	o := depmod.Options{BaseDir: root, KernelRelease: k.Release, Cache: depmod.CacheOn, Stdout: io.Discard, Stderr: io.Discard}
	before := open()
	for i := 0; i < 3; i++ { // without a cache, with it, with it again
		if err := depmod.Run(o); err != nil {
			t.Fatal(err)
		}
		if n := open(); n != before {
			t.Fatalf("run %d: %d descriptors open, %d before", i+1, n, before)
		}
	}
}

// TestCacheOtherUser runs depmod as root, then depmod -n as nobody, on a tree with a
// directory only root can read. kmod, as nobody, cannot open that directory and leaves its
// modules out; gokmod must do the same, though root's run recorded the directory's
// listing in the cache and a stat of the directory, unlike a read, needs no permission
// on it. Running as nobody needs root.
func TestCacheOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root, to run depmod as root and as nobody")
	}
	k := testenv.RequireLine(t, "6.1")
	t.Setenv(compat.Env, "30") // the gokmod runs below are compared with kmod 30's
	bin, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	// Everything nobody must reach is world-readable: t.TempDir's directories are not.
	tmp, err := os.MkdirTemp("", "depmod-other-user-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	gokmod := filepath.Join(tmp, "gokmod")
	data, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(gokmod, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
	kdir := subTree(t, k.ModDir(), kroot, k.Release, "kernel/drivers/net", false)
	gdir := subTree(t, k.ModDir(), groot, k.Release, "kernel/drivers/net", true)
	secret := ""
	for _, p := range moduleFiles(t, kdir) {
		if filepath.Base(p) == "e1000.ko" {
			secret, _ = filepath.Rel(kdir, filepath.Dir(p))
		}
	}
	if secret == "" {
		t.Fatal("e1000 missing from the tree")
	}
	for _, d := range []string{kdir, gdir} {
		if err := os.Chmod(filepath.Join(d, secret), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	run := func(asNobody bool, root string, argv ...string) result {
		if asNobody {
			argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)
		}
		return runCommand(t, root, k.Release, argv...)
	}
	// Listings of directories changed within the racy window (2 s) are not trusted: the
	// tree must be older than that when root's run records them.
	time.Sleep(2100 * time.Millisecond)
	compare(t, "as root", run(false, kroot, hostDepmod(t)), run(false, groot, gokmod, "depmod", "--cache"), kroot, groot)
	kr, gr := run(true, kroot, hostDepmod(t), "-n"), run(true, groot, gokmod, "depmod", "-n", "--cache")
	compare(t, "as nobody", kr, gr, kroot, groot)
	if !strings.Contains(kr.stderr, "Permission denied") {
		t.Errorf("kmod as nobody did not meet the unreadable directory: %q", kr.stderr)
	}
	testenv.Report(t, "depmod cache: a directory only root can read, listed by root's run, read by nobody's as kmod does")
}

// TestCacheRandomChanges applies random changes to a tree — modules added, removed,
// renamed, moved, rewritten in place or touched; directories made, renamed or removed —
// and after each compares gokmod's depmod, with its cache, with kmod's. Fixed seeds keep
// it reproducible.
func TestCacheRandomChanges(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	defer depmod.SetRacyWindow(0)() // steps are 10 ms apart, distinct timestamp ticks
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			tmp := t.TempDir()
			kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
			kdir := subTree(t, k.ModDir(), kroot, k.Release, "kernel/drivers/net", true)
			gdir := subTree(t, k.ModDir(), groot, k.Release, "kernel/drivers/net", true)
			rng := rand.New(rand.NewPCG(seed, 0))
			pick := func(s []string) string { return s[rng.IntN(len(s))] }
			// mods and dirs list the tree as it is, relative to the module directory.
			mods := func() []string {
				var out []string
				for _, p := range moduleFiles(t, kdir) {
					r, _ := filepath.Rel(kdir, p)
					out = append(out, r)
				}
				return out
			}
			dirs := func(made bool) []string {
				var out []string
				filepath.WalkDir(filepath.Join(kdir, "kernel"), func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.IsDir() && (!made || strings.HasPrefix(d.Name(), "zz")) {
						r, _ := filepath.Rel(kdir, p)
						out = append(out, r)
					}
					return err
				})
				return out
			}
			both := func(f func(dir string) error) {
				for _, d := range []string{kdir, gdir} {
					if err := f(d); err != nil {
						t.Fatal(err)
					}
				}
			}
			for step := range 20 {
				name := fmt.Sprintf("zz%d", step)
				var what string
				switch op := rng.IntN(9); {
				case op == 0 || op == 1:
					src, dst := pick(mods()), filepath.Join(pick(dirs(false)), name+".ko")
					what = "copy " + src + " to " + dst
					both(func(d string) error { copyFile(t, filepath.Join(d, src), filepath.Join(d, dst)); return nil })
				case op == 2:
					m := pick(mods())
					what = "remove " + m
					both(func(d string) error { return os.Remove(filepath.Join(d, m)) })
				case op == 3:
					m := pick(mods())
					to := filepath.Join(filepath.Dir(m), name+".ko")
					what = "rename " + m + " to " + to
					both(func(d string) error { return os.Rename(filepath.Join(d, m), filepath.Join(d, to)) })
				case op == 4:
					m, to := pick(mods()), filepath.Join(pick(dirs(false)), name+".ko")
					what = "move " + m + " to " + to
					both(func(d string) error { return os.Rename(filepath.Join(d, m), filepath.Join(d, to)) })
				case op == 5:
					nd, src := filepath.Join(pick(dirs(false)), name), pick(mods())
					what = "new directory " + nd + " with a copy of " + src
					both(func(d string) error {
						if err := os.Mkdir(filepath.Join(d, nd), 0o755); err != nil {
							return err
						}
						copyFile(t, filepath.Join(d, src), filepath.Join(d, nd, name+".ko"))
						return nil
					})
				case op == 6 && len(dirs(true)) > 0:
					dd := pick(dirs(true))
					what = "remove directory " + dd
					both(func(d string) error { return os.RemoveAll(filepath.Join(d, dd)) })
				case op == 6 || op == 7:
					dd := pick(dirs(false))
					to := filepath.Join(filepath.Dir(dd), name)
					what = "rename directory " + dd + " to " + to
					both(func(d string) error { return os.Rename(filepath.Join(d, dd), filepath.Join(d, to)) })
				default:
					m, src := pick(mods()), pick(mods())
					what = "rewrite " + m + " in place with " + src
					both(func(d string) error {
						data, err := os.ReadFile(filepath.Join(d, src))
						if err != nil {
							return err
						}
						return os.WriteFile(filepath.Join(d, m), data, 0o644) // same inode
					})
				}
				time.Sleep(10 * time.Millisecond)
				kr := runKmod(t, kroot, k.Release)
				gr := runGo(t, groot, k.Release, depmod.Options{Kmod: compat.Kmod30, Cache: depmod.CacheOn})
				compare(t, fmt.Sprintf("step %d (%s)", step, what), kr, gr, kroot, groot)
				if t.Failed() {
					return
				}
			}
		})
	}
	testenv.Report(t, "depmod cache: 2 sequences of 20 random changes to modules and directories, byte-identical to kmod after each")
}
