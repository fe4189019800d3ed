package tool

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod"
)

// TestExplainInsmodPath: explain answers for gokmod insmod by default — the kernel gets
// a compressed file only if it decompresses that algorithm (the target's configuration;
// the host's /sys/module/compression), else insmod decompresses and calls init_module;
// finit_module's ENOSYS falls back to init_module — and --syscall for one raw call.
func TestExplainInsmodPath(t *testing.T) {
	ks := testenv.RequireLines(t, "6.1", "6.12")
	k61, k612 := ks[0], ks[1]
	plain61, err := os.ReadFile(inTreeFile(t, k61.ModDir(), "minix"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	xz61 := filepath.Join(dir, "minix.ko.xz")
	os.WriteFile(xz61, compressWith(t, plain61, "xz", "-C", "crc32", "-c"), 0o644)
	bad := filepath.Join(dir, "bad.ko.xz")
	os.WriteFile(bad, []byte("\xfd7zXZ\x00garbage garbage"), 0o644)
	xz612 := inTreeFile(t, k612.ModDir(), "minix")
	plain612 := filepath.Join(dir, "612", "minix.ko")
	zst612 := filepath.Join(dir, "612", "minix.ko.zst")
	if out, err := exec.Command("xz", "-dc", xz612).Output(); err != nil {
		t.Fatal(err)
	} else {
		os.MkdirAll(filepath.Dir(plain612), 0o755)
		os.WriteFile(plain612, out, 0o644)
		os.WriteFile(zst612, compressWith(t, out, "zstd", "-q", "-c"), 0o644)
	}

	// A host running the 6.12 kernel: /sys/module/compression decides, not the config.
	host := t.TempDir()
	testenv.InstallInto(t, host, k612, testenv.DebugVmlinux)
	fakeHost(t, host, k612.Release, capAll, false)
	hostXZ := t.TempDir()
	testenv.InstallInto(t, hostXZ, k612, testenv.DebugVmlinux)
	fakeHost(t, hostXZ, k612.Release, capAll, false)
	testenv.WriteFiles(t, hostXZ, map[string]string{"sys/module/compression": "xz\n"})
	// A host without CONFIG_MODULES.
	nomods := t.TempDir()
	fakeRelease(t, nomods, k61, "6.1.0-99-nomods", func(c string) string { return noModules.ReplaceAllString(c, "# CONFIG_MODULES is not set") })
	fakeHost(t, nomods, "6.1.0-99-nomods", capAll, false)

	for _, tt := range []struct {
		name, root string
		args       []string
		result     string
		insmod     []string // the insmod steps, in order
	}{
		{"6.1 .ko", "", []string{"--kernel", k61.Root, filepath.Join(k61.ModDir(), "kernel/fs/minix/minix.ko")}, "ok",
			[]string{"finit_module(" + strconv.Itoa(len(plain61)) + " bytes, flags 0x0)"}},
		{"6.1 .ko.xz", "", []string{"--kernel", k61.Root, xz61}, "ok",
			[]string{"xz-compressed, and the kernel does not decompress it (no CONFIG_MODULE_DECOMPRESS): decompressed in user space, init_module(" + strconv.Itoa(len(plain61)) + " bytes)"}},
		// insmod -f on the init_module path strips __versions and vermagic from a signed
		// image, and init_module (flags 0) checks the signature: rejected.
		{"6.1 .ko.xz -f", "", []string{"--kernel", k61.Root, "-f", xz61}, "EKEYREJECTED",
			[]string{"decompressed in user space, init_module("}},
		{"6.1 .ko.xz raw finit", "", []string{"--kernel", k61.Root, "--syscall", "finit", xz61}, "ENOTSUP", nil},
		{"6.1 .ko.xz raw init", "", []string{"--kernel", k61.Root, "--syscall", "init", xz61}, "ENOEXEC", nil},
		{"6.1 corrupt .ko.xz", "", []string{"--kernel", k61.Root, bad}, "ENOEXEC", []string{"xz"}},
		{"6.12 .ko.xz", "", []string{"--kernel", k612.Root, xz612}, "ok",
			[]string{"xz-compressed, and the kernel decompresses it (CONFIG_MODULE_DECOMPRESS: xz): finit_module("}},
		{"6.12 .ko.zst", "", []string{"--kernel", k612.Root, zst612}, "ok",
			[]string{"zstd-compressed, and the kernel does not decompress it (CONFIG_MODULE_DECOMPRESS: xz): decompressed in user space, init_module("}},
		{"6.12 host, no /sys/module/compression", host, []string{xz612}, "ok",
			[]string{"xz-compressed, and the kernel does not decompress it (/sys/module/compression): decompressed in user space, init_module("}},
		{"6.12 host, compression xz", hostXZ, []string{xz612}, "ok",
			[]string{"xz-compressed, and the kernel decompresses it (/sys/module/compression): finit_module("}},
		{"no CONFIG_MODULES", nomods, []string{plain612}, "ENOSYS",
			[]string{"finit_module(", "finit_module is ENOSYS: falling back to init_module("}},
	} {
		x, stderr, _ := explainJSON(t, tt.root, tt.args...)
		if x == nil {
			t.Errorf("%s: %s", tt.name, stderr)
			continue
		}
		var steps []string
		for _, s := range x.Stages {
			if s.Func == "insmod" {
				steps = append(steps, s.Note)
			}
		}
		ok := x.Result == tt.result && len(steps) == len(tt.insmod)
		for i := 0; ok && i < len(steps); i++ {
			ok = strings.Contains(steps[i], tt.insmod[i])
		}
		wantCall := "insmod"
		if strings.Contains(strings.Join(tt.args, " "), "--syscall finit") {
			wantCall = "finit_module"
		} else if strings.Contains(strings.Join(tt.args, " "), "--syscall init") {
			wantCall = "init_module"
		}
		if !ok || x.Syscall != wantCall {
			t.Errorf("%s: %s (%s), insmod steps %q\nwant %s, %q", tt.name, x.Result, x.Syscall, steps, tt.result, tt.insmod)
		}
	}
	if _, stderr, code := runTool(nil, "explain", "--kernel", k61.Root, "--syscall", "init", "-f", xz61); code != 2 || !strings.Contains(stderr, "init_module takes no flags") {
		t.Errorf("--syscall init -f: %d %q", code, stderr)
	}
	if _, stderr, code := runTool(nil, "check", "--kernel", k61.Root, "--syscall", "nosuch", xz61); code != 2 || !strings.Contains(stderr, "--syscall nosuch: want finit or init") {
		t.Errorf("--syscall nosuch: %d %q", code, stderr)
	}

	// check: the same default, and the raw call on request.
	for mode, want := range map[string]string{"": "ok", "finit": "ENOTSUP", "init": "ENOEXEC"} {
		args := []string{"check", "--kernel", k61.Root, "--json"}
		if mode != "" {
			args = append(args, "--syscall", mode)
		}
		out, stderr, _ := runTool(&kmod.Host{}, append(args, xz61)...)
		var v CheckVerdict
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Result != want {
			t.Errorf("check --syscall %q: %q %v %s", mode, out, err, stderr)
		}
	}
}

// TestExplainHostileInsmod: what insmod, explain's default, makes of paths that are no
// modules: it refuses what is not a regular file (EINVAL, the kernel's errno, without a
// system call), a directory as its read fails (EISDIR), and a file too short for an
// ELF header; garbage reaches the kernel (ENOEXEC); a path it cannot open is an input
// error (exit status 2). None hangs.
func TestExplainHostileInsmod(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	want := map[string]struct{ result, note string }{
		"fifo":    {"EINVAL", "not a regular file (a FIFO)"},
		"null":    {"EINVAL", "not a regular file (a character device)"},
		"zero":    {"EINVAL", "not a regular file (a character device)"},
		"dir":     {"EISDIR", "is a directory"},
		"empty":   {"EINVAL", "file too short to be a kernel module (0 bytes)"},
		"garbage": {"ENOEXEC", ""},
	}
	for _, h := range hostileModules(t) {
		out, stderr, code := runToolWithin(t, 2*time.Minute, "explain", "--kernel", k.Root, "--json", h.path)
		w, ok := want[h.name]
		if !ok {
			if code != 2 || !strings.Contains(stderr, h.path) || !strings.Contains(stderr, h.errText) || out != "" {
				t.Errorf("%s: exit %d, stderr %q, stdout %q; want 2 and an error naming the file: %s", h.name, code, stderr, out, h.errText)
			}
			continue
		}
		var x Explanation
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatalf("%s: %v\n%s%s", h.name, err, out, stderr)
		}
		last := x.Stages[len(x.Stages)-1]
		if code != 1 || x.Result != w.result || x.Syscall != "insmod" ||
			w.note != "" && (last.Func != "insmod" || last.Errno != w.result || !strings.Contains(last.Note, w.note)) ||
			w.note == "" && last.Func == "insmod" {
			t.Errorf("%s: exit %d, verdict %s, last stage %+v; want 1, %s, insmod: %q", h.name, code, x.Result, last, w.result, w.note)
		}
	}
}
