// Command benchdepmod times gokmod's depmod and modprobe against Debian's kmod 30 in
// one run, on the same inputs, alternating the two so that machine noise hits both:
//
//   - depmod on a fresh copy of the 6.1 tree (plain .ko), outputs compared byte for byte;
//   - depmod on that tree after one module was replaced or added (gokmod's per-module
//     cache at work);
//   - depmod on the 6.12 tree (.ko.xz) and on the 6.1 tree recompressed with xz and zstd
//     (when kmod/depmod's tests have cached them);
//   - the pure-Go xz decoders on every .ko.xz of the 6.12 tree, on all cores;
//   - depmod -A on an up-to-date tree;
//   - modprobe -n -v and --show-depends of a PCI alias, modprobe --version (start-up
//     alone) and what gokmod's package initializations cost (modprobe.go).
//
// It prints min/median per command, the gokmod/kmod ratio and peak RSS. Run it with
// scripts/bench-depmod.sh (which builds bin/gokmod first).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	fastxz "github.com/therootcompany/xz"
	uxz "github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
)

var (
	runs   = flag.Int("n", 7, "runs of each depmod command")
	gokmod = flag.String("gokmod", "bin/gokmod", "gokmod binary")
	plain  = flag.Bool("plain", false, "skip the compressed trees and the xz decoders (minutes)")
	onlyMP = flag.Bool("modprobe", false, "only the modprobe rows (seconds)")
	kmodV  = flag.String("kmod", "30", "kmod release to bench against: 30 (Debian 12's, GOKMOD_KMOD=30) or 34 (kmod 34.2 through its own glibc, gokmod's default behaviour)")
)

// kmodDepmod is the depmod of the release -kmod names.
var kmodDepmod = "/usr/sbin/depmod"

type sample struct {
	wall time.Duration
	rss  int64 // KiB
}

type stats struct{ samples []sample }

func (s *stats) add(x sample) { s.samples = append(s.samples, x) }
func (s *stats) median() time.Duration {
	w := s.walls()
	return w[len(w)/2]
}
func (s *stats) min() time.Duration { return s.walls()[0] }
func (s *stats) walls() []time.Duration {
	var w []time.Duration
	for _, x := range s.samples {
		w = append(w, x.wall)
	}
	slices.Sort(w)
	return w
}
func (s *stats) rss() int64 {
	var m int64
	for _, x := range s.samples {
		m = max(m, x.rss)
	}
	return m
}

// run times one command. Peak RSS comes from /usr/bin/time, whose child is forked from
// a small process: a child forked from this one would inherit its high-water mark.
//
// Every command starts after a sync: each depmod leaves megabytes of output for the
// kernel to write back, and that writeback, running beside the next command, cost it
// up to 30 ms of CPU in contended file system locks (measured: gokmod after one module
// was added, 67 ms median alternating with kmod without the sync, 51 ms with it; kmod
// 590 and 521 ms). With it, neither tool pays for the other's writes.
func run(name string, args ...string) (sample, error) {
	unix.Sync()
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", name}, args...)...)
	var se bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &se
	t := time.Now()
	err := cmd.Run()
	wall := time.Since(t)
	if err != nil {
		return sample{}, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, se.String())
	}
	lines := strings.Split(strings.TrimSpace(se.String()), "\n")
	var rss int64
	fmt.Sscan(lines[len(lines)-1], &rss)
	return sample{wall, rss}, nil
}

// tree makes ROOT/lib/modules/REL from a module directory with hard links, without the
// files depmod writes.
func tree(src, root, rel string) {
	must(testenv.LinkTree(src, filepath.Join(root, "lib/modules", rel), depmod.Files()))
}

func same(a, b, rel string) bool {
	for _, f := range depmod.Files() {
		x, _ := os.ReadFile(filepath.Join(a, "lib/modules", rel, f))
		y, _ := os.ReadFile(filepath.Join(b, "lib/modules", rel, f))
		if !bytes.Equal(x, y) {
			fmt.Printf("  OUTPUT DIFFERS: %s\n", f)
			return false
		}
	}
	return true
}

func report(what string, k, g *stats) {
	fmt.Printf("%-44s kmod %8v / %8v  gokmod %8v / %8v  ratio %5.2fx  RSS kmod %6.1f MB gokmod %6.1f MB\n",
		what, k.min().Round(time.Millisecond/10), k.median().Round(time.Millisecond/10),
		g.min().Round(time.Millisecond/10), g.median().Round(time.Millisecond/10),
		float64(k.median())/float64(g.median()), float64(k.rss())/1024, float64(g.rss())/1024)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// depmodBench runs both depmods n times each on fresh copies of a tree.
func depmodBench(what, src, rel string, n int) {
	tmp, _ := os.MkdirTemp("", "bench-depmod-")
	defer os.RemoveAll(tmp)
	var k, g stats
	identical := true
	for i := 0; i < n; i++ {
		kr, gr := filepath.Join(tmp, fmt.Sprint("k", i)), filepath.Join(tmp, fmt.Sprint("g", i))
		tree(src, kr, rel)
		tree(src, gr, rel)
		ks, err := run(kmodDepmod, "-b", kr, rel)
		must(err)
		gs, err := run(*gokmod, "depmod", "-b", gr, rel)
		must(err)
		k.add(ks)
		g.add(gs)
		identical = identical && same(kr, gr, rel)
		os.RemoveAll(kr)
		os.RemoveAll(gr)
	}
	report(what, &k, &g)
	fmt.Printf("  outputs identical in all %d runs: %v\n", n, identical)
}

// incrementalBench times depmod after one module changed, on trees both tools have
// already run on (gokmod's with its per-module cache, which --cache turns on under -b,
// as it is on by default for the system's tree): a module replaced by an identical
// copy (new inode and mtime, as a package reinstall leaves it), and a module added.
func incrementalBench(src, rel string, n int) {
	tmp, _ := os.MkdirTemp("", "bench-depmod-")
	defer os.RemoveAll(tmp)
	kr, gr := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
	tree(src, kr, rel)
	tree(src, gr, rel)
	var mods []string
	filepath.WalkDir(filepath.Join(kr, "lib/modules", rel, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko") {
			r, _ := filepath.Rel(kr, p)
			mods = append(mods, r)
		}
		return nil
	})
	// Modules to add later are taken out before the first run.
	added := mods[len(mods)-n:]
	for _, m := range added {
		for _, root := range []string{kr, gr} {
			must(os.Rename(filepath.Join(root, m), filepath.Join(root, m)+".away"))
		}
	}
	// Making the trees changed every module's ctime (hard links): a record made within
	// two seconds of a change is re-checked on the next run (racy). Measure the steady
	// state, a tree installed a while ago.
	time.Sleep(2500 * time.Millisecond)
	_, err := run(kmodDepmod, "-b", kr, rel)
	must(err)
	_, err = run(*gokmod, "depmod", "--cache", "-b", gr, rel)
	must(err)
	for _, c := range []struct {
		what   string
		change func(root string, i int)
	}{
		{"depmod, 6.1 tree, one module replaced", func(root string, i int) {
			p := filepath.Join(root, mods[i*37%(len(mods)-n)])
			b, err := os.ReadFile(p)
			must(err)
			must(os.WriteFile(p+".new", b, 0o644))
			must(os.Rename(p+".new", p))
		}},
		{"depmod, 6.1 tree, one module added", func(root string, i int) {
			p := filepath.Join(root, added[i])
			must(os.Rename(p+".away", p))
		}},
	} {
		var k, g stats
		identical := true
		for i := 0; i < n; i++ {
			c.change(kr, i)
			c.change(gr, i)
			ks, err := run(kmodDepmod, "-b", kr, rel)
			must(err)
			gs, err := run(*gokmod, "depmod", "--cache", "-b", gr, rel)
			must(err)
			k.add(ks)
			g.add(gs)
			identical = identical && same(kr, gr, rel)
		}
		report(c.what, &k, &g)
		fmt.Printf("  outputs identical in all %d runs: %v\n", n, identical)
	}
}

func xzDecoders(dir string) {
	var files [][]byte
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko.xz") {
			b, _ := os.ReadFile(p)
			files = append(files, b)
		}
		return nil
	})
	dec := []struct {
		name string
		fn   func([]byte) (int64, error)
	}{
		{"ulikunitz/xz", func(b []byte) (int64, error) {
			r, err := uxz.NewReader(bytes.NewReader(b))
			if err != nil {
				return 0, err
			}
			return io.Copy(io.Discard, r)
		}},
		{"therootcompany/xz (xz-embedded port)", func(b []byte) (int64, error) {
			r, err := fastxz.NewReader(bytes.NewReader(b), 0)
			if err != nil {
				return 0, err
			}
			return io.Copy(io.Discard, r)
		}},
	}
	for _, d := range dec {
		t := time.Now()
		var next, total atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(files) {
						return
					}
					n, err := d.fn(files[i])
					must(err)
					total.Add(n)
				}
			}()
		}
		wg.Wait()
		el := time.Since(t)
		fmt.Printf("  %-38s %d files, %d MB out in %v on %d cores: %.0f MB/s\n", d.name, len(files), total.Load()>>20,
			el.Round(time.Millisecond), runtime.GOMAXPROCS(0), float64(total.Load())/1e6/el.Seconds())
	}
	t := time.Now()
	cmd := exec.Command("sh", "-c", "find "+dir+" -name '*.ko.xz' -print0 | xargs -0 -P"+fmt.Sprint(runtime.GOMAXPROCS(0))+" -n 200 xz -dc > /dev/null")
	if cmd.Run() == nil {
		fmt.Printf("  %-38s (liblzma, for reference) %v\n", "xz -dc", time.Since(t).Round(time.Millisecond))
	}
}

func main() {
	flag.Parse()
	ks, err := testenv.Kernels()
	must(err)
	ks, err = testenv.Lines(ks, "6.1", "6.12") // the pair these benchmarks were written for
	must(err)
	if _, err := os.Stat(*gokmod); err != nil {
		must(fmt.Errorf("%s: %v (run make build)", *gokmod, err))
	}
	rel, err := compat.Parse(*kmodV)
	must(err)
	// gokmod, a child of this process, behaves as the release it is compared with.
	must(os.Setenv(compat.Env, *kmodV))
	if rel == compat.Kmod34 {
		cache, err := testenv.Cache()
		must(err)
		kmodDepmod = filepath.Join(cache, "kmod34", "bin", "depmod") // a shell wrapper: one exec more
	}
	fmt.Printf("gokmod vs kmod %s, %d cores, load average now: ", rel, runtime.NumCPU())
	la, _ := os.ReadFile("/proc/loadavg")
	fmt.Print(string(la))
	k61 := ks[0]
	if *onlyMP {
		modprobeBench(k61, *runs)
		return
	}
	depmodBench("depmod, 6.1 tree (.ko), fresh copy", k61.ModDir(), k61.Release, *runs)
	// Runs of 50 ms vary more with the machine than runs of 500 ms: three times as many.
	incrementalBench(k61.ModDir(), k61.Release, 3*(*runs))
	if len(ks) > 1 && !*plain {
		depmodBench("depmod, 6.12 tree (.ko.xz), fresh copy", ks[1].ModDir(), ks[1].Release, max(*runs/2, 3))
	}
	cache, _ := testenv.Cache()
	for _, m := range []string{"zst", "xz"} {
		d := filepath.Join(cache, "depmod-trees", k61.Release+"-"+m)
		if _, err := os.Stat(filepath.Join(d, ".ready")); err == nil && !*plain {
			depmodBench("depmod, 6.1 tree recompressed ."+m, d, k61.Release, max(*runs/2, 3))
		}
	}
	if len(ks) > 1 && !*plain {
		fmt.Println("pure-Go xz decoders on the 6.12 tree:")
		xzDecoders(ks[1].ModDir())
	}

	// depmod -A on an up-to-date tree.
	tmp, _ := os.MkdirTemp("", "bench-depmod-")
	defer os.RemoveAll(tmp)
	tree(k61.ModDir(), tmp, k61.Release)
	_, err = run(kmodDepmod, "-b", tmp, k61.Release)
	must(err)
	var k, g stats
	for i := 0; i < 5*(*runs); i++ {
		s, err := run(kmodDepmod, "-A", "-b", tmp, k61.Release)
		must(err)
		k.add(s)
		s, err = run(*gokmod, "depmod", "-A", "-b", tmp, k61.Release)
		must(err)
		g.add(s)
	}
	report("depmod -A, tree up to date", &k, &g)

	modprobeBench(k61, *runs)
}
