package tool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/kmod/index"
)

// The differential tests of libkmod's own messages: -vv's INFO lines, -vvv's DEBUG lines
// (which only Debian's kmod 30, a debug build, prints) and the messages for a damaged
// index, beside kmod 30 and kmod 34.2, on dry runs only.

// pointerRE matches the pointers libkmod prints (%p): each process has its own. A null
// one, glibc's "(nil)" (e.g. "found=(nil)"), is no pointer to mask and must agree.
var pointerRE = regexp.MustCompile(`(function |context |ctx=|add |del |found=|kmod_module )0x[0-9a-f]+`)

func maskPointers(s string) string { return pointerRE.ReplaceAllString(s, "${1}0xPTR") }

// mpCompareMasked is mpCompare with libkmod's pointers masked in stderr.
func mpCompareMasked(t *testing.T, args ...string) (kmod, gokmod mpResult) {
	t.Helper()
	k, g := mpKmod(t, args...), mpGokmod(args...)
	k.stderr, g.stderr = maskPointers(k.stderr), maskPointers(g.stderr)
	if k.stdout != g.stdout {
		t.Errorf("modprobe %s: stdout differs at %s", short(args), firstDiff(k.stdout, g.stdout))
	}
	if k.stderr != g.stderr {
		t.Errorf("modprobe %s: stderr differs at %s\nkmod:\n%s\ngokmod:\n%s", short(args), firstDiff(k.stderr, g.stderr), k.stderr, g.stderr)
	}
	if k.exit != g.exit {
		t.Errorf("modprobe %s: exit kmod %d, gokmod %d", short(args), k.exit, g.exit)
	}
	return k, g
}

// TestModprobeVerboseLog compares modprobe's -vv, -vvv and -vvvv dry runs: libkmod's
// "custom logging function registered" and "context released" INFO lines, with kmod 30's
// source locations, and their absence after a FATAL message; and kmod 30's DEBUG lines
// (index opens, lookups, the module pool and its releases, dependencies, options,
// initstate, paths) in its order, through softdeps, aliases with several matches, the
// configuration's aliases, options, install and remove commands and blacklist, built-in
// modules and modules not found, --show-exports and --show-modversions. Debian's kmod 34
// prints no DEBUG line.
func TestModprobeVerboseLog(t *testing.T) { forEachRelease(t, testModprobeVerboseLog) }

func testModprobeVerboseLog(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	base := []string{"-d", k.Root, "-S", k.Release}
	multi, builtin := multiMatchAlias(t, k), firstBuiltin(t, k)
	conf := verboseLogConfig(t)
	// A module file with exports and one without (dummy.ko: FATAL, then nothing more), and
	// llc.ko without its __versions (kmod 30 says ENOENT, kmod 34 ENODATA).
	llc, noExports := filepath.Join(k.ModDir(), "kernel/net/llc/llc.ko"), filepath.Join(k.ModDir(), "kernel/drivers/net/dummy.ko")
	noVersions := filepath.Join(t.TempDir(), "llc.ko")
	if out, err := exec.Command("objcopy", "--remove-section", "__versions", llc, noVersions).CombinedOutput(); err != nil {
		t.Fatalf("objcopy (binutils, of the kbuild toolchain setup.sh installs): %v\n%s", err, out)
	}
	runs := [][]string{
		{"-n", "btrfs"}, {"-D", "btrfs"}, {"-n", "pci:v00008086d000010D3sv0sd0bc0sc0i0"}, {"-R", "loop"},
		{"-D", "symbol:llc_sap_open"}, {"-D", "nosuchmodule"}, {"-a", "-D", "nosuchmodule", "loop"},
		{"-n", "-r", "loop"}, {"-q", "-D", "btrfs"}, {"-c"},
		{"-n", multi}, {"-D", multi}, {"-R", multi}, {"-n", builtin}, {"-n", "-r", builtin}, {"-n", "bad[alias"},
		{"-n", "-a", "loop", "dummy", "loop"},
		{"-C", conf, "-n", "loop"}, {"-C", conf, "-n", "-i", "loop"}, {"-C", conf, "-n", "gokmodalias"},
		{"-C", conf, "-n", "gokmodinstall"}, {"-C", conf, "-D", "ifb"}, {"-C", conf, "-n", "-b", "ifb"},
		{"-C", conf, "-n", "-r", "loop"}, {"-C", conf, "-n", "-r", "ifb"}, {"-C", conf, "-c"},
		{"--show-exports", llc}, {"--show-modversions", llc}, {"--show-exports", noExports}, {"--show-modversions", noVersions},
		{"--show-modversions", conf + "/gokmod.conf"},
	}
	n, infos, debugs := 0, 0, 0
	var all strings.Builder
	for _, v := range []string{"-vv", "-vvv", "-vvvv"} {
		for _, r := range runs {
			km, _ := mpCompareMasked(t, append(append([]string{v}, base...), r...)...)
			n++
			infos += strings.Count(km.stderr, ": INFO: ")
			debugs += strings.Count(km.stderr, ": DEBUG: ")
			all.WriteString(km.stderr)
		}
	}
	if infos == 0 {
		t.Fatalf("kmod %s printed no INFO line in %d runs: the test would prove nothing", kv, n)
	}
	if kv == compat.Kmod30 {
		// What the DEBUG runs must have shown for the comparison to mean something.
		for _, want := range []string{"found=(nil)", "found=0xPTR", "add 0xPTR key='", "del 0xPTR key='", "kmod_module 0xPTR released",
			"\\" + multi, "passed = modname=", "Ignore module '", "add dep: ", "use mmaped index 'modules.builtin'", "could not open '/sys/module/"} {
			if !strings.Contains(all.String(), want) {
				t.Errorf("kmod 30's -vvv runs never printed %q: the test would not prove it", want)
			}
		}
	} else if debugs != 0 {
		t.Fatalf("kmod %s printed %d DEBUG lines: Debian's kmod 34 was thought to be built without them", kv, debugs)
	}
	testenv.Report(t, "modprobe, kmod %s, %s: %d verbose dry runs (-vv, -vvv, -vvvv) identical with pointers masked, %d INFO and %d DEBUG lines",
		kv, k.Release, n, infos, debugs)
}

// multiMatchAlias is a PCI device of k's modules.alias whose alias several modules claim:
// the first such pattern, its wildcards filled with zeros.
func multiMatchAlias(t *testing.T, k testenv.Kernel) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k.ModDir(), "modules.alias"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "alias" || !strings.HasPrefix(f[1], "pci:") || strings.ContainsAny(f[1], "?[") {
			continue
		}
		if seen[f[1]]++; seen[f[1]] == 2 {
			return strings.ReplaceAll(f[1], "*", "0")
		}
	}
	t.Fatalf("%s: no PCI alias that several modules claim", k.ModDir())
	return ""
}

// firstBuiltin is the first module k's modules.builtin lists, by name.
func firstBuiltin(t *testing.T, k testenv.Kernel) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k.ModDir(), "modules.builtin"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if name := strings.TrimSuffix(filepath.Base(first), ".ko"); name != "" && name != "." {
		return name
	}
	t.Fatalf("%s: modules.builtin lists nothing", k.ModDir())
	return ""
}

// verboseLogConfig writes a modprobe.d directory (for -C) with every kind of line whose
// handling libkmod's -vvv shows: a softdep cycle with a post-softdep that resolves to
// nothing, options for a module and for an alias, an alias of two modules, a blacklist
// that hits one of them, install and remove commands (dry runs never run them). No
// remove command sits on the softdep cycle: kmod 30 (and gokmod) would recurse without
// end, as rmmod_do_module skips its "loaded?" check for a module with one.
func verboseLogConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	conf := `softdep loop pre: dummy post: ifb gokmodnosuchsoftdep
softdep dummy pre: loop
options loop max_loop=8
options gokmodalias numdummies=3
alias gokmodalias dummy
alias gokmodalias ifb
blacklist ifb
install gokmodinstall /bin/true
remove ifb /bin/true
`
	if err := os.WriteFile(filepath.Join(dir, "gokmod.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// damage is one way an index can be broken.
type damage struct {
	name string
	fn   func([]byte) []byte
}

var damages = []damage{
	{"bad magic", func(b []byte) []byte { c := bytes.Clone(b); copy(c, "XXXX"); return c }},
	{"bad major version", func(b []byte) []byte {
		c := bytes.Clone(b)
		binary.BigEndian.PutUint32(c[4:], 0x00030001)
		return c
	}},
	{"shorter than the header", func(b []byte) []byte { return bytes.Clone(b[:8]) }},
}

// damagedTree links ROOT/lib/modules/REL to k's module directory file by file, with
// file (e.g. "modules.dep.bin") replaced by data. It returns ROOT and the damaged path.
func damagedTree(t *testing.T, k testenv.Kernel, file string, data []byte) (root, path string) {
	t.Helper()
	root = t.TempDir()
	dir := filepath.Join(root, "lib/modules", k.Release)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(k.ModDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == file {
			continue
		}
		if err := os.Symlink(filepath.Join(k.ModDir(), e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	path = filepath.Join(dir, file)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return root, path
}

// indexProbes are, per index, a name that only that index resolves in k's tree.
func indexProbes(t *testing.T, k testenv.Kernel) map[string]string {
	t.Helper()
	open := func(file string) *index.Index {
		ix, err := index.Open(filepath.Join(k.ModDir(), file))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ix.Close() })
		return ix
	}
	dep, alias, builtin := open("modules.dep.bin"), open("modules.alias.bin"), open("modules.builtin.bin")
	// only is the first plain key of file that the indexes looked up before it (and
	// modules.builtin, for modules.builtin.alias) do not know.
	only := func(file string) string {
		key := ""
		open(file).Walk(func(k string, _ []index.Value) error {
			if key != "" || strings.ContainsAny(k, "*?[") {
				return nil
			}
			d, _ := dep.Lookup(k)
			a, _ := alias.SearchWildcard(k)
			b, _ := builtin.Lookup(k)
			if len(d) == 0 && len(a) == 0 && (len(b) == 0 || file == "modules.builtin.bin") {
				key = k
			}
			return nil
		})
		if key == "" {
			t.Fatalf("%s: no key only it resolves", file)
		}
		return key
	}
	return map[string]string{
		"modules.dep.bin":           "btrfs",
		"modules.alias.bin":         "pci:v00008086d000010D3sv0sd0bc0sc0i0",
		"modules.symbols.bin":       "symbol:llc_sap_open",
		"modules.builtin.bin":       only("modules.builtin.bin"),
		"modules.builtin.alias.bin": only("modules.builtin.alias.bin"),
	}
}

// splitHints takes gokmod's "PROG: hint: " lines out of stderr.
func splitHints(stderr, prog string) (rest string, hints []string) {
	var b strings.Builder
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if strings.HasPrefix(l, prog+": hint: ") {
			hints = append(hints, l)
		} else {
			b.WriteString(l)
		}
	}
	return b.String(), hints
}

// checkHint says whether hints are exactly the one line gokmod adds for path.
func checkHint(hints []string, prog, path string) bool {
	return len(hints) == 1 && strings.HasPrefix(hints[0], prog+": hint: "+path+" is damaged (") &&
		strings.HasSuffix(hints[0], "run depmod to rebuild it\n")
}

// TestBadIndexMessages damages each index of the 6.1 tree in turn (bad magic, bad major
// version, shorter than the header) and compares modprobe's and modinfo's lookups with
// kmod's: kmod's lines must be identical, and gokmod must add exactly one line naming
// the damaged file and saying to run depmod (none under -q).
func TestBadIndexMessages(t *testing.T) { forEachRelease(t, testBadIndexMessages) }

func testBadIndexMessages(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	probes := indexProbes(t, k)
	modinfo := kmodModinfo
	if kv == compat.Kmod34 {
		modinfo = testenv.Kmod34Tool(t, "modinfo")
	}
	runs, kmodWords := 0, 0
	for _, file := range []string{"modules.dep.bin", "modules.alias.bin", "modules.symbols.bin", "modules.builtin.alias.bin", "modules.builtin.bin"} {
		orig, err := os.ReadFile(filepath.Join(k.ModDir(), file))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range damages {
			root, path := damagedTree(t, k, file, d.fn(orig))
			what := file + ", " + d.name
			base := []string{"-d", root, "-S", k.Release}
			for _, r := range [][]string{{"-D", probes[file]}, {"-D", "loop"}, {"-R", probes[file]}, {"-q", "-D", probes[file]}, {"-vv", "-n", probes[file]}, {"-c"}} {
				args := append(append([]string{}, base...), r...)
				km, g := mpKmod(t, args...), mpGokmod(args...)
				rest, hints := splitHints(g.stderr, "modprobe")
				if km.stdout != g.stdout || maskPointers(km.stderr) != maskPointers(rest) || km.exit != g.exit {
					t.Errorf("%s: modprobe %s: kmod (exit %d):\n%sgokmod without its hint (exit %d):\n%s(stdout same: %v)",
						what, short(args), km.exit, km.stderr, g.exit, rest, km.stdout == g.stdout)
				}
				if quiet := r[0] == "-q"; quiet && len(hints) > 0 || !quiet && !checkHint(hints, "modprobe", path) {
					t.Errorf("%s: modprobe %s: hint lines %q", what, short(args), hints)
				}
				if strings.Contains(km.stderr, "check fail") {
					kmodWords++
				}
				runs++
			}
			for _, name := range []string{probes[file], "nosuchmodule"} {
				args := []string{"-b", root, "-k", k.Release, "-F", "filename", name}
				var km, g mpResult
				km.stdout, km.stderr, km.exit = runKmodBin(t, modinfo, "/", args...)
				g.stdout, g.stderr, g.exit = runGokmod(os.Getenv(compat.Env), "/", args...)
				rest, hints := splitHints(g.stderr, "modinfo")
				if km != (mpResult{g.stdout, rest, g.exit}) {
					t.Errorf("%s: modinfo %s: kmod %+v, gokmod without its hint %+v", what, short(args), km, mpResult{g.stdout, rest, g.exit})
				}
				if name == probes[file] && !checkHint(hints, "modinfo", path) {
					t.Errorf("%s: modinfo %s: hint lines %q", what, short(args), hints)
				}
				runs++
			}
		}
	}
	if kmodWords == 0 {
		t.Fatalf("kmod %s never reported a damaged index: the test would prove nothing", kv)
	}
	testenv.Report(t, "damaged indexes, kmod %s, %s: 5 files × %d damages, %d modprobe and modinfo runs identical to kmod's lines (%d with kmod's check-fail message), each with gokmod's one hint",
		kv, k.Release, len(damages), runs, kmodWords)
}

// TestZstdWithoutContentSizeTools compares modinfo and modprobe --show-exports and
// --show-modversions on a module recompressed by `zstd --no-content-size` (and, for
// contrast, by plain zstd): kmod 34.2 refuses it with libkmod's "zstd: Failed to
// determine decompression size", kmod 30 reads it. modprobe must be identical; modinfo
// identical but for the detail line gokmod adds after kmod's error.
func TestZstdWithoutContentSizeTools(t *testing.T) {
	forEachRelease(t, testZstdWithoutContentSizeTools)
}

func testZstdWithoutContentSizeTools(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Fatal("the zstd command is missing: run scripts/setup.sh (make setup), which installs zstd")
	}
	dir := t.TempDir()
	src := filepath.Join(k.ModDir(), "kernel/net/llc/llc.ko")
	noSize, withSize := filepath.Join(dir, "llc.ko.zst"), filepath.Join(dir, "sized/llc.ko.zst")
	os.MkdirAll(filepath.Dir(withSize), 0o755)
	for _, c := range [][]string{{"--no-content-size", "-o", noSize, src}, {"-o", withSize, src}} {
		if out, err := exec.Command("zstd", append([]string{"-q", "-f"}, c...)...).CombinedOutput(); err != nil {
			t.Fatalf("zstd %q: %v\n%s", c, err, out)
		}
	}
	modinfo := kmodModinfo
	if kv == compat.Kmod34 {
		modinfo = testenv.Kmod34Tool(t, "modinfo")
	}
	refused := 0
	for _, f := range []string{noSize, withSize} {
		for _, flag := range []string{"--show-exports", "--show-modversions"} {
			km, _ := mpCompareMasked(t, flag, f)
			refused += strings.Count(km.stderr, "Failed to determine decompression size")
		}
		for _, args := range [][]string{{f}, {"-F", "license", f}} {
			var km, g mpResult
			km.stdout, km.stderr, km.exit = runKmodBin(t, modinfo, "/", args...)
			g.stdout, g.stderr, g.exit = runGokmod(os.Getenv(compat.Env), "/", args...)
			refused += strings.Count(km.stderr, "Failed to determine decompression size")
			if km.stdout != g.stdout || km.exit != g.exit || !strings.HasPrefix(g.stderr, km.stderr) ||
				strings.Count(g.stderr, "\n")-strings.Count(km.stderr, "\n") != map[bool]int{true: 1, false: 0}[km.exit != 0] {
				t.Errorf("modinfo %s: kmod %+v, gokmod %+v", short(args), km, g)
			}
		}
	}
	if want := map[compat.Kmod]int{compat.Kmod30: 0, compat.Kmod34: 4}[kv]; refused != want {
		t.Fatalf("kmod %s refused %d times, want %d: the test would prove nothing", kv, refused, want)
	}
	testenv.Report(t, "kmod %s: modinfo and modprobe --show-exports/--show-modversions on llc.ko.zst with and without its content size identical (%d refusals)", kv, refused)
}

// safeKmodRun runs kmod's insmod or rmmod (bin) only on arguments that cannot reach a
// module system call: insmod on a file that does not exist (or none, or "-"), rmmod on
// names this machine has no /sys/module entry or file for, never with -f.
func safeKmodRun(t *testing.T, tool, bin string, args []string) mpResult {
	t.Helper()
	for _, a := range args {
		if a == "-f" || a == "--force" {
			t.Fatalf("refusing to run kmod's %s with %s", tool, a)
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		if _, err := os.Stat(a); err == nil {
			t.Fatalf("refusing to run kmod's %s on %s, which exists", tool, a)
		}
		if _, err := os.Stat("/sys/module/" + a); tool == "rmmod" && err == nil {
			t.Fatalf("refusing to run kmod's rmmod on %s, which is in /sys/module", a)
		}
	}
	return runGuarded(t, append([]string{bin}, args...)...)
}

// runGuarded runs argv under strace with init_module, finit_module and delete_module
// injected to fail with EPERM, so that a tool run on this machine cannot reach the
// kernel's module system calls, and fails the test if one was ever attempted (or strace,
// which scripts/setup.sh installs, left no trace).
func runGuarded(t *testing.T, argv ...string) mpResult {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "syscalls")
	r := runStripped(t, exec.Command("strace", append([]string{"-f", "-qq", "-e", "signal=none", "-o", trace,
		"-e", "trace=init_module,finit_module,delete_module",
		"-e", "inject=init_module,finit_module,delete_module:error=EPERM"}, argv...)...))
	if b, err := os.ReadFile(trace); err != nil {
		t.Fatalf("strace wrote no trace of %q: %v", argv, err)
	} else if len(bytes.TrimSpace(b)) > 0 {
		t.Fatalf("%q attempted a module system call (blocked with EPERM):\n%s", argv, b)
	}
	return r
}

// TestInsmodRmmodMessages compares insmod's and rmmod's messages on the paths that stop
// before any system call (a missing file or module name, no operand, stdin, options)
// with each kmod: kmod 34's -v, -s and -p of insmod and its -vv INFO lines, kmod 30's
// ignored -p and rmmod's unhandled -w, the context's INFO lines in both rmmods, and
// kmod 30's rmmod -vvvv DEBUG lines.
func TestInsmodRmmodMessages(t *testing.T) { forEachRelease(t, testInsmodRmmodMessages) }

func testInsmodRmmodMessages(t *testing.T, kv compat.Kmod) {
	missing := filepath.Join(t.TempDir(), "gokmod-missing.ko")
	gone := fmt.Sprintf("gokmod_nosuch_%d", os.Getpid())
	insmodRuns := [][]string{{missing}, {}, {"-"}, {missing, "a=1", "b=x y"}}
	rmmodRuns := [][]string{{gone}, {gone, gone + "2"}, {}, {"-vv", gone}, {"-vvv", gone}, {"-v", gone}, {"-w", gone}, {"-s", "-h"}, {"-h"},
		{"-vvvv", gone, strings.ReplaceAll(gone, "_", "-") + "2"}, {"-vvvvv", gone}}
	if kv == compat.Kmod30 {
		insmodRuns = append(insmodRuns, []string{"-p", missing}, []string{"-s", missing}, []string{"-p", "-s"})
	} else {
		insmodRuns = append(insmodRuns, []string{"-vv", missing}, []string{"-vvv", missing}, []string{"-v", missing},
			[]string{"-v", "-v", "-"}, []string{"--verbose", "-v"}, []string{"-p", missing})
	}
	infos, debugs, n := 0, 0, 0
	for _, c := range []struct {
		tool string
		runs [][]string
	}{{"insmod", insmodRuns}, {"rmmod", rmmodRuns}} {
		bin := "/usr/sbin/" + c.tool
		if kv == compat.Kmod34 {
			bin = testenv.Kmod34Tool(t, c.tool)
		}
		for _, args := range c.runs {
			k := safeKmodRun(t, c.tool, bin, args)
			var o, e bytes.Buffer
			code := Main(append([]string{c.tool}, args...), &o, &e, kmod.NewHost())
			g := mpResult{o.String(), maskPointers(e.String()), code}
			k.stderr = maskPointers(k.stderr)
			if k != g {
				t.Errorf("%s %q:\nkmod   %+v\ngokmod %+v", c.tool, args, k, g)
			}
			infos += strings.Count(k.stderr, ": INFO: ")
			debugs += strings.Count(k.stderr, ": DEBUG: ")
			n++
		}
	}
	if infos == 0 {
		t.Fatalf("kmod %s printed no INFO line: the test would prove nothing", kv)
	}
	// kmod 30's rmmod -vvvv prints libkmod's DEBUG lines (the pool, modules.builtin, the
	// initstate); its insmod has no -v; kmod 34.2 is built without them.
	if (kv == compat.Kmod30) != (debugs > 0) {
		t.Fatalf("kmod %s printed %d DEBUG lines", kv, debugs)
	}
	testenv.Report(t, "insmod and rmmod, kmod %s: %d runs that stop before any system call identical (pointers masked; %d INFO and %d DEBUG lines)", kv, n, infos, debugs)
}

// TestInstallCommandFails compares a probe whose install command fails (command_do's
// ERR(), then modprobe's line): kmod 30 prints libkmod's source location, kmod 34.2 does
// not; then the shell's own message, from sh as system(3) names it. An install command
// replaces the load, so neither side makes a module system call: both run under strace
// with those calls blocked, and a call attempted fails the test.
func TestInstallCommandFails(t *testing.T) { forEachRelease(t, testInstallCommandFails) }

func testInstallCommandFails(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	gokmodBin, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "install.conf")
	if err := os.WriteFile(conf, []byte("install dummy /bin/false\ninstall minix /nonexistent/gokmod-cmd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dummy", "minix"} {
		if _, err := os.Stat("/sys/module/" + name); err == nil {
			t.Fatalf("%s is in this machine's /sys/module: refusing to probe it here", name)
		}
		args := []string{"-C", conf, "-d", k.Root, "-S", k.Release, name}
		kr := runGuarded(t, append([]string{kmodModprobeFor(t)}, args...)...)
		// gokmod as a process of its own, as kmod's: the install command's shell writes
		// to the tool's stderr.
		gr := runGuarded(t, append([]string{gokmodBin, "modprobe"}, args...)...)
		if kr != gr {
			t.Errorf("modprobe %s, kmod %s: kmod exit %d\n%s\ngokmod exit %d\n%s", name, kv, kr.exit, kr.stderr, gr.exit, gr.stderr)
		}
		if !strings.Contains(kr.stderr, "install command") {
			t.Errorf("modprobe %s, kmod %s: no command_do message:\n%s", name, kv, kr.stderr)
		}
	}
	testenv.Report(t, "kmod %s: modprobe with a failing and a missing install command identical (stderr, exit)", kv)
}
