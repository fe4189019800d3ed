package tool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"gokmod/internal/testing/elftest"
	"gokmod/internal/testing/testenv"
	"gokmod/kmod"
	"gokmod/ko"
)

// The live differential test: Debian's kmod modinfo (on this host: it only reads files)
// and gokmod modinfo on every module of both trees, and on compressed copies.

const kmodModinfo = "/usr/sbin/modinfo"

func runKmod(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return runKmodBin(t, kmodModinfo, dir, args...)
}

// runKmodBin runs the kmod modinfo at bin (kmod 30's, or kmod 34's wrapper) in dir.
func runKmodBin(t *testing.T, bin, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return o.String(), e.String(), code
}

// runGokmod runs gokmod's modinfo in dir behaving as kmod release env (GOKMOD_KMOD).
// The tests that call it run sequentially, so setting the variable for the call is safe.
func runGokmod(env, dir string, args ...string) (string, string, int) {
	old, had := os.LookupEnv("GOKMOD_KMOD")
	os.Setenv("GOKMOD_KMOD", env)
	defer func() {
		if had {
			os.Setenv("GOKMOD_KMOD", old)
		} else {
			os.Unsetenv("GOKMOD_KMOD")
		}
	}()
	var o, e bytes.Buffer
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)
	code := Main(append([]string{"modinfo"}, args...), &o, &e, kmod.NewHost())
	return o.String(), e.String(), code
}

// firstDiff describes where two outputs part.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d:\n  kmod:   %q\n  gokmod: %q", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("lengths differ: kmod %d lines, gokmod %d lines", len(la), len(lb))
}

// compare runs both on the same arguments in dir: identical stdout and exit code, and
// kmod's stderr must be a prefix-wise subset (gokmod may add detail lines after kmod's).
// Both kmods are compared: kmod 30 with GOKMOD_KMOD=30, kmod 34.2 with the default.
func compare(t *testing.T, dir string, args ...string) {
	t.Helper()
	compareWith(t, "30", kmodModinfo, dir, args...)
	compareWith(t, "34", testenv.Kmod34Tool(t, "modinfo"), dir, args...)
}

// compareWith is compare against the kmod modinfo at bin, with gokmod behaving as kmod
// release env.
func compareWith(t *testing.T, env, bin, dir string, args ...string) {
	t.Helper()
	ko, ke, kc := runKmodBin(t, bin, dir, args...)
	go_, ge, gc := runGokmod(env, dir, args...)
	if ko != go_ {
		t.Errorf("kmod %s: modinfo %s: stdout differs at %s", env, short(args), firstDiff(ko, go_))
	}
	if kc != gc {
		t.Errorf("kmod %s: modinfo %s: exit kmod %d gokmod %d", env, short(args), kc, gc)
	}
	for _, l := range strings.Split(strings.TrimSpace(ke), "\n") {
		if !strings.Contains(ge, l) {
			t.Errorf("kmod %s: modinfo %s: kmod says %q, gokmod does not:\n%s", env, short(args), l, ge)
		}
	}
}

func short(args []string) string {
	if len(args) > 6 {
		return strings.Join(args[:6], " ") + fmt.Sprintf(" ... (%d args)", len(args))
	}
	return strings.Join(args, " ")
}

func treeModules(t *testing.T, k testenv.Kernel) []string {
	t.Helper()
	var files []string
	root := filepath.Join(k.ModDir(), "kernel")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) < 1000 {
		t.Fatalf("%s: %d modules, %v", root, len(files), err)
	}
	sort.Strings(files)
	return files
}

// TestModinfoEveryModule: every prepared tree, every file, one process each side, beside
// kmod 30 (this machine's) and kmod 34.2 (trixie's, through its own glibc). modinfo's
// output is the same in both kmod versions, so one behaviour of ours answers both.
func TestModinfoEveryModule(t *testing.T) {
	total := 0
	for _, k := range testenv.RequireAllKernels(t) {
		files := treeModules(t, k)
		for _, kv := range []struct{ env, bin string }{{"30", kmodModinfo}, {"34", testenv.Kmod34Tool(t, "modinfo")}} {
			failed := t.Failed()
			compareWith(t, kv.env, kv.bin, "/", files...)
			if !failed && !t.Failed() {
				testenv.Matrix(t, k.Release, map[string]string{"30": "30", "34": "34.2"}[kv.env], "modinfo", fmt.Sprintf("%d files", len(files)))
			}
		}
		total += len(files)
	}
	if !t.Failed() {
		testenv.Report(t, "modinfo byte-identical to kmod 30 (GOKMOD_KMOD=30) and to kmod 34.2 on %d module files of every tree", total)
	}
}

// recompressed writes copies of files (decompressed, then compressed with each method)
// under the cache, once, and returns their paths.
func recompressed(t *testing.T, k testenv.Kernel, files []string, method string) []string {
	t.Helper()
	cache, err := testenv.Cache()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(files))
	var wg sync.WaitGroup
	errs := make(chan error, len(files))
	sem := make(chan struct{}, 2)
	for i, f := range files {
		rel := strings.TrimPrefix(f, k.ModDir()+"/")
		rel = strings.TrimSuffix(strings.TrimSuffix(rel, ".xz"), ".zst")
		dst := filepath.Join(cache, "recompressed", k.Release, method, rel+"."+method)
		out[i] = dst
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(src, dst string) {
			defer wg.Done()
			defer func() { <-sem }()
			raw, err := os.ReadFile(src)
			if err == nil {
				raw, _, err = ko.Decompress(raw)
			}
			var data []byte
			if err == nil {
				switch method {
				case "zst":
					enc, _ := zstd.NewWriter(nil)
					data = enc.EncodeAll(raw, nil)
				case "xz":
					cmd := exec.Command("xz", "-C", "crc32", "-c")
					cmd.Stdin = bytes.NewReader(raw)
					data, err = cmd.Output()
				}
			}
			if err == nil {
				err = os.MkdirAll(filepath.Dir(dst), 0o755)
			}
			if err == nil {
				err = os.WriteFile(dst+".tmp", data, 0o644)
			}
			if err == nil {
				err = os.Rename(dst+".tmp", dst)
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", src, err)
			}
		}(f, dst)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// sample picks n files deterministically; GOKMOD_FULL=1 takes them all.
func sample(files []string, n int) []string {
	if os.Getenv("GOKMOD_FULL") != "" || len(files) <= n {
		return files
	}
	r := rand.New(rand.NewSource(1))
	idx := r.Perm(len(files))[:n]
	sort.Ints(idx)
	out := make([]string, n)
	for i, j := range idx {
		out[i] = files[j]
	}
	return out
}

// TestModinfoCompressed: zstd copies of every 6.1 module, and samples of xz copies of 6.1
// and zstd copies of 6.12 (GOKMOD_FULL=1: every file).
func TestModinfoCompressed(t *testing.T) {
	ks := testenv.RequireLines(t, "6.1", "6.12") // the pair these tests were written for
	n := 0
	for _, c := range []struct {
		k      testenv.Kernel
		method string
		n      int
	}{{ks[0], "zst", 1 << 20}, {ks[0], "xz", 300}, {ks[1], "zst", 300}} {
		files := recompressed(t, c.k, sample(treeModules(t, c.k), c.n), c.method)
		compare(t, "/", files...)
		n += len(files)
	}
	testenv.Report(t, "modinfo byte-identical to kmod 30 and 34.2 on %d compressed module files", n)
}

// TestModinfoOptions: the option variants on a sample of each tree, names and aliases
// looked up through each tree's indexes (-b/-k), built-in modules, and bad input.
func TestModinfoOptions(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		files := sample(treeModules(t, k), 40)
		root := strings.TrimSuffix(k.Root, "/")
		for _, opts := range [][]string{{"-F", "alias"}, {"-F", "vermagic"}, {"-F", "parm"}, {"-F", "filename"},
			{"-F", "signature"}, {"-F", "nosuchfield"}, {"-0"}, {"-a"}, {"-d"}, {"-l"}, {"-p"}, {"-n"}, {"-0", "-p"}, {"-0", "-F", "alias"}} {
			compare(t, "/", append(opts, files...)...)
		}
		var names []string
		for _, f := range files[:15] {
			names = append(names, kmod.NameFromPath(f))
		}
		bk := []string{"-b", root, "-k", k.Release}
		compare(t, "/", append(bk, names...)...)
		compare(t, "/", append(append(bk, "-m"), names...)...)
		// Aliases: a PCI id, a filesystem alias, a symbol and built-in modules.
		builtins := builtinNames(t, k, 10)
		compare(t, "/", append(append(bk, "fs-minix", "symbol:llc_sap_open", "nosuchmodule"), builtins...)...)
		compare(t, "/", append(append(bk, "-F", "name"), builtins...)...)
		compare(t, "/", append(append(bk, "-m"), builtins...)...)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "empty.ko"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "garbage.ko"), []byte("garbage garbage garbage"), 0o644)
	os.Mkdir(filepath.Join(dir, "dir.ko"), 0o755)
	real, _ := os.ReadFile(treeModules(t, testenv.RequireLine(t, "6.1"))[0])
	os.WriteFile(filepath.Join(dir, "truncated.ko"), real[:len(real)/3], 0o644)
	os.WriteFile(filepath.Join(dir, "header.ko"), real[:100], 0o644)
	// A malformed signature trailer: sig_len larger than the file.
	badSig := append([]byte(nil), real...)
	n := len(badSig) - len(ko.SignatureMagic) - 4
	binary.BigEndian.PutUint32(badSig[n:], 0x7fffffff)
	os.WriteFile(filepath.Join(dir, "badsig.ko"), badSig, 0o644)
	// The section header table pointing past the end of the file.
	pastEnd := append([]byte(nil), real...)
	binary.LittleEndian.PutUint64(pastEnd[40:], uint64(len(real)))
	os.WriteFile(filepath.Join(dir, "shoff.ko"), pastEnd, 0o644)
	// 32-bit and big-endian modules, which kmod reads as well as x86_64 ones.
	for _, m := range []struct {
		name  string
		class int
		order binary.ByteOrder
	}{{"elf32le.ko", 32, binary.LittleEndian}, {"elf64be.ko", 64, binary.BigEndian}, {"elf32be.ko", 32, binary.BigEndian}} {
		mod := elftest.Module{Class: m.class, Order: m.order, Machine: 3, Name: "synth",
			ModInfo: []string{"license=GPL", "alias=synth-alias", "parm=count:how many", "parmtype=count:int", "vermagic=6.1.0 SMP mod_unload "}}
		os.WriteFile(filepath.Join(dir, m.name), mod.Build(), 0o644)
	}
	// Compressed modules cut short or corrupted, where the two kmods part: kmod 30
	// streams zstd and judges what it decoded, kmod 34 names the decoder's error.
	bad := []string{"empty.ko", "garbage.ko", "dir.ko", "truncated.ko", "header.ko", "missing.ko",
		"badsig.ko", "shoff.ko", "elf32le.ko", "elf64be.ko", "elf32be.ko"}
	for _, method := range []string{"zst", "xz"} {
		cmd := exec.Command(map[string]string{"zst": "zstd", "xz": "xz"}[method], "-q", "-c")
		cmd.Stdin = bytes.NewReader(real)
		packed, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{len(packed) / 10, len(packed) / 2, len(packed) - 5} {
			name := fmt.Sprintf("cut%d.ko.%s", cut, method)
			os.WriteFile(filepath.Join(dir, name), packed[:cut], 0o644)
			bad = append(bad, name)
		}
		flipped := append([]byte(nil), packed...)
		flipped[len(flipped)/2] ^= 0xff
		os.WriteFile(filepath.Join(dir, "flipped.ko."+method), flipped, 0o644)
		bad = append(bad, "flipped.ko."+method)
	}
	cmd := exec.Command("zstd", "-q", "-c", "--no-content-size")
	cmd.Stdin = bytes.NewReader(real)
	if nofcs, err := cmd.Output(); err == nil {
		os.WriteFile(filepath.Join(dir, "nosize.ko.zst"), nofcs, 0o644)
		bad = append(bad, "nosize.ko.zst")
	} else {
		t.Fatal(err)
	}
	for _, f := range bad {
		compare(t, dir, f)
	}
}

func builtinNames(t *testing.T, k testenv.Kernel, n int) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k.ModDir(), "modules.builtin"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		names = append(names, kmod.NameFromPath(l))
	}
	return sample(names, n)
}
