package depmod_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
	"gokmod/ko"
)

// generated are the files depmod writes as kmod 34 (kmod 30 writes no modules.weakdep).
var generated = depmod.Files()

// release is a kmod release gokmod is compared with: its depmod, run live, and the
// behaviour (Options.Kmod, GOKMOD_KMOD) that must match it.
type release struct {
	k      compat.Kmod
	depmod string
}

// releases are kmod 30 (this machine's) and kmod 34.2 (trixie's, run through its own
// glibc); either missing fails the test.
func releases(tb testing.TB) []release {
	tb.Helper()
	return []release{{compat.Kmod30, hostDepmod(tb)}, {compat.Kmod34, testenv.Kmod34Tool(tb, "depmod")}}
}

func (r release) String() string { return "kmod" + r.k.String() }

// options returns o set to behave as this release.
func (r release) options(o depmod.Options) depmod.Options {
	o.Kmod = r.k
	return o
}

// run runs this release's depmod with "-b root rel" added.
func (r release) run(tb testing.TB, root, rel string, args ...string) result {
	tb.Helper()
	return runCommand(tb, root, rel, append([]string{r.depmod}, args...)...)
}

// hostDepmod is Debian's kmod 30 depmod, which only writes files: safe to run on copies.
func hostDepmod(tb testing.TB) string {
	tb.Helper()
	for _, p := range []string{"/usr/sbin/depmod", "/sbin/depmod"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	tb.Fatal("kmod's depmod not found: run scripts/setup.sh (make setup)")
	return ""
}

// copyTree makes ROOT/lib/modules/REL from a module directory with testenv.LinkTree,
// leaving out the files depmod writes.
func copyTree(tb testing.TB, src, root, rel string) string {
	tb.Helper()
	dst := filepath.Join(root, "lib/modules", rel)
	if err := testenv.LinkTree(src, dst, generated); err != nil {
		tb.Fatal(err)
	}
	return dst
}

type result struct {
	files          map[string][]byte
	stdout, stderr string
	exit           int
}

// runKmod runs kmod 30's depmod (compare with Options.Kmod = compat.Kmod30).
func runKmod(tb testing.TB, root, rel string, args ...string) result {
	tb.Helper()
	return runCommand(tb, root, rel, append([]string{hostDepmod(tb)}, args...)...)
}

// runCommand runs argv with "-b root rel" added, and collects what it wrote.
func runCommand(tb testing.TB, root, rel string, argv ...string) result {
	tb.Helper()
	cmd := exec.Command(argv[0], slices.Concat(argv[1:], []string{"-b", root, rel})...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	exit := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			tb.Fatal(err)
		}
		exit = ee.ExitCode()
	}
	return result{files: readGenerated(root, rel), stdout: so.String(), stderr: se.String(), exit: exit}
}

func runGo(tb testing.TB, root, rel string, o depmod.Options) result {
	tb.Helper()
	var so, se bytes.Buffer
	o.BaseDir, o.KernelRelease, o.Stdout, o.Stderr = root, rel, &so, &se
	exit := 0
	if err := depmod.Run(o); err != nil {
		exit = 1
	}
	return result{files: readGenerated(root, rel), stdout: so.String(), stderr: se.String(), exit: exit}
}

func readGenerated(root, rel string) map[string][]byte {
	out := map[string][]byte{}
	for _, g := range generated {
		if b, err := os.ReadFile(filepath.Join(root, "lib/modules", rel, g)); err == nil {
			out[g] = b
		}
	}
	return out
}

// compare reports every difference between kmod's and gokmod's results; root paths are
// replaced by ROOT in stdout and stderr.
func compare(tb testing.TB, what string, k, g result, kroot, groot string) {
	tb.Helper()
	if len(k.files) != len(g.files) {
		tb.Errorf("%s: kmod wrote %d files, gokmod %d", what, len(k.files), len(g.files))
	}
	for name, kb := range k.files {
		gb, ok := g.files[name]
		if !ok {
			tb.Errorf("%s: gokmod did not write %s", what, name)
			continue
		}
		if !bytes.Equal(kb, gb) {
			tb.Errorf("%s: %s differs (kmod %d bytes, gokmod %d bytes) at byte %d", what, name, len(kb), len(gb), firstDiff(kb, gb))
		}
	}
	ks, gs := strings.ReplaceAll(k.stdout, kroot, "ROOT"), strings.ReplaceAll(g.stdout, groot, "ROOT")
	if ks != gs {
		tb.Errorf("%s: stdout differs (kmod %d bytes, gokmod %d bytes):\n%s", what, len(ks), len(gs), lineDiff(ks, gs))
	}
	ke, ge := strings.ReplaceAll(k.stderr, kroot, "ROOT"), strings.ReplaceAll(g.stderr, groot, "ROOT")
	if ke != ge {
		tb.Errorf("%s: stderr differs (kmod %d bytes, gokmod %d bytes):\n%s", what, len(ke), len(ge), lineDiff(ke, ge))
	}
	if k.exit != g.exit {
		tb.Errorf("%s: exit kmod %d, gokmod %d", what, k.exit, g.exit)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n kmod:   %q\n gokmod: %q", i+1, x, y)
		}
	}
	return ""
}

// TestAgainstKmod runs Debian's depmod and gokmod's on identical copies of each kernel's
// module tree and compares every generated file, stdout, stderr and the exit status:
// a plain run, -n, and -e with -E Module.symvers and with -F System.map (whose warning
// streams are long and ordered). Both kmod releases, each with the behaviour selected
// to match it.
func TestAgainstKmod(t *testing.T) {
	rels := releases(t)
	for _, k := range testenv.RequireAllKernels(t) {
		for _, r := range rels {
			t.Run(k.Release+"/"+r.String(), func(t *testing.T) { againstKmod(t, k, r) })
		}
	}
}

func againstKmod(t *testing.T, k testenv.Kernel, r release) {
	tmp := t.TempDir()
	kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
	copyTree(t, k.ModDir(), kroot, k.Release)
	copyTree(t, k.ModDir(), groot, k.Release)
	symvers := filepath.Join(k.Headers(), "Module.symvers")
	sysmap := k.SystemMap() // boot/System.map-REL, or 7.x's in the module directory
	cases := []struct {
		name string
		args []string
		o    depmod.Options
	}{
		{"plain", nil, depmod.Options{}},
		{"dry-run", []string{"-n"}, depmod.Options{DryRun: true}},
		{"symvers", []string{"-e", "-E", symvers}, depmod.Options{ErrSyms: true, Symvers: symvers}},
		{"system.map", []string{"-e", "-F", sysmap}, depmod.Options{ErrSyms: true, SystemMap: sysmap}},
		{"verbose", []string{"-v", "-w"}, depmod.Options{Verbose: 1, WarnDups: true}},
	}
	files, runs := 0, []string{}
	for _, c := range cases {
		// The .ko.xz tree costs seconds per run on both sides: the plain run and the
		// longest warning stream there, every case with GOKMOD_DEPMOD_HEAVY=1.
		if compressed(k) && c.name != "plain" && c.name != "system.map" && os.Getenv("GOKMOD_DEPMOD_HEAVY") == "" {
			continue
		}
		kr := r.run(t, kroot, k.Release, c.args...)
		gr := runGo(t, groot, k.Release, r.options(c.o))
		compare(t, c.name, kr, gr, kroot, groot)
		files, runs = max(files, len(kr.files)), append(runs, c.name)
		lines := strings.Count(kr.stderr, "\n") + strings.Count(kr.stdout, "\n")
		if c.o.DryRun { // the files on disk are the plain run's
			testenv.Report(t, "depmod %s, %s, %s: stdout and stderr identical, %d lines", c.name, k.Release, r, lines)
		} else {
			testenv.Report(t, "depmod %s, %s, %s: %d files byte-identical (%s), %d output lines identical", c.name, k.Release, r, len(kr.files), strings.Join(slices.Sorted(maps.Keys(kr.files)), " "), lines)
		}
	}
	if !t.Failed() {
		testenv.Matrix(t, k.Release, r.String(), "depmod", fmt.Sprintf("%d files, %s", files, strings.Join(runs, "/")))
	}
	// Under -b the cache is off unless asked for: an image being built must
	// not carry it.
	if _, err := os.Stat(filepath.Join(groot, "lib/modules", k.Release, depmod.CacheFile)); err == nil {
		t.Errorf("depmod -b wrote %s without --cache", depmod.CacheFile)
	}
}

// compressed tells whether k's in-tree modules are compressed (.ko.xz from 6.12 on).
func compressed(k testenv.Kernel) bool {
	_, err := os.Stat(filepath.Join(k.ModDir(), "kernel/fs/minix/minix.ko"))
	return err != nil
}

// TestCompressedTrees compares on the 6.1 tree recompressed with zstd and with xz (in
// Go, cached under .cache/depmod-trees).
func TestCompressedTrees(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	rels := releases(t)
	for _, method := range []string{"zst", "xz"} {
		for _, r := range rels {
			t.Run(method+"/"+r.String(), func(t *testing.T) {
				src := compressedTree(t, k, method)
				tmp := t.TempDir()
				kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
				copyTree(t, src, kroot, k.Release)
				copyTree(t, src, groot, k.Release)
				kr := r.run(t, kroot, k.Release)
				compare(t, method, kr, runGo(t, groot, k.Release, r.options(depmod.Options{})), kroot, groot)
				testenv.Report(t, "depmod, %s recompressed as .%s, %s: %d files byte-identical", k.Release, method, r, len(kr.files))
			})
		}
	}
}

var compressMu sync.Mutex

// compressedTree returns a module directory holding the kernel's modules compressed with
// method ("zst" or "xz"), made once and cached.
func compressedTree(tb testing.TB, k testenv.Kernel, method string) string {
	tb.Helper()
	compressMu.Lock()
	defer compressMu.Unlock()
	cache, err := testenv.Cache()
	if err != nil {
		tb.Fatal(err)
	}
	// "-zst" trees made before the content size was recorded stay for older checkouts.
	dir := filepath.Join(cache, "depmod-trees", k.Release+"-"+method)
	if method == "zst" {
		dir += "-fcs"
	}
	if _, err := os.Stat(filepath.Join(dir, ".ready")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	type job struct{ src, dst string }
	var jobs []job
	src := k.ModDir()
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if r == "build" || r == "source" {
				return fs.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, r), 0o755)
		}
		switch {
		case strings.HasSuffix(p, ".ko"):
			jobs = append(jobs, job{p, filepath.Join(dir, r+"."+method)})
		case r == "modules.order" || r == "modules.builtin" || r == "modules.builtin.modinfo":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, r), b, 0o644)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	ch := make(chan job)
	errs := make(chan error, 1)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := compressFile(j.src, j.dst, method); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	if err := os.WriteFile(filepath.Join(dir, ".ready"), nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func compressFile(src, dst, method string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	switch method {
	case "zst":
		// One frame that records its content size, as the zstd command kbuild runs
		// writes it: kmod 34 refuses frames without it ("zstd: Failed to determine
		// decompression size"), which gokmod does not reproduce.
		w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		buf.Write(w.EncodeAll(data, nil))
		w.Close()
	case "xz":
		// CRC32 and a 1 MiB dictionary, as kbuild's xz --check=crc32 --lzma2=dict=1MiB.
		w, err := xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}.NewWriter(&buf)
		if err != nil {
			return err
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			return err
		}
	}
	if out, _, err := ko.Decompress(buf.Bytes()); err != nil || !bytes.Equal(out, data) {
		return fmt.Errorf("%s: %s round trip failed: %v", src, method, err)
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}
