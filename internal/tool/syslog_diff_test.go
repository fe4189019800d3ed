package tool

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/kmod/compat"
)

// syslogRun is what one modprobe -s run left: its streams, exit status, the records the
// log socket received (timestamps masked) and what was written to the console.
type syslogRun struct {
	stdout, stderr, console string
	records                 []string
	exit                    int
}

var syslogStamp = regexp.MustCompile(`^<(\d+)>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d `)

// runWithDevLog runs argv in a private mount namespace whose /dev is a fresh directory
// holding a log socket (or, when console is set, no socket and a console file): glibc's
// syslog has /dev/log built in, and kmod's modprobe cannot be pointed elsewhere.
func runWithDevLog(t *testing.T, console bool, argv ...string) syslogRun {
	t.Helper()
	root := t.TempDir()
	dev := filepath.Join(root, "dev")
	recv := func() []string { return nil }
	if console {
		// A FIFO, read as it is written: glibc opens the console without O_APPEND, so a
		// regular file would keep only the last message.
		if err := os.MkdirAll(dev, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dev, "console")
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0) // read-write: no EOF between writers
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		chunks := make(chan string, 1024)
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := f.Read(buf)
				if err != nil {
					return
				}
				chunks <- string(buf[:n])
			}
		}()
		recv = drain(chunks)
	} else {
		recv = listenLog(t, root, false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-m", "sh", "-c", `mount --bind "$0" /dev && exec "$@"`, dev}, argv...)...)
	res := runStripped(t, cmd)
	r := syslogRun{stdout: res.stdout, stderr: res.stderr, exit: res.exit}
	if console {
		r.console = strings.Join(recv(), "")
		return r
	}
	for _, rec := range recv() {
		r.records = append(r.records, syslogStamp.ReplaceAllString(rec, "<$1>TIME "))
	}
	return r
}

// TestSyslogAgainstKmod compares modprobe -s with kmod 30 (GOKMOD_KMOD=30) and kmod
// 34.2 (the default), both run the same way: the records glibc's syslog sends (LOG_DAEMON, no PID), what goes to the console
// when there is no log socket (LOG_CONS), and what stays on stderr (getopt's messages,
// and the configuration's warnings, logged by libkmod before the tool's log function
// is installed). Only read-only runs: -n, -R, no module name.
func TestSyslogAgainstKmod(t *testing.T) { forEachRelease(t, syslogAgainstKmod) }

func syslogAgainstKmod(t *testing.T, kv compat.Kmod) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root, for a private mount namespace (unshare -m) with its own /dev/log")
	}
	bin, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	k := testenv.RequireLine(t, "6.1")
	bad := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("bogus line\noptions\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		{"-s"},
		{"-s", "-d", "/nonexistent", "-S", k.Release, "-n", "foo-bar"},
		{"-s", "-a", "-d", "/nonexistent", "-S", k.Release, "-n", "foo", "bar"},
		{"-s", "-q", "-d", "/nonexistent", "-S", k.Release, "-n", "foo-bar"},
		{"-s", "-n", "-v", "-d", k.Root, "-S", k.Release, "btrfs"},
		{"-s", "-C", bad, "-n", "-d", k.Root, "-S", k.Release, "btrfs"},
		{"-s", "-R", "-d", k.Root, "-S", k.Release, "no-such-alias"},
		{"-s", "-w", "x", "-r", "-n", "-d", k.Root, "-S", k.Release, "btrfs"},
		{"-s", "-r", "-n", "-d", k.Root, "-S", k.Release, "btrfs"},
		{"-s", "--show-depends", "-d", k.Root, "-S", k.Release, "pci:v00001002d00006798sv00001002sd00000B00bc03sc00i00"},
	}
	records := 0
	for _, console := range []bool{false, true} {
		for _, args := range cases {
			kr := runWithDevLog(t, console, append([]string{kmodModprobeFor(t)}, args...)...)
			gr := runWithDevLog(t, console, append([]string{bin, "modprobe"}, args...)...)
			if kr.stdout != gr.stdout || kr.stderr != gr.stderr || kr.exit != gr.exit ||
				strings.Join(kr.records, "|") != strings.Join(gr.records, "|") || kr.console != gr.console {
				t.Errorf("modprobe %s (console %v):\nkmod   %+v\ngokmod %+v", strings.Join(args, " "), console, kr, gr)
			}
			records += len(kr.records) + strings.Count(kr.console, "\r\n")
			if testing.Verbose() {
				t.Logf("modprobe %s (console %v): %q %q", strings.Join(args, " "), console, kr.records, kr.console)
			}
		}
	}
	// insmod and rmmod on paths that stop before any system call (a missing file, a
	// module this machine does not have): kmod 34's insmod logs to syslog with -s
	// (kmod 30's ignores it), and -vvv adds libkmod's INFO lines, pointers masked.
	missing := filepath.Join(t.TempDir(), "gokmod-missing.ko")
	gone := fmt.Sprintf("gokmod_nosuch_%d", os.Getpid())
	if _, err := os.Stat("/sys/module/" + gone); err == nil {
		t.Fatalf("/sys/module/%s exists", gone)
	}
	runs := [][]string{{"insmod", "-s", missing}, {"rmmod", "-s", gone}, {"rmmod", "-s", "-vvv", gone}}
	if kv == compat.Kmod34 { // kmod 30's insmod has no -v (gokmod's says which system call it made)
		runs = append(runs, []string{"insmod", "-s", "-vvv", missing})
	}
	for _, c := range runs {
		kbin := "/usr/sbin/" + c[0]
		if kv == compat.Kmod34 {
			kbin = testenv.Kmod34Tool(t, c[0])
		}
		kr := runWithDevLog(t, false, append([]string{kbin}, c[1:]...)...)
		gr := runWithDevLog(t, false, append([]string{bin}, c...)...)
		mask := func(r []string) string { return maskPointers(strings.Join(r, "|")) }
		if kr.stdout != gr.stdout || maskPointers(kr.stderr) != maskPointers(gr.stderr) || kr.exit != gr.exit || mask(kr.records) != mask(gr.records) {
			t.Errorf("%s:\nkmod   %+v\ngokmod %+v", strings.Join(c, " "), kr, gr)
		}
		records += len(kr.records)
	}
	// The comparison is worth something only if kmod logged: the cases above give it
	// several messages, in both modes.
	if records < 10 {
		t.Errorf("kmod logged only %d messages through syslog or the console", records)
	}
	testenv.Report(t, "modprobe -s: %d cases, with a log socket and with only a console, and insmod and rmmod -s: %d cases, identical to kmod %s (%d messages compared, timestamps masked)", len(cases), len(runs), kv, records)
}
