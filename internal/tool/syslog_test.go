package tool

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gokmod/kmod"
)

// listenLog binds a datagram socket (or a stream listener) at root/dev/log and returns
// a function that collects what arrived, one record per element.
func listenLog(t *testing.T, root string, stream bool) func() []string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "dev/log")
	recs := make(chan string, 1024)
	if !stream {
		// Read as records arrive: a sender blocks once the socket's buffer is full.
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 1<<16)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				recs <- string(buf[:n])
			}
		}()
		return drain(recs)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var b bytes.Buffer
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b.ReadFrom(c)
			c.Close()
			recs <- b.String()
		}
	}()
	return drain(recs)
}

// drain returns a function that collects the records received until none came for
// 200 ms.
func drain(recs chan string) func() []string {
	return func() []string {
		var got []string
		for {
			select {
			case r := <-recs:
				got = append(got, r)
			case <-time.After(200 * time.Millisecond):
				return got
			}
		}
	}
}

func fixedClock() time.Time { return time.Date(2026, 11, 7, 9, 5, 38, 0, time.Local) }

// TestSyslogRecord checks glibc's record: "<PRI>Mmm dd hh:mm:ss IDENT: MSG", the day
// padded with a space (%e), no PID, the message's newline kept.
func TestSyslogRecord(t *testing.T) {
	root := t.TempDir()
	recv := listenLog(t, root, false)
	s := newSyslogger("modprobe", filepath.Join(root, "dev/log"), filepath.Join(root, "dev/console"))
	s.now = fixedClock
	s.log(logErr, "ERROR: could not insert 'x': Operation not permitted\n")
	s.log(logCrit, "FATAL: Module y not found in directory /lib/modules/z\n")
	s.close()
	want := []string{
		"<27>Nov  7 09:05:38 modprobe: ERROR: could not insert 'x': Operation not permitted\n",
		"<26>Nov  7 09:05:38 modprobe: FATAL: Module y not found in directory /lib/modules/z\n",
	}
	if got := recv(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records:\n%q\nwant\n%q", got, want)
	}
}

// TestSyslogStream: a stream socket at /dev/log refuses the datagram connect with
// EPROTOTYPE; glibc then uses a stream and ends each record with a NUL.
func TestSyslogStream(t *testing.T) {
	root := t.TempDir()
	recv := listenLog(t, root, true)
	s := newSyslogger("rmmod", filepath.Join(root, "dev/log"), filepath.Join(root, "dev/console"))
	s.now = fixedClock
	s.log(logErr, "ERROR: Module a is in use by:")
	s.close()
	want := "<27>Nov  7 09:05:38 rmmod: ERROR: Module a is in use by:\x00"
	if got := recv(); len(got) != 1 || got[0] != want {
		t.Errorf("records %q, want [%q]", got, want)
	}
}

// TestSyslogConsole: with no log socket, LOG_CONS writes the message without its
// header, and "\r\n", to the console.
func TestSyslogConsole(t *testing.T) {
	root := t.TempDir()
	console := filepath.Join(root, "console")
	if err := os.WriteFile(console, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSyslogger("modprobe", filepath.Join(root, "no/log"), console)
	s.log(logErr, "ERROR: missing parameters. See -h.\n")
	b, err := os.ReadFile(console)
	if err != nil {
		t.Fatal(err)
	}
	if want := "modprobe: ERROR: missing parameters. See -h.\n\r\n"; string(b) != want {
		t.Errorf("console %q, want %q", b, want)
	}
}

// TestRmmodSyslogHolders: kmod 30's rmmod logs "Module X is in use by:" with ERR() and
// prints the holders to stderr itself, so after -s they part ways; Debian's kmod 34.2
// logs the whole line with one ERR(), so all of it goes to syslog.
func TestRmmodSyslogHolders(t *testing.T) {
	t.Run("kmod30", func(t *testing.T) { t.Setenv("GOKMOD_KMOD", "30"); rmmodSyslogHolders30(t) })
	t.Run("kmod34", func(t *testing.T) {
		t.Setenv("GOKMOD_KMOD", "34")
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "sys/module/foo/holders/bar"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "sys/module/foo/initstate"), []byte("live\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		recv := listenLog(t, root, false)
		var o, e bytes.Buffer
		host := &kmod.Host{Root: root, Release: "6.1.0-test"}
		if code := Main([]string{"rmmod", "-s", "foo"}, &o, &e, host); code != 1 || e.String() != "" {
			t.Errorf("exit %d, stderr %q; want 1 and nothing", code, e.String())
		}
		got := recv()
		if want := " rmmod: ERROR: Module foo is in use by: bar"; len(got) != 1 || !strings.HasSuffix(strings.TrimRight(got[0], "\n\x00"), want) {
			t.Errorf("records %q, want one ending in %q", got, want)
		}
	})
}

func rmmodSyslogHolders30(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"sys/module/foo/holders/bar", "sys/module/foo/holders/baz"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "sys/module/foo/initstate"), []byte("live\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	recv := listenLog(t, root, false)
	var o, e bytes.Buffer
	host := &kmod.Host{Root: root, Release: "6.1.0-test"}
	if code := Main([]string{"rmmod", "-s", "foo"}, &o, &e, host); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	// In directory order, as kmod's readdir: either, depending on the file system.
	if e.String() != " bar baz\n" && e.String() != " baz bar\n" {
		t.Errorf("stderr %q, want %q", e.String(), " bar baz\n")
	}
	got := recv()
	if len(got) != 1 || !strings.HasSuffix(got[0], " rmmod: ERROR: Module foo is in use by:") || !strings.HasPrefix(got[0], "<27>") {
		t.Errorf("records %q, want one ending in %q", got, " rmmod: ERROR: Module foo is in use by:")
	}
	// Without -s, the same bytes on stderr as one line.
	e.Reset()
	Main([]string{"rmmod", "foo"}, &o, &e, host)
	if e.String() != "rmmod: ERROR: Module foo is in use by: bar baz\n" && e.String() != "rmmod: ERROR: Module foo is in use by: baz bar\n" {
		t.Errorf("stderr %q, want %q", e.String(), "rmmod: ERROR: Module foo is in use by: bar baz\n")
	}
}
