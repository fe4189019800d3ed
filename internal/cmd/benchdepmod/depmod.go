package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	fastxz "github.com/therootcompany/xz"
	uxz "github.com/ulikunitz/xz"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/depmod"
)

// tree makes ROOT/lib/modules/REL from a module directory with hard links, without the
// files depmod writes.
func tree(src, root, rel string) {
	must(testenv.LinkTree(src, filepath.Join(root, "lib/modules", rel), depmod.Files()))
}

// same reports whether two trees hold the same depmod output.
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

// outputPeer is the peer whose output gokmod's must equal: kmod 34.2, whose behaviour gokmod
// has by default (GOKMOD_KMOD unset). kmod 30's differs by design (modules.weakdep, the
// indexes' node order).
const outputPeer = 1

// depmodBench runs every depmod n times each on fresh copies of a tree.
func depmodBench(ps []peer, what, src, rel string, n int) {
	tmp, _ := os.MkdirTemp("", "bench-depmod-")
	defer os.RemoveAll(tmp)
	r := newRow(what, len(ps))
	identical := true
	for i := 0; i < n; i++ {
		roots := make([]string, len(ps)+1)
		for j := range roots {
			roots[j] = filepath.Join(tmp, fmt.Sprint(j, "-", i))
			tree(src, roots[j], rel)
		}
		for j, p := range ps {
			s, err := run(p.cmd("depmod"), "-b", roots[j], rel)
			must(err)
			r.kmod[j].add(s)
		}
		s, err := run(gokmodCmd("depmod"), "-b", roots[len(ps)], rel)
		must(err)
		r.gok.add(s)
		identical = identical && same(roots[outputPeer], roots[len(ps)], rel)
		for _, root := range roots {
			os.RemoveAll(root)
		}
	}
	report(ps, r)
	fmt.Printf("  outputs identical to %s's in all %d runs: %v\n", ps[outputPeer].name, n, identical)
}

// incrementalBench times depmod after one module changed, on trees every tool has
// already run on (gokmod's with its per-module cache, which --cache turns on under -b,
// as it is on by default for the system's tree): a module replaced by an identical
// copy (new inode and mtime, as a package reinstall leaves it), and a module added.
// suffix is the modules' (".ko", ".ko.xz").
func incrementalBench(ps []peer, name, src, rel, suffix string, n int) {
	tmp, _ := os.MkdirTemp("", "bench-depmod-")
	defer os.RemoveAll(tmp)
	roots := make([]string, len(ps)+1)
	for j := range roots {
		roots[j] = filepath.Join(tmp, fmt.Sprint(j))
		tree(src, roots[j], rel)
	}
	var mods []string
	filepath.WalkDir(filepath.Join(roots[0], "lib/modules", rel, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, suffix) {
			r, _ := filepath.Rel(roots[0], p)
			mods = append(mods, r)
		}
		return nil
	})
	// Modules to add later are taken out before the first run.
	added := mods[len(mods)-n:]
	for _, m := range added {
		for _, root := range roots {
			must(os.Rename(filepath.Join(root, m), filepath.Join(root, m)+".away"))
		}
	}
	// Making the trees changed every module's ctime (hard links): a record made within
	// two seconds of a change is re-checked on the next run (racy). Measure the steady
	// state, a tree installed a while ago.
	time.Sleep(2500 * time.Millisecond)
	depmodAll := func(r *row) {
		for j, p := range ps {
			s, err := run(p.cmd("depmod"), "-b", roots[j], rel)
			must(err)
			if r != nil {
				r.kmod[j].add(s)
			}
		}
		s, err := run(gokmodCmd("depmod"), "--cache", "-b", roots[len(ps)], rel)
		must(err)
		if r != nil {
			r.gok.add(s)
		}
	}
	depmodAll(nil)
	for _, c := range []struct {
		what   string
		change func(root string, i int)
	}{
		{"depmod --cache, " + name + ", one module replaced", func(root string, i int) {
			p := filepath.Join(root, mods[i*37%(len(mods)-n)])
			b, err := os.ReadFile(p)
			must(err)
			must(os.WriteFile(p+".new", b, 0o644))
			must(os.Rename(p+".new", p))
		}},
		{"depmod --cache, " + name + ", one module added", func(root string, i int) {
			p := filepath.Join(root, added[i])
			must(os.Rename(p+".away", p))
		}},
	} {
		r := newRow(c.what, len(ps))
		identical := true
		for i := 0; i < n; i++ {
			for _, root := range roots {
				c.change(root, i)
			}
			depmodAll(r)
			identical = identical && same(roots[outputPeer], roots[len(ps)], rel)
		}
		report(ps, r)
		fmt.Printf("  outputs identical to %s's in all %d runs: %v\n", ps[outputPeer].name, n, identical)
	}
}

// upToDate times depmod -A on a tree whose indexes are newer than every module: every
// tool only walks the tree and stats.
func upToDate(ps []peer, src, rel string, n int) {
	tmp, _ := os.MkdirTemp("", "bench-depmod-")
	defer os.RemoveAll(tmp)
	tree(src, tmp, rel)
	_, err := run(ps[outputPeer].cmd("depmod"), "-b", tmp, rel)
	must(err)
	alternate(ps, "depmod -A, tree up to date", "depmod", n, "-A", "-b", tmp, rel)
}

// xzDecoders times the two pure-Go xz decoders on every .ko.xz under dir, on all cores.
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
