package testguest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	p := func(n, s string) string {
		f := filepath.Join(dir, n)
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := p("cmdline", "console=ttyS0 rdinit=/init "+CmdlineToken+"\n")
	bad := p("cmdline-bad", "console=ttyS0 x"+CmdlineToken+" "+CmdlineToken+"0\n")
	marker := p("marker", MarkerText)
	wrong := p("wrong", "something else\n")
	missing := filepath.Join(dir, "nosuch")
	if err := check(good, marker); err != nil {
		t.Errorf("both marks: %v", err)
	}
	for _, c := range []struct{ cmdline, marker, want string }{
		{bad, marker, "has no " + CmdlineToken},
		{good, wrong, "not the test initramfs's marker"},
		{good, missing, "no such file"},
		{missing, marker, "no such file"},
	} {
		if err := check(c.cmdline, c.marker); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("check(%s, %s) = %v, want %q", c.cmdline, c.marker, err, c.want)
		}
	}
}

// TestThisHostIsNoGuest: the machine running the tests is not a test guest (the VM
// tests' guests are).
func TestThisHostIsNoGuest(t *testing.T) {
	if err := Check(); err == nil {
		t.Fatal("Check() says this host is a test guest: it would let judge load modules here")
	}
}
