package tool

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testenv"
)

// hostileModule is a module path that is no module, and what the model's tools must say.
type hostileModule struct {
	name string
	path string
	// verdict is the model's verdict (the kernel's answer); "" when user space cannot even
	// open the path, and the tools must report an input error naming it (errText).
	verdict, note, errText string
}

// hostileModules makes, in a fresh directory, module paths that are not modules: a FIFO
// nobody writes to, character devices (/dev/null, /dev/zero through symbolic links), a
// directory, a symbolic link loop, a socket, an empty file and garbage.
func hostileModules(t *testing.T) []hostileModule {
	t.Helper()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := unix.Mkfifo(p("fifo.ko"), 0o644); err != nil {
		t.Fatal(err)
	}
	for n, target := range map[string]string{"null.ko": "/dev/null", "zero.ko": "/dev/zero", "loop.ko": "loop.ko"} {
		if err := os.Symlink(target, p(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(p("dir.ko"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", p("sock.ko"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.WriteFile(p("empty.ko"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("garbage.ko"), []byte(strings.Repeat("garbage ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	return []hostileModule{
		{name: "fifo", path: p("fifo.ko"), verdict: "EINVAL", note: "not a regular file (a FIFO)"},
		{name: "null", path: p("null.ko"), verdict: "EINVAL", note: "not a regular file (a character device)"},
		{name: "zero", path: p("zero.ko"), verdict: "EINVAL", note: "not a regular file (a character device)"},
		{name: "dir", path: p("dir.ko"), verdict: "EINVAL", note: "not a regular file (a directory)"},
		{name: "loop", path: p("loop.ko"), errText: "too many levels of symbolic links"},
		{name: "sock", path: p("sock.ko"), errText: "no such device or address"},
		{name: "empty", path: p("empty.ko"), verdict: "EINVAL", note: "empty file"},
		{name: "garbage", path: p("garbage.ko"), verdict: "ENOEXEC"},
	}
}

// runToolWithin is runTool failing the test if the tool has not returned within d.
func runToolWithin(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		stdout, stderr, code = runTool(nil, args...)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("gokmod %s: still running after %v (hangs)", strings.Join(args, " "), d)
	}
	return stdout, stderr, code
}

// TestExplainHostileFiles: explain --syscall finit gives the kernel's verdict for what it
// would read (EINVAL from kernel_read_file for anything but a regular file, or an empty
// one; ENOEXEC for garbage), and exit status 2 with an error naming a path it cannot open.
// None hangs. (What insmod, explain's default, makes of them: TestExplainHostileInsmod.)
func TestExplainHostileFiles(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	for _, h := range hostileModules(t) {
		out, stderr, code := runToolWithin(t, 2*time.Minute, "explain", "--kernel", k.Root, "--syscall", "finit", "--json", h.path)
		if h.verdict == "" {
			if code != 2 || !strings.Contains(stderr, h.path) || !strings.Contains(stderr, h.errText) || out != "" {
				t.Errorf("%s: exit %d, stderr %q, stdout %q; want 2 and an error naming the file: %s", h.name, code, stderr, out, h.errText)
			}
			continue
		}
		var x Explanation
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatalf("%s: %v\n%s%s", h.name, err, out, stderr)
		}
		if code != 1 || x.Result != h.verdict {
			t.Errorf("%s: exit %d, verdict %s; want 1 and %s\n%s", h.name, code, x.Result, h.verdict, stderr)
		}
		if h.note != "" {
			last := x.Stages[len(x.Stages)-1]
			if last.Func != "kernel_read_file" || last.Stage != "copy" || last.Errno != "EINVAL" || last.Note != h.note {
				t.Errorf("%s: last stage %+v, want kernel_read_file: %s <-- EINVAL", h.name, last, h.note)
			}
		}
	}
}

// TestCheckHostileFiles: check judges every path given, each on its own line, and goes
// on past the ones it cannot open (reported on stderr, exit status 2). A directory given
// is searched for modules (dir.ko holds none).
func TestCheckHostileFiles(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	hs := hostileModules(t)
	args := []string{"check", "--kernel", k.Root}
	for _, h := range hs {
		args = append(args, h.path)
	}
	out, stderr, code := runToolWithin(t, 2*time.Minute, args...)
	if code != 2 {
		t.Errorf("exit %d, want 2 (input errors)\n%s%s", code, out, stderr)
	}
	for _, h := range hs {
		if h.name == "dir" {
			continue
		}
		if h.verdict == "" {
			if !strings.Contains(stderr, " "+h.path+": "+h.errText+"\n") || strings.Count(stderr, h.path) != 1 {
				t.Errorf("%s: no line for it on stderr:\n%s", h.name, stderr)
			}
			continue
		}
		if !strings.Contains(out, h.path+": "+h.verdict+"\n") {
			t.Errorf("%s: no %q line:\n%s", h.name, h.path+": "+h.verdict, out)
		}
	}
	if !strings.Contains(out, "5 modules checked against") || !strings.Contains(out, " EINVAL 4;") || !strings.Contains(out, " not read 2;") {
		t.Errorf("summary:\n%s", out)
	}
}

// TestCheckDirectoryWithFIFO: a FIFO named like a module inside a directory checked is
// judged (EINVAL), not waited on.
func TestCheckDirectoryWithFIFO(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "x.ko"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runToolWithin(t, 2*time.Minute, "check", "--kernel", k.Root, dir)
	if code != 1 || !strings.Contains(out, filepath.Join(dir, "x.ko")+": EINVAL\n") || stderr != "" {
		t.Errorf("exit %d\n%s%s", code, out, stderr)
	}
}

// TestSimHostileFiles: sim reports each operation on a hostile path as judge would see
// it in the guest: finit_module's EINVAL for what the kernel would refuse, the open's
// errno when there is nothing to open, and init (which reads the file in user space)
// EINVAL for anything but a regular file, with no system call.
func TestSimHostileFiles(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	hs := hostileModules(t)
	var script strings.Builder
	for _, h := range hs {
		script.WriteString("insmod " + h.path + "\ninit " + h.path + "\n")
	}
	sp := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(sp, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runToolWithin(t, 2*time.Minute, "sim", "--kernel", k.Root, sp)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var o simop.Outcome
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, o.Op+" "+filepath.Base(o.Arg)+" "+o.Result)
	}
	want := []string{
		"insmod fifo.ko EINVAL", "init fifo.ko EINVAL",
		"insmod null.ko EINVAL", "init null.ko EINVAL",
		"insmod zero.ko EINVAL", "init zero.ko EINVAL",
		"insmod dir.ko EINVAL", "init dir.ko EINVAL",
		"insmod loop.ko ELOOP", "init loop.ko ELOOP",
		"insmod sock.ko ENXIO", "init sock.ko ENXIO",
		"insmod empty.ko EINVAL", "init empty.ko ENOEXEC",
		"insmod garbage.ko ENOEXEC", "init garbage.ko ENOEXEC",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestInsmodFIFO: insmod refuses what is not a regular file without waiting on it (kmod's
// insmod blocks in open) and without a system call: the kernel would answer EINVAL.
func TestInsmodFIFO(t *testing.T) {
	for _, h := range hostileModules(t) {
		if h.name != "fifo" && h.name != "null" && h.name != "zero" {
			continue
		}
		host, sys := fixture(t, nil)
		done := make(chan struct{})
		var stderr string
		var code int
		go func() {
			defer close(done)
			_, stderr, code = runTool(host, "insmod", h.path)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("insmod %s hangs", h.name)
		}
		want := "insmod: ERROR: could not insert module " + h.path + ": " + h.note + "\n"
		if code != 1 || stderr != want || len(sys.calls) != 0 {
			t.Errorf("insmod %s: exit %d calls %v stderr %q, want %q", h.name, code, sys.calls, stderr, want)
		}
	}
}

// TestModinfoFIFO: modinfo of a FIFO named like a module answers at once.
func TestModinfoFIFO(t *testing.T) {
	for _, h := range hostileModules(t) {
		if h.name != "fifo" {
			continue
		}
		host, _ := fixture(t, nil)
		done := make(chan struct{})
		var code int
		go func() {
			defer close(done)
			_, _, code = runTool(host, "modinfo", h.path)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("modinfo %s hangs", h.name)
		}
		if code != 1 {
			t.Errorf("modinfo of a FIFO: exit %d, want 1", code)
		}
	}
}
