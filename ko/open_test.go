package ko

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostilePaths makes, in a fresh directory, module names that are not regular files:
// a FIFO nobody writes to, character devices (/dev/null, /dev/zero through symbolic
// links), a directory, a symbolic link loop, a dangling link and a socket.
func hostilePaths(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := unix.Mkfifo(p("fifo.ko"), 0o644); err != nil {
		t.Fatal(err)
	}
	for n, target := range map[string]string{"null.ko": "/dev/null", "zero.ko": "/dev/zero", "loop.ko": "loop.ko", "dangling.ko": "nosuch"} {
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
	return map[string]string{"fifo": p("fifo.ko"), "null": p("null.ko"), "zero": p("zero.ko"),
		"dir": p("dir.ko"), "loop": p("loop.ko"), "dangling": p("dangling.ko"), "sock": p("sock.ko")}
}

// within fails the test if fn does not return within d: a hang is a failure, not a
// stuck test binary.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %v (hangs)", what, d)
	}
}

// TestOpenNotRegular: every opener of module files answers at once for what is not a
// regular file, with the kernel's EINVAL (a directory: EISDIR from Open, as a read), and
// errors that name the file.
func TestOpenNotRegular(t *testing.T) {
	paths := hostilePaths(t)
	want := map[string]struct {
		errno unix.Errno
		text  string
	}{
		"fifo":     {unix.EINVAL, "not a regular file (a FIFO)"},
		"null":     {unix.EINVAL, "not a regular file (a character device)"},
		"zero":     {unix.EINVAL, "not a regular file (a character device)"},
		"dir":      {unix.EINVAL, "not a regular file (a directory)"},
		"loop":     {unix.ELOOP, "too many levels of symbolic links"},
		"dangling": {unix.ENOENT, "no such file or directory"},
		"sock":     {unix.ENXIO, "no such device or address"},
	}
	for kind, p := range paths {
		w := want[kind]
		within(t, 10*time.Second, "ReadFile "+kind, func() {
			b, err := ReadFile(p)
			if !errors.Is(err, w.errno) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), w.text) || b != nil {
				t.Errorf("ReadFile(%s): %v, %d bytes; want %v naming the file, %q", kind, err, len(b), w.errno, w.text)
			}
		})
		openWant := w.errno
		if kind == "dir" {
			openWant = unix.EISDIR
		}
		within(t, 10*time.Second, "Open "+kind, func() {
			if _, err := Open(p); !errors.Is(err, openWant) || !strings.Contains(err.Error(), p) {
				t.Errorf("Open(%s): %v, want %v naming the file", kind, err, openWant)
			}
		})
		within(t, 10*time.Second, "OpenMapped "+kind, func() {
			if _, err := OpenMapped(p); !errors.Is(err, openWant) || !strings.Contains(err.Error(), p) {
				t.Errorf("OpenMapped(%s): %v, want %v naming the file", kind, err, openWant)
			}
		})
	}
	var nr *NotRegularError
	if _, err := ReadFile(paths["fifo"]); !errors.As(err, &nr) || nr.Kind != "FIFO" {
		t.Errorf("FIFO: %#v, want a *NotRegularError", err)
	}
	var pe *fs.PathError
	if _, err := ReadFile(paths["loop"]); !errors.As(err, &pe) || pe.Op != "open" {
		t.Errorf("loop: %#v, want an open *fs.PathError", err)
	}
}

// TestReadFileRegular: regular files read whole, empty ones too (the kernel, not the
// reader, refuses those); a symbolic link to a regular file is followed.
func TestReadFileRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.ko")
	data := []byte("\x7fELF not really a module")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("m.ko", filepath.Join(dir, "link.ko")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.ko"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]string{"m.ko": string(data), "link.ko": string(data), "empty.ko": ""} {
		b, err := ReadFile(filepath.Join(dir, n))
		if err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", n, b, err, want)
		}
	}
}
