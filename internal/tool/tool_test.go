package tool

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/kmod"
	"gokmod/kmod/index"
	"gokmod/ko"
)

// fakeSys stands in for the kernel: it records each call, logs the given kernel lines to
// the fixture's /dev/kmsg during the call, and fails with err.
type fakeSys struct {
	root  string
	calls []string
	err   map[string]error // by syscall name
	kmsg  []string
	image []byte // what init_module received
}

func (f *fakeSys) log() {
	fh, err := os.OpenFile(filepath.Join(f.root, "dev/kmsg"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		panic(err)
	}
	defer fh.Close()
	for i, m := range f.kmsg {
		fmt.Fprintf(fh, "3,%d,1000,-;%s\n SUBSYSTEM=x\n", 100+i, m)
	}
}

func (f *fakeSys) FinitModule(fd int, params string, flags int) error {
	f.calls = append(f.calls, fmt.Sprintf("finit_module(%q, %#x)", params, flags))
	f.log()
	return f.err["finit_module"]
}

func (f *fakeSys) InitModule(image []byte, params string) error {
	f.calls = append(f.calls, fmt.Sprintf("init_module(%d bytes, %q)", len(image), params))
	f.image = image
	f.log()
	return f.err["init_module"]
}

func (f *fakeSys) DeleteModule(name string, flags int) error {
	f.calls = append(f.calls, fmt.Sprintf("delete_module(%s, %#x)", name, flags))
	return f.err["delete_module"]
}

// fixture builds a root with /proc, /sys/module, /dev/kmsg and /lib/modules/REL.
func fixture(t *testing.T, files map[string]string) (*kmod.Host, *fakeSys) {
	t.Helper()
	root := t.TempDir()
	base := map[string]string{
		"dev/kmsg":                    "6,1,0,-;boot noise\n",
		"proc/modules":                "",
		"proc/sys/kernel/osrelease":   "6.1.0-test\n",
		"lib/modules/6.1.0-test/.dir": "",
	}
	for k, v := range files {
		base[k] = v
	}
	for p, data := range base {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sys := &fakeSys{root: root, err: map[string]error{}}
	return &kmod.Host{Root: root, Sys: sys}, sys
}

func runTool(h *kmod.Host, args ...string) (stdout, stderr string, code int) {
	if h == nil {
		h = kmod.NewHost()
	}
	var o, e bytes.Buffer
	code = Main(append([]string{"gokmod"}, args...), &o, &e, h)
	return o.String(), e.String(), code
}

func writeModule(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var elfBytes = append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...)

func TestInsmodUnknownSymbolSaysWhy(t *testing.T) {
	h, sys := fixture(t, map[string]string{
		"lib/modules/6.1.0-test/modules.symbols": "# Aliases for symbols, used by symbol_request().\nalias symbol:llc_sap_open llc\nalias symbol:llc_sap_close llc\n",
	})
	sys.err["finit_module"] = unix.ENOENT
	sys.kmsg = []string{"stp: Unknown symbol llc_sap_close (err -2)", "stp: Unknown symbol llc_sap_open (err -2)"}
	p := writeModule(t, "stp.ko", elfBytes)
	_, stderr, code := runTool(h, "insmod", p, "a=1", "b=2")
	want := "insmod: ERROR: could not insert module " + p + ": Unknown symbol in module\n" +
		"insmod: kernel: stp: Unknown symbol llc_sap_close (err -2)\n" +
		"insmod: kernel: stp: Unknown symbol llc_sap_open (err -2)\n" +
		"insmod: hint: llc_sap_close, llc_sap_open are exported by module llc: load llc first, or use modprobe, which loads dependencies\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	if got := strings.Join(sys.calls, ";"); got != `finit_module("a=1 b=2", 0x0)` {
		t.Errorf("calls: %s", got)
	}
}

func compressWith(t *testing.T, data []byte, tool string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out
}

// TestInsmodCompressed: the kernel gets a compressed file only when it says it can undo
// that compression; otherwise insmod decompresses and calls init_module; ENOSYS from
// finit_module falls back to init_module.
func TestInsmodCompressed(t *testing.T) {
	xz := compressWith(t, elfBytes, "xz", "-C", "crc32", "-c")
	// As kbuild's: the frame records its content size (TestInsmodZstdWithoutContentSize
	// has the other kind).
	zst := compressWith(t, elfBytes, "zstd", "-q", "-c", fmt.Sprintf("--stream-size=%d", len(elfBytes)))
	gz := compressWith(t, elfBytes, "gzip", "-c")
	tests := []struct {
		name, sysComp string
		data          []byte
		finitErr      error
		want          string
	}{
		{"m.ko.xz", "xz\n", xz, nil, `finit_module("", 0x4)`},
		{"m.ko.xz", "", xz, nil, `init_module(107 bytes, "")`},
		{"m.ko.zst", "xz\n", zst, nil, `init_module(107 bytes, "")`},
		{"m.ko.gz", "", gz, nil, `init_module(107 bytes, "")`},
		{"m.ko", "", elfBytes, unix.ENOSYS, `finit_module("", 0x0);init_module(107 bytes, "")`},
	}
	for _, tt := range tests {
		files := map[string]string{}
		if tt.sysComp != "" {
			files["sys/module/compression"] = tt.sysComp
		}
		h, sys := fixture(t, files)
		sys.err["finit_module"] = tt.finitErr
		_, stderr, code := runTool(h, "insmod", writeModule(t, tt.name, tt.data))
		if code != 0 || strings.Join(sys.calls, ";") != tt.want {
			t.Errorf("%s (kernel decompresses %q): exit %d %s calls %v, want %s", tt.name, tt.sysComp, code, stderr, sys.calls, tt.want)
		}
		if sys.image != nil && !bytes.Equal(sys.image, elfBytes) {
			t.Errorf("%s: init_module got other bytes than the decompressed module", tt.name)
		}
	}
}

func TestInsmodForceFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-f":                 `finit_module("", 0x3)`,
		"--force-vermagic":   `finit_module("", 0x2)`,
		"--force-modversion": `finit_module("", 0x1)`,
	} {
		h, sys := fixture(t, nil)
		runTool(h, "insmod", args, writeModule(t, "m.ko", elfBytes))
		if got := strings.Join(sys.calls, ";"); got != want {
			t.Errorf("insmod %s: %s, want %s", args, got, want)
		}
	}
}

// TestInsmodBadInput: every bad file gets one clear line naming it, exit 1, no syscall.
func TestInsmodBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := writeModule(t, "empty.ko", nil)
	short := writeModule(t, "short.ko", []byte("abc"))
	badxz := writeModule(t, "bad.ko.xz", []byte("\xfd7zXZ\x00garbage garbage"))
	tests := []struct{ arg, want string }{
		{filepath.Join(dir, "nosuch.ko"), "insmod: ERROR: could not load module " + filepath.Join(dir, "nosuch.ko") + ": No such file or directory\n"},
		{dir, "insmod: ERROR: could not insert module " + dir + ": Is a directory\n"},
		{empty, "insmod: ERROR: could not insert module " + empty + ": file too short to be a kernel module (0 bytes)\n"},
		{short, "insmod: ERROR: could not insert module " + short + ": file too short to be a kernel module (3 bytes)\n"},
		{"-", "insmod: ERROR: this tool does not support loading from stdin!\n"},
	}
	for _, tt := range tests {
		h, sys := fixture(t, nil)
		_, stderr, code := runTool(h, "insmod", tt.arg)
		if code != 1 || stderr != tt.want || len(sys.calls) != 0 {
			t.Errorf("insmod %s: exit %d calls %v stderr %q, want %q", tt.arg, code, sys.calls, stderr, tt.want)
		}
	}
	h, sys := fixture(t, nil)
	_, stderr, code := runTool(h, "insmod", badxz)
	if code != 1 || !strings.HasPrefix(stderr, "insmod: ERROR: could not insert module "+badxz+": ") || strings.Count(stderr, "\n") != 1 || len(sys.calls) != 0 {
		t.Errorf("corrupt xz: exit %d calls %v stderr %q", code, sys.calls, stderr)
	}
}

func TestInsmodNoPrivilege(t *testing.T) {
	h, sys := fixture(t, map[string]string{"proc/sys/kernel/modules_disabled": "1\n"})
	sys.err["finit_module"] = unix.EPERM
	_, stderr, _ := runTool(h, "insmod", writeModule(t, "m.ko", elfBytes))
	if !strings.Contains(stderr, "Operation not permitted\n") || !strings.Contains(stderr, "modules_disabled") {
		t.Errorf("stderr: %s", stderr)
	}
}

func sysModule(name, refcnt, coresize string, holders ...string) map[string]string {
	m := map[string]string{
		"sys/module/" + name + "/refcnt":    refcnt + "\n",
		"sys/module/" + name + "/coresize":  coresize + "\n",
		"sys/module/" + name + "/initstate": "live\n",
		"sys/module/" + name + "/holders/":  "",
	}
	for _, h := range holders {
		m["sys/module/"+name+"/holders/"+h] = ""
	}
	return m
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestLsmodFormat(t *testing.T) {
	h, _ := fixture(t, merge(
		map[string]string{"proc/modules": "stp 16384 1 bridge, Live 0xffffffffc0210000\nllc 16384 1 stp, Live 0xffffffffc0200000\na_module_with_a_long_name 123456789 0 - Live 0x0\n"},
		sysModule("stp", "1", "16384", "bridge"), sysModule("llc", "1", "16384", "stp"), sysModule("a_module_with_a_long_name", "0", "123456789")))
	out, _, code := runTool(h, "lsmod")
	want := "Module                  Size  Used by\n" +
		"stp                    16384  1 bridge\n" +
		"llc                    16384  1 stp\n" +
		"a_module_with_a_long_name 123456789  0\n"
	if code != 0 || out != want {
		t.Errorf("got:\n%q\nwant:\n%q", out, want)
	}
	// kmod 34's lsmod (the default) logs the error; kmod 30's prints its usage.
	if _, stderr, code := runTool(h, "lsmod", "x"); code != 1 || stderr != "lsmod: ERROR: too many arguments provided.\n" {
		t.Errorf("lsmod x: %d %q", code, stderr)
	}
	t.Setenv("GOKMOD_KMOD", "30")
	if _, stderr, code := runTool(h, "lsmod", "x"); code != 1 || stderr != "Usage: lsmod\n" {
		t.Errorf("GOKMOD_KMOD=30 lsmod x: %d %q", code, stderr)
	}
}

// TestRmmodChecks: rmmod's refusals and delete_module calls, as kmod 34.2 (the default)
// and kmod 30: they differ in libkmod's source location on delete_module's error (kmod
// 30's debug build), and after -s in where the holders go (TestRmmodSyslogHolders).
func TestRmmodChecks(t *testing.T) {
	for _, kv := range []string{"34", "30"} {
		t.Run("kmod"+kv, func(t *testing.T) {
			t.Setenv("GOKMOD_KMOD", kv)
			rmmodChecks(t, kv == "30")
		})
	}
}

func rmmodChecks(t *testing.T, kmod30 bool) {
	inUse := "rmmod: ERROR: Module llc is in use by: stp\n"
	where := ""
	if kmod30 {
		where = "../libkmod/libkmod-module.c:856 kmod_module_remove_module() "
	}
	// libkmod reads modules.builtin.bin (keyed by name, as depmod writes it), not the text.
	builtin, _, err := index.BuildPostOrder([]index.Entry{{Key: "ext4"}})
	if err != nil {
		t.Fatal(err)
	}
	files := merge(sysModule("llc", "1", "16384", "stp"), sysModule("busy", "2", "4096"), sysModule("idle", "0", "4096"),
		map[string]string{
			"lib/modules/6.1.0-test/modules.builtin":     "kernel/fs/ext4/ext4.ko\n",
			"lib/modules/6.1.0-test/modules.builtin.bin": string(builtin),
		})
	tests := []struct {
		args  []string
		code  int
		err   string
		calls string
	}{
		{[]string{"llc"}, 1, inUse, ""},
		{[]string{"busy"}, 1, "rmmod: ERROR: Module busy is in use\n", ""},
		{[]string{"ext4"}, 1, "rmmod: ERROR: Module ext4 is builtin.\n", ""},
		{[]string{"nosuch"}, 1, "rmmod: ERROR: Module nosuch is not currently loaded\n", ""},
		{[]string{"idle"}, 0, "", "delete_module(idle, 0x800)"},
		{[]string{"-f", "llc"}, 0, "", "delete_module(llc, 0xa00)"},
		{[]string{"idle-mod.ko"}, 1, "rmmod: ERROR: Module idle_mod is not currently loaded\n", ""},
		{[]string{}, 1, "rmmod: ERROR: missing module name.\n", ""},
	}
	for _, tt := range tests {
		h, sys := fixture(t, files)
		_, stderr, code := runTool(h, append([]string{"rmmod"}, tt.args...)...)
		if code != tt.code || stderr != tt.err || strings.Join(sys.calls, ";") != tt.calls {
			t.Errorf("rmmod %v: exit %d stderr %q calls %v; want %d %q %q", tt.args, code, stderr, sys.calls, tt.code, tt.err, tt.calls)
		}
	}
	h, sys := fixture(t, files)
	sys.err["delete_module"] = unix.EAGAIN
	_, stderr, _ := runTool(h, "rmmod", "-f", "llc")
	want := "rmmod: ERROR: " + where + "could not remove 'llc': Resource temporarily unavailable\n" +
		"rmmod: ERROR: could not remove module llc: Resource temporarily unavailable\n"
	if stderr != want {
		t.Errorf("got %q want %q", stderr, want)
	}
}

func TestMultiCall(t *testing.T) {
	h, _ := fixture(t, nil)
	var o, e bytes.Buffer
	if code := Main([]string{"/usr/sbin/lsmod"}, &o, &e, h); code != 0 || !strings.HasPrefix(o.String(), "Module") {
		t.Errorf("lsmod via symlink: %d %q %q", code, o.String(), e.String())
	}
	for _, tl := range Tools {
		for _, flag := range []string{"-h", "--help", "-V", "--version"} {
			out, _, code := runTool(h, tl.Name, flag)
			if code != 0 || out == "" {
				t.Errorf("%s %s: exit %d, output %q", tl.Name, flag, code, out)
			}
		}
	}
	if out, _, code := runTool(h, "--help"); code != 0 || !strings.Contains(out, "insmod") {
		t.Errorf("gokmod --help: %d %q", code, out)
	}
	if _, stderr, code := runTool(h, "frobnicate"); code != 1 || !strings.Contains(stderr, "unknown command 'frobnicate'") {
		t.Errorf("unknown tool: %d %q", code, stderr)
	}
}

// TestNoJudgeInProduct: judge, which loads modules for the fidelity tests, is not one of
// gokmod's tools: not in --help, not a command, and not linked into cmd/gokmod (it lives
// in internal/cmd/judge, built into the QEMU test guests only).
func TestNoJudgeInProduct(t *testing.T) {
	h, _ := fixture(t, nil)
	if out, _, _ := runTool(h, "--help"); strings.Contains(out, "judge") {
		t.Errorf("gokmod --help mentions judge:\n%s", out)
	}
	if _, stderr, code := runTool(h, "judge", "-"); code != 1 || !strings.Contains(stderr, "unknown command 'judge'") {
		t.Errorf("gokmod judge: exit %d %q", code, stderr)
	}
	if code := Main([]string{"/usr/bin/judge", "-"}, &bytes.Buffer{}, &bytes.Buffer{}, h); code != 1 {
		t.Errorf("gokmod through a symlink named judge: exit %d, want the usage error", code)
	}
	out, err := exec.Command("go", "list", "-deps", "gokmod/cmd/gokmod").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range []string{"gokmod/internal/cmd/judge", "gokmod/internal/testing/testguest", "gokmod/internal/testing/vmtest"} {
		if strings.Contains(string(out), pkg+"\n") {
			t.Errorf("cmd/gokmod links %s", pkg)
		}
	}
	if !strings.Contains(string(out), "gokmod/internal/tool\n") {
		t.Errorf("go list -deps gokmod/cmd/gokmod looks wrong:\n%s", out)
	}
}

// TestInsmodZstdWithoutContentSize: a .ko.zst the kernel cannot decompress itself, whose
// frame does not record its size: kmod 34.2's insmod refuses it before any system call
// (libkmod's kmod_file_load_zstd, then mod_strerror's words for EINVAL); kmod 30's reads it.
func TestInsmodZstdWithoutContentSize(t *testing.T) {
	zst := bytes.NewBuffer(compressWith(t, bytes.Repeat([]byte("\x7fELF not really a module "), 100), "zstd", "-q", "-c", "--no-content-size"))
	if ko.ZstdKnowsContentSize(zst.Bytes()) {
		t.Fatal("the test's frame records its content size")
	}
	h, sys := fixture(t, nil)
	path := writeModule(t, "nosize.ko.zst", zst.Bytes())
	_, stderr, code := runTool(h, "insmod", path)
	want := "insmod: ERROR: zstd: Failed to determine decompression size\ninsmod: ERROR: could not insert module " + path + ": Invalid parameters\n"
	if code != 1 || stderr != want || len(sys.calls) != 0 {
		t.Errorf("kmod 34.2: exit %d, calls %v, stderr %q; want 1, none, %q", code, sys.calls, stderr, want)
	}
	t.Setenv("GOKMOD_KMOD", "30")
	h, sys = fixture(t, nil)
	runTool(h, "insmod", path)
	if len(sys.calls) != 1 || !strings.HasPrefix(sys.calls[0], "init_module") {
		t.Errorf("kmod 30: calls %v, want one init_module", sys.calls)
	}
}
