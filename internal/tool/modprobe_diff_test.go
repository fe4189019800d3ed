package tool

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/kmod/config"
)

// The live differential tests of modprobe: kmod's modprobe run on this host with
// read-only flags only (-D/--show-depends, -R, -c, -n) and -d/-S pointing at an unpacked
// tree, against gokmod's modprobe in-process. stdout, stderr and the exit status must be
// identical. Each test runs once per kmod release (forEachRelease): Debian 12's kmod 30
// with GOKMOD_KMOD=30, and kmod 34.2 with GOKMOD_KMOD unset (the default behaviour).

const kmodModprobe = "/usr/sbin/modprobe"

// forEachRelease runs f as a subtest per kmod release, with GOKMOD_KMOD set as gokmod
// must be to behave as it; mpKmod then runs that release's modprobe.
func forEachRelease(t *testing.T, f func(t *testing.T, k compat.Kmod)) {
	for _, k := range []compat.Kmod{compat.Kmod30, compat.Kmod34} {
		t.Run("kmod"+k.String(), func(t *testing.T) {
			if k == compat.Kmod30 {
				t.Setenv(compat.Env, "30")
			} else {
				t.Setenv(compat.Env, "") // the default: kmod 34.2
			}
			f(t, k)
		})
	}
}

// kmodModprobeFor is the modprobe of the release GOKMOD_KMOD selects (kmod 34.2 when
// unset): the one gokmod in this process behaves as.
func kmodModprobeFor(t *testing.T) string {
	t.Helper()
	k, err := compat.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if k == compat.Kmod30 {
		return kmodModprobe
	}
	return testenv.Kmod34Tool(t, "modprobe")
}

type mpResult struct {
	stdout, stderr string
	exit           int
}

// readOnlyFlag reports whether args keep kmod's modprobe from touching the kernel.
func readOnlyFlag(args []string) bool {
	for _, a := range args {
		switch a {
		case "-D", "--show-depends", "-R", "--resolve-alias", "-c", "--showconfig", "-n", "--dry-run",
			"--show-exports", "--dump-modversions", "--show-modversions":
			return true
		}
	}
	return false
}

func mpKmod(t *testing.T, args ...string) mpResult {
	t.Helper()
	if !readOnlyFlag(args) {
		t.Fatalf("refusing to run kmod's modprobe without a read-only flag: %q", args)
	}
	return runStripped(t, exec.Command(kmodModprobeFor(t), args...))
}

// runStripped runs cmd without $MODPROBE_OPTIONS (the caller's would add options to
// every modprobe run) and returns its streams and exit status.
func runStripped(t *testing.T, cmd *exec.Cmd) mpResult {
	t.Helper()
	for _, v := range os.Environ() {
		if !strings.HasPrefix(v, "MODPROBE_OPTIONS=") {
			cmd.Env = append(cmd.Env, v)
		}
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	return mpResult{o.String(), e.String(), code}
}

func mpGokmod(args ...string) mpResult {
	var o, e bytes.Buffer
	code := Main(append([]string{"modprobe"}, args...), &o, &e, kmod.NewHost())
	return mpResult{o.String(), e.String(), code}
}

// mpCompare runs both and reports differences; it returns whether they agreed.
func mpCompare(t *testing.T, args ...string) bool {
	t.Helper()
	k, g := mpKmod(t, args...), mpGokmod(args...)
	ok := true
	if k.stdout != g.stdout {
		t.Errorf("modprobe %s: stdout differs at %s", short(args), firstDiff(k.stdout, g.stdout))
		ok = false
	}
	if k.stderr != g.stderr {
		t.Errorf("modprobe %s: stderr differs at %s", short(args), firstDiff(k.stderr, g.stderr))
		ok = false
	}
	if k.exit != g.exit {
		t.Errorf("modprobe %s: exit kmod %d, gokmod %d", short(args), k.exit, g.exit)
		ok = false
	}
	return ok
}

// concreteAlias turns an fnmatch pattern from modules.alias into a string it matches:
// '*' becomes "Z", '?' becomes 'Z', a bracket expression its first member (or, negated,
// a character outside it).
func concreteAlias(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*', '?':
			b.WriteByte('Z')
		case '[':
			j := i + 1
			neg := j < len(p) && (p[j] == '!' || p[j] == '^')
			if neg {
				j++
			}
			end := strings.IndexByte(p[j+1:], ']')
			if end < 0 {
				b.WriteByte(c)
				continue
			}
			set := p[j : j+1+end]
			if neg {
				for _, cand := range []byte("Z0aA_") {
					if !strings.ContainsRune(set, rune(cand)) {
						b.WriteByte(cand)
						break
					}
				}
			} else {
				b.WriteByte(set[0])
			}
			i = j + end + 1
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func readLinesOf(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// batches runs `modprobe -a FLAGS names...` in batches on both sides; when a batch
// differs it is split until the differing names are found. It returns the number of
// names compared.
func batches(t *testing.T, flags []string, names []string, size int) int {
	t.Helper()
	failures := 0
	var run func(names []string)
	run = func(names []string) {
		if failures > 10 {
			return
		}
		args := append(append([]string{"-a"}, flags...), names...)
		k, g := mpKmod(t, args...), mpGokmod(args...)
		if k == g {
			return
		}
		if len(names) == 1 {
			failures++
			mpCompare(t, append(flags, names...)...)
			return
		}
		run(names[:len(names)/2])
		run(names[len(names)/2:])
	}
	for i := 0; i < len(names); i += size {
		run(names[i:min(i+size, len(names))])
	}
	return len(names)
}

// TestModprobeShowDependsTree compares `modprobe --show-depends` on every module name of
// the 6.1 tree (and the dashed file names), every built-in module, a modalias string
// made from every pattern of modules.alias, and every exported symbol of
// modules.symbols.
func TestModprobeShowDependsTree(t *testing.T) { forEachRelease(t, testModprobeShowDependsTree) }

// Every prepared tree: the 6.1 tree with every name, alias and built-in of the lists
// below, the others with every fourth (the code paths are the same; the trees' names
// and compression differ).
func testModprobeShowDependsTree(t *testing.T, kv compat.Kmod) {
	testenv.RequireLine(t, "6.1")
	for _, k := range testenv.RequireAllKernels(t) {
		step := 4
		if k.Version().Line() == "6.1" {
			step = 1
		}
		failed := t.Failed()
		counts := modprobeShowDependsTree(t, kv, k, step)
		if !failed && !t.Failed() {
			testenv.Matrix(t, k.Release, kv.String(), "modprobe --show-depends", counts)
		}
	}
}

func modprobeShowDependsTree(t *testing.T, kv compat.Kmod, k testenv.Kernel, step int) string {
	dir := k.ModDir()
	flags := []string{"-d", k.Root, "-S", k.Release, "--show-depends"}
	var names, dashed []string
	for _, l := range readLinesOf(t, filepath.Join(dir, "modules.dep")) {
		p, _, _ := strings.Cut(l, ":")
		base := filepath.Base(p)
		names = append(names, config.PathToModname(p))
		if f := strings.SplitN(base, ".", 2)[0]; strings.Contains(f, "-") {
			dashed = append(dashed, f)
		}
	}
	var builtins []string
	for _, l := range readLinesOf(t, filepath.Join(dir, "modules.builtin")) {
		builtins = append(builtins, config.PathToModname(l))
	}
	seen := map[string]bool{}
	var aliases []string
	for _, l := range readLinesOf(t, filepath.Join(dir, "modules.alias")) {
		rest, ok := strings.CutPrefix(l, "alias ")
		if !ok {
			continue
		}
		pat := rest[:strings.LastIndexByte(rest, ' ')]
		if a := concreteAlias(pat); !seen[a] && !strings.HasPrefix(a, "-") {
			seen[a] = true
			aliases = append(aliases, a)
		}
	}
	var symbols []string
	for _, l := range readLinesOf(t, filepath.Join(dir, "modules.symbols")) {
		if rest, ok := strings.CutPrefix(l, "alias "); ok {
			symbols = append(symbols, rest[:strings.IndexByte(rest, ' ')])
		}
	}
	sort.Strings(aliases)
	counts := []string{}
	for _, c := range []struct {
		what  string
		names []string
		size  int
	}{
		{"module names", names, 400},
		{"dashed file names", dashed, 400},
		{"built-in modules", builtins, 400},
		{"modalias strings", aliases, 400},
		{"symbols", everyNth(symbols, 10), 400},
		{"missing names", []string{"nosuchmodule", "pci:v0000FFFFd0000FFFFsv0sd0bc0sc0i0", "[bad", "a]b", "symbol:nosuch"}, 5},
	} {
		if c.size > 5 {
			c.names = everyNth(c.names, step)
		}
		n := batches(t, flags, c.names, c.size)
		counts = append(counts, fmt.Sprintf("%d %s", n, c.what))
	}
	// One name per process too, for the exit status and FATAL message of a miss and a
	// sample of single runs (no -a).
	singles := []string{"btrfs", "nvme", "snd-hda-intel", "e1000e", "cifs", "loop", "unix", "vfio", "ipmi_msghandler",
		"nosuchmodule", "usb-storage", aliases[len(aliases)/2], "symbol:llc_sap_open", "[bad"}
	for _, n := range singles {
		mpCompare(t, append(flags, n)...)
	}
	testenv.Report(t, "modprobe --show-depends identical to kmod %s (stdout, stderr, exit) on %s (%s), and %d single runs",
		kv, k.Release, strings.Join(counts, ", "), len(singles))
	return fmt.Sprintf("%d names", total(counts)+len(singles))
}

// total adds the leading numbers of "N what" counts.
func total(counts []string) int {
	n := 0
	for _, c := range counts {
		var x int
		fmt.Sscan(c, &x)
		n += x
	}
	return n
}

func everyNth(s []string, n int) []string {
	var out []string
	for i := 0; i < len(s); i += n {
		out = append(out, s[i])
	}
	return out
}

// TestModprobeResolveAndDryRun compares -R on module names and aliases, and -n -v on
// modules (no -D: modprobe probes /sys/module, where this host has no modules loaded).
func TestModprobeResolveAndDryRun(t *testing.T) { forEachRelease(t, testModprobeResolveAndDryRun) }

func testModprobeResolveAndDryRun(t *testing.T, kv compat.Kmod) {
	for _, k := range testenv.RequireAllKernels(t) {
		failed := t.Failed()
		n, m := modprobeResolveAndDryRun(t, kv, k)
		if !failed && !t.Failed() {
			testenv.Matrix(t, k.Release, kv.String(), "modprobe -R/-n -v", fmt.Sprintf("%d+%d", n, m))
		}
	}
}

func modprobeResolveAndDryRun(t *testing.T, kv compat.Kmod, k testenv.Kernel) (int, int) {
	dir := k.ModDir()
	var aliases []string
	for i, l := range readLinesOf(t, filepath.Join(dir, "modules.alias")) {
		if rest, ok := strings.CutPrefix(l, "alias "); ok && i%7 == 0 {
			aliases = append(aliases, concreteAlias(rest[:strings.LastIndexByte(rest, ' ')]))
		}
	}
	base := []string{"-d", k.Root, "-S", k.Release}
	n := batches(t, append(base, "-R"), aliases, 500)
	m := batches(t, append(base, "-n", "-v"), []string{"btrfs", "nvme", "snd-hda-intel", "e1000e", "cifs", "xfs", "ext4", "unix", "kvm-amd"}, 9)
	testenv.Report(t, "modprobe, kmod %s, %s: -R identical on %d modalias strings, -n -v on %d modules", kv, k.Release, n, m)
	return n, m
}

// TestModprobeWaitValues compares -w's parsing (glibc's strtoul(s, &end, 0), then kmod's
// "!*s || *end" check, an ERR() that -q does not hide) with kmod 30 on dry runs.
func TestModprobeWaitValues(t *testing.T) { forEachRelease(t, testModprobeWaitValues) }

func testModprobeWaitValues(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	values := []string{"0", "10", "0x10", "010", "08", "0x", "0xg", " 5", "\t5", "+5", "-1", "5 ", "1_0", "0b1",
		"", "x", "99999999999999999999999", "-99999999999999999999999", "1e3", "0X1f",
		"0b", "0B101", "0b2", "-0b11", " 0b1", "0b1x"}
	for _, v := range values {
		for _, q := range [][]string{nil, {"-q"}} {
			args := append(append([]string{"-r", "-n"}, q...), "-w", v, "-d", k.Root, "-S", k.Release, "gokmod-no-such-module")
			mpCompare(t, args...)
		}
	}
	testenv.Report(t, "modprobe -w: %d values, with and without -q, identical to kmod %s", len(values), kv)
}

// mpConfig is a modprobe.d exercising every command kmod 30 parses, the ones it rejects
// and its file ordering rules.
var mpConfig = map[string]string{
	"10-main.conf": "# comment\n" +
		"alias mymod-alias e1000e\nalias pci:v0000ABCDd* snd-hda-intel\nalias tab-alias\tloop\nalias multi e1000e\nalias multi loop\n" +
		"alias blk-alias pcspkr\n" +
		"blacklist pcspkr\nblacklist e1000e\n" +
		"options e1000e IntMode=1,1 debug=3\noptions e1000e\tcopybreak=64\noptions mymod-alias foo=bar\noptions loop max_loop=8\n" +
		"install loop /bin/echo custom-install-loop $CMDLINE_OPTS\ninstall crc64 /bin/echo custom-install-crc64\n" +
		"install btrfs /bin/echo ignored-because-softdep\n" +
		"remove loop /bin/echo custom-remove\n" +
		"softdep btrfs pre: crc32c-intel post: xor\nsoftdep nvme pre: loop post: nosuchmod\nsoftdep cifs \n" +
		"softdep xfs pre: \\\n  libcrc32c\n" +
		"weakdep foo bar\ninclude /etc/foo\nconfig x\nbadcommand x\nalias onlyone\noptions\nalias bad[ x\n",
	"00-first.conf": "softdep nvme pre: e1000e\noptions snd-hda-intel model=first\n",
	"zz-last.alias": "alias last-alias xfs\n",
	".hidden.conf":  "alias hidden loop\n",
	"short":         "alias short loop\n",
	"sub.conf/x":    "alias sub loop\n",
}

// TestModprobeConfigCommands compares -c, -R and -D under a -C directory that uses every
// command, against kmod 30.
func TestModprobeConfigCommands(t *testing.T) { forEachRelease(t, testModprobeConfigCommands) }

func testModprobeConfigCommands(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	conf := t.TempDir()
	for name, body := range mpConfig {
		p := filepath.Join(conf, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{"-C", conf, "-d", k.Root, "-S", k.Release}
	runs := [][]string{
		{"-c"},
		{"-R", "mymod-alias"}, {"-R", "pci:v0000ABCDd00001234sv0sd0bc0sc0i0"}, {"-R", "tab-alias"}, {"-R", "multi"},
		{"-R", "e1000e"}, {"-R", "pcspkr"}, {"-R", "last-alias"}, {"-R", "hidden"}, {"-R", "sub"}, {"-R", "onlyone"},
		{"-R", "nosuch"}, {"-R", "symbol:llc_sap_open"},
		{"-D", "loop"}, {"-D", "loop", "extra=1", "spaced=a b"}, {"-i", "-D", "loop"}, {"-D", "nvme"}, {"-D", "btrfs"},
		{"-D", "cifs"}, {"-D", "xfs"}, {"-D", "mymod-alias"}, {"-D", "multi"}, {"-D", "blk-alias"}, {"-D", "e1000e"},
		{"-b", "-D", "e1000e"}, {"-b", "-D", "mymod-alias"}, {"-D", "pci:v0000ABCDd00001234sv0sd0bc0sc0i0"},
		{"-D", "tab-alias", "a=1"}, {"-D", "last-alias"}, {"-n", "-v", "loop"}, {"-n", "-v", "nvme"}, {"-n", "-v", "-i", "nvme"},
		{"-q", "-D", "nosuch"}, {"-D", "nosuch"}, {"-a", "-D", "nosuch", "loop"}, {"-D"}, {"-n", "-r", "loop"},
		{"-n", "-r", "-v", "loop"}, {"-n", "-r", "-v", "-i", "loop"}, {"-D", "-r", "btrfs"},
		{"-D", "--first-time", "loop"}, {"-D", "-f", "e1000e"},
	}
	for _, r := range runs {
		mpCompare(t, append(append([]string{}, base...), r...)...)
	}
	// Without -C: the host's own modprobe.d (Debian's aliases.conf softdeps and blacklist).
	for _, r := range [][]string{{"-c"}, {"-D", "uhci-hcd"}, {"-R", "char-major-10-229"}} {
		mpCompare(t, append([]string{"-d", k.Root, "-S", k.Release}, r...)...)
	}
	testenv.Report(t, "modprobe, kmod %s, %s: %d -C runs (weakdep and .alias files included) and 3 default-configuration runs identical", kv, k.Release, len(runs))
}

// TestModprobeWeakdep compares -c, -D and -n -v on a tree whose modules.weakdep (as kmod
// 34's depmod writes it) and modprobe.d both hold weakdep lines: kmod 34 shows them with
// -c and loads nothing for them; kmod 30 reads neither (and rejects the modprobe.d line).
func TestModprobeWeakdep(t *testing.T) { forEachRelease(t, modprobeWeakdep) }

func modprobeWeakdep(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	root := t.TempDir()
	dir := filepath.Join(root, "lib/modules", k.Release)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(k.ModDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents { // the tree's modules and indexes, linked
		if err := os.Symlink(filepath.Join(k.ModDir(), e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(dir, "modules.weakdep"))
	weak := "# Weak dependencies extracted from modules themselves.\nweakdep btrfs loop\nweakdep e1000e nvme xfs\n"
	if err := os.WriteFile(filepath.Join(dir, "modules.weakdep"), []byte(weak), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "weak.conf")
	if err := os.WriteFile(conf, []byte("weakdep loop crc64 \tdummy\nweakdep nvme-core\nsoftdep loop pre: crc32c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"-C", conf, "-d", root, "-S", k.Release}
	runs := [][]string{{"-c"}, {"-D", "btrfs"}, {"-D", "loop"}, {"-n", "-v", "e1000e"}, {"-R", "btrfs"}, {"-n", "-v", "-i", "loop"}}
	for _, r := range runs {
		mpCompare(t, append(append([]string{}, base...), r...)...)
	}
	if out := mpKmod(t, append(base, "-c")...).stdout; (kv == compat.Kmod34) != strings.Contains(out, "weakdep btrfs loop\n") {
		t.Errorf("kmod %s -c: weakdep lines shown %v; the test would prove nothing", kv, !(kv == compat.Kmod34))
	}
	testenv.Report(t, "modprobe, kmod %s, %s with modules.weakdep and a modprobe.d weakdep: %d runs (-c, -D, -n -v, -R) identical", kv, k.Release, len(runs))
}
