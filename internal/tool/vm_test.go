package tool_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gokmod/internal/testing/playground"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/ko"
)

// scenario is one real-kernel situation, played once with Debian's kmod and once with
// gokmod in the same guest, from the same starting state.
type scenario struct {
	name   string
	setup  []string // run with kmod's tools first; {T} is not expanded here
	action string   // {T} expands to the directory of the tool set under test
	// kmodAction replaces action for kmod when gokmod has an option kmod 30 lacks.
	kmodAction string
	uid        int // run the action as this user (0: root)
	exit       int // the exit status both must give
	// exit34, when set, replaces exit where the guest's kmod is 34.2 (a behaviour that
	// changed between the two releases).
	exit34 *int
	// gokmodSays lists text gokmod's stderr must contain: the kernel's real reason.
	gokmodSays []string
	// sameFirstLine: gokmod's first stderr line must equal kmod's.
	sameFirstLine bool
	// sameStderr: all of it must.
	sameStderr bool
	// sameConsole: what the action wrote to the guest's console must be the same, and
	// not empty (syslog's LOG_CONS fallback).
	sameConsole bool
}

// TestToolsAgainstKmod runs every scenario on every prepared kernel: same exit code, same
// resulting /proc/modules, byte-identical lsmod, and gokmod naming the real reason.
func TestToolsAgainstKmod(t *testing.T) {
	// Guests run beside each other, two at a time (-parallel is GOMAXPROCS): QEMU's TCG
	// keeps one core per guest busy, and the host tests, which change GOKMOD_KMOD in this
	// process, have finished before parallel tests resume.
	t.Parallel()
	for _, k := range testenv.RequireAllKernels(t) {
		t.Run(k.Release, func(t *testing.T) { runScenarios(t, k) })
	}
}

func runScenarios(t *testing.T, k testenv.Kernel) {
	pg := playground.MustBuild(t, k)
	files := guestFiles(t, k, pg)
	vm, err := vmtest.Boot(vmtest.Config{Kernel: k, Files: files, Modules: []string{"llc", "stp"}, Kmod: testenv.DistroKmod(k)})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	run := func(cmd string) *vmtest.Result {
		t.Helper()
		r, err := vm.Run(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	compressed := run("cat /sys/module/compression 2>/dev/null || echo none").Stdout
	t.Logf("%s: /sys/module/compression: %s", k.Release, strings.TrimSpace(compressed))

	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			type outcome struct {
				exit    int
				stderr  string
				modules string
				console string
			}
			var got [2]outcome
			for i, dir := range []string{vmtest.KmodDir, vmtest.GokmodDir} {
				reset(t, vm)
				for _, s := range sc.setup {
					if r := run(s); r.Exit != 0 {
						t.Fatalf("setup %q: exit %d: %s", s, r.Exit, r.Stderr)
					}
				}
				action := sc.action
				if i == 0 && sc.kmodAction != "" {
					action = sc.kmodAction
				}
				action = strings.ReplaceAll(action, "{T}", dir)
				before := len(vm.Console())
				r, err := vm.RunAs(sc.uid, sc.uid, action)
				if err != nil {
					t.Fatal(err)
				}
				got[i] = outcome{r.Exit, r.Stderr, procModules(run("cat /proc/modules").Stdout), ""}
				if sc.sameConsole {
					got[i].console = consoleSince(t, vm, run, before)
				}
				lk, lg := run(vmtest.KmodDir+"/lsmod").Stdout, run(vmtest.GokmodDir+"/lsmod").Stdout
				if lk != lg {
					t.Errorf("lsmod differs after %q:\nkmod:\n%s\ngokmod:\n%s", action, lk, lg)
				}
			}
			kmod, gok := got[0], got[1]
			t.Logf("kmod: exit %d\n%s", kmod.exit, kmod.stderr)
			t.Logf("gokmod: exit %d\n%s", gok.exit, gok.stderr)
			want := sc.exit
			if sc.exit34 != nil && testenv.DistroKmod(k) == "34.2" {
				want = *sc.exit34
			}
			if kmod.exit != want || gok.exit != want {
				t.Errorf("exit: kmod %d, gokmod %d, want %d\nkmod stderr: %s\ngokmod stderr: %s", kmod.exit, gok.exit, want, kmod.stderr, gok.stderr)
			}
			if kmod.modules != gok.modules {
				t.Errorf("/proc/modules differs:\nkmod:\n%s\ngokmod:\n%s", kmod.modules, gok.modules)
			}
			if sc.sameFirstLine && firstLine(kmod.stderr) != firstLine(gok.stderr) {
				t.Errorf("first line differs:\nkmod:   %q\ngokmod: %q", firstLine(kmod.stderr), firstLine(gok.stderr))
			}
			if sc.sameConsole {
				t.Logf("console: kmod %q, gokmod %q", kmod.console, gok.console)
			}
			if sc.sameConsole && (kmod.console != gok.console || kmod.console == "") {
				t.Errorf("console output differs or is empty:\nkmod:   %q\ngokmod: %q", kmod.console, gok.console)
			}
			if sc.sameStderr && kmod.stderr != gok.stderr {
				t.Errorf("stderr differs:\nkmod:   %q\ngokmod: %q", kmod.stderr, gok.stderr)
			}
			for _, s := range sc.gokmodSays {
				if !strings.Contains(gok.stderr, s) {
					t.Errorf("gokmod stderr lacks %q:\n%s", s, gok.stderr)
				}
			}
			if strings.Contains(gok.stderr, "panic") || strings.Contains(gok.stderr, "goroutine") {
				t.Errorf("gokmod crashed:\n%s", gok.stderr)
			}
		})
	}
	reset(t, vm)
	if !t.Failed() {
		testenv.Report(t, "%d insmod/rmmod/lsmod scenarios: gokmod and kmod %s agree in the %s guest", len(scenarios()), testenv.DistroKmod(k), k.Release)
	}
}

func scenarios() []scenario {
	return []scenario{
		{name: "no-deps", action: "{T}/insmod minix.ko", exit: 0},
		{name: "dependency-chain", action: "{T}/insmod llc.ko && {T}/insmod stp.ko", exit: 0},
		{name: "missing-dependency", action: "{T}/insmod stp.ko", exit: 1, sameFirstLine: true,
			gokmodSays: []string{"kernel: stp: Unknown symbol llc_sap_open (err -2)", "exported by module llc"}},
		{name: "truncated", action: "{T}/insmod truncated.ko", exit: 1, sameFirstLine: true,
			gokmodSays: []string{"kernel: "}},
		{name: "garbage", action: "{T}/insmod garbage.ko", exit: 1, sameFirstLine: true},
		{name: "missing-file", action: "{T}/insmod nosuch.ko", exit: 1, sameFirstLine: true},
		{name: "directory", action: "{T}/insmod /tmp", exit: 1, sameFirstLine: true},
		{name: "empty-file", action: "{T}/insmod empty.ko", exit: 1, gokmodSays: []string{"empty.ko", "too short"}},
		{name: "duplicate", setup: []string{"/sbin/insmod minix.ko"}, action: "{T}/insmod minix.ko", exit: 1, sameFirstLine: true,
			gokmodSays: []string{"already loaded"}},
		{name: "rmmod-in-use", setup: []string{"/sbin/insmod llc.ko", "/sbin/insmod stp.ko"}, action: "{T}/rmmod llc", exit: 1, sameFirstLine: true},
		{name: "rmmod-ok", setup: []string{"/sbin/insmod llc.ko", "/sbin/insmod stp.ko"}, action: "{T}/rmmod stp llc", exit: 0},
		{name: "rmmod-by-path", setup: []string{"/sbin/insmod minix.ko"}, action: "{T}/rmmod ./minix.ko", exit: 0},
		{name: "rmmod-force-in-use", setup: []string{"/sbin/insmod llc.ko", "/sbin/insmod stp.ko"}, action: "{T}/rmmod -f llc", exit: 1, sameFirstLine: true},
		{name: "rmmod-force", setup: []string{"/sbin/insmod minix.ko"}, action: "{T}/rmmod -f minix", exit: 0},
		{name: "rmmod-unknown", action: "{T}/rmmod nosuchmod", exit: 1, sameFirstLine: true},
		{name: "rmmod-force-unknown", action: "{T}/rmmod -f nosuchmod", exit: 1, sameFirstLine: true},
		// -s: the guest has no /dev/log, so both send their ERROR line to the console;
		// the holder list kmod prints with fprintf is all that stays on stderr.
		{name: "rmmod-in-use-syslog", setup: []string{"/sbin/insmod llc.ko", "/sbin/insmod stp.ko"}, action: "{T}/rmmod -s llc", exit: 1, sameStderr: true, sameConsole: true},
		{name: "rmmod-unknown-syslog", action: "{T}/rmmod -s nosuchmod", exit: 1, sameStderr: true, sameConsole: true},
		{name: "bad-param-value", action: "{T}/insmod pg_hello.ko count=abc", exit: 1, sameFirstLine: true,
			gokmodSays: []string{"kernel: pg_hello: `abc' invalid for parameter `count'"}},
		{name: "unknown-param", action: "{T}/insmod pg_hello.ko bogus=1", exit: 0},
		{name: "params", action: "{T}/insmod pg_hello.ko count=3 verbose=1 name=x values=1,2,3", exit: 0},
		{name: "init-fails", action: "{T}/insmod pg_enodev.ko", exit: 1, sameFirstLine: true},
		{name: "xz", action: "{T}/insmod minix.ko.xz", exit: 0},
		{name: "zstd", action: "{T}/insmod minix.ko.zst", exit: 0},
		// kmod 34 decompresses into a buffer the frame's content size sizes, and refuses
		// a frame without one (zstd writing to a pipe); kmod 30 streams it.
		{name: "zstd-no-content-size", action: "{T}/insmod minix-nosize.ko.zst", exit: 0, exit34: ptr(1), sameFirstLine: true},
		// The same file found by modprobe: kmod 34's depmod leaves such a file out of
		// modules.dep, so the tree is indexed as kmod 30 would (gokmod's depmod as 30),
		// and the tree is put back after the action.
		{name: "modprobe-zstd-no-content-size",
			setup:  []string{"d=/lib/modules/$(uname -r) && mkdir -p $d/extra && cp minix-nosize.ko.zst $d/extra/minixz.ko.zst && GOKMOD_KMOD=30 " + vmtest.GokmodDir + "/depmod -a"},
			action: "{T}/modprobe minixz; rc=$?; rm -r /lib/modules/$(uname -r)/extra; /sbin/depmod -a; exit $rc",
			exit:   0, exit34: ptr(1), sameStderr: true},
		{name: "vermagic-mismatch", action: "{T}/insmod badmagic.ko", exit: 1, sameFirstLine: true,
			gokmodSays: []string{"version magic"}},
		{name: "vermagic-force", action: "{T}/insmod -f badmagic.ko", exit: 0},
		{name: "vermagic-force-vermagic-only", action: "{T}/insmod --force-vermagic badmagic.ko", kmodAction: "{T}/insmod -f badmagic.ko", exit: 0},
		{name: "vermagic-force-xz", action: "{T}/insmod -f badmagic.ko.xz", exit: 0},
		{name: "vermagic-force-modversion-only", action: "{T}/insmod --force-modversion badmagic.ko", kmodAction: "{T}/insmod badmagic.ko", exit: 1, sameFirstLine: true},
		{name: "non-root", action: "{T}/insmod minix.ko", uid: 65534, exit: 1, sameFirstLine: true,
			gokmodSays: []string{"CAP_SYS_MODULE"}},
		{name: "lsmod-holders", setup: []string{"/sbin/insmod llc.ko", "/sbin/insmod stp.ko", "/sbin/insmod pg_exporter.ko",
			"/sbin/insmod pg_use_plain.ko", "/sbin/insmod pg_use_gpl.ko", "/sbin/insmod pg_use_ns.ko"}, action: "{T}/lsmod", exit: 0},
	}
}

// guestFiles prepares the modules the scenarios use: in-tree ones (decompressed when the
// tree ships .ko.xz), their xz and zstd forms, broken files and a vermagic-edited module.
func guestFiles(t *testing.T, k testenv.Kernel, pg *playground.Set) []vmtest.File {
	t.Helper()
	dir := t.TempDir()
	var files []vmtest.File
	add := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, vmtest.File{Guest: name, Host: p})
	}
	intree := func(rel string) []byte {
		for _, ext := range []string{"", ".xz", ".zst", ".gz"} {
			b, err := os.ReadFile(filepath.Join(k.ModDir(), rel+ext))
			if err != nil {
				continue
			}
			if ext != "" {
				if b, _, err = ko.Decompress(b); err != nil {
					t.Fatalf("%s: %v", rel+ext, err)
				}
			}
			return b
		}
		t.Fatalf("%s: not in %s", rel, k.ModDir())
		return nil
	}
	minix := intree("kernel/fs/minix/minix.ko")
	add("minix.ko", minix)
	add("llc.ko", intree("kernel/net/llc/llc.ko"))
	add("stp.ko", intree("kernel/net/802/stp.ko"))
	add("truncated.ko", minix[:len(minix)/2])
	add("garbage.ko", bytes.Repeat([]byte("not a module\n"), 100))
	add("empty.ko", nil)
	add("minix.ko.xz", compress(t, minix, "xz", "-C", "crc32", "-c"))
	// As kbuild's: the frame records the content size (zstd knows it for a file; from
	// a pipe it is told with --stream-size).
	add("minix.ko.zst", compress(t, minix, "zstd", "-q", "-c", fmt.Sprintf("--stream-size=%d", len(minix))))
	add("minix-nosize.ko.zst", compress(t, minix, "zstd", "-q", "-c"))
	for _, m := range []string{"pg_hello", "pg_enodev", "pg_exporter", "pg_use_plain", "pg_use_gpl", "pg_use_ns"} {
		b, err := os.ReadFile(pg.Path(m))
		if err != nil {
			t.Fatal(err)
		}
		add(m+".ko", b)
	}
	nodeps, err := os.ReadFile(pg.Path("pg_nodeps"))
	if err != nil {
		t.Fatal(err)
	}
	// The kernel compares vermagic after the release when modversions are on (same_magic),
	// so the edit must touch a later word to be noticed (mod_unload: every line has it).
	bad := bytes.Replace(nodeps, []byte(" mod_unload "), []byte(" mod_unlaoX "), 1)
	if bytes.Equal(bad, nodeps) {
		t.Fatal("pg_nodeps.ko: vermagic not found")
	}
	add("badmagic.ko", bad)
	add("badmagic.ko.xz", compress(t, bad, "xz", "-C", "crc32", "-c"))
	return files
}

func compress(t *testing.T, data []byte, tool string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out
}

// reset unloads every module, holders first, so each run starts from an empty list.
func reset(t *testing.T, vm *vmtest.VM) {
	t.Helper()
	for i := 0; i < 8; i++ {
		r, err := vm.Run(`m=$(cut -d' ' -f1 /proc/modules); [ -z "$m" ] && exit 0; for x in $m; do /sbin/rmmod -f $x 2>/dev/null; done; exit 1`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Exit == 0 {
			return
		}
	}
	r, _ := vm.Run("cat /proc/modules")
	t.Fatalf("could not unload every module:\n%s", r.Stdout)
}

var addrRe = regexp.MustCompile(` 0x[0-9a-f]+`)

// procModules drops the load addresses, which differ between two loads of one module.
func procModules(s string) string { return addrRe.ReplaceAllString(s, "") }

// consoleSince returns what the guest wrote to its console after offset from, up to a
// marker echoed there now: the serial port drains after the command returns, and the
// marker, written behind everything before it, says when all of it has arrived.
func consoleSince(t *testing.T, vm *vmtest.VM, run func(string) *vmtest.Result, from int) string {
	t.Helper()
	mark := fmt.Sprintf("gokmod-console-mark-%d", time.Now().UnixNano())
	run("echo " + mark + " > /dev/console")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c := vm.Console()
		if i := strings.Index(c[from:], mark); i >= 0 {
			return c[from : from+i]
		}
	}
	t.Fatalf("marker %s did not reach the guest's console in 10 s", mark)
	return ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func ptr[T any](v T) *T { return &v }
