package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
)

// TestInstallUninstall runs `make install` into a DESTDIR, as a packager would, and
// checks what a user gets: kmod's names answering as gokmod, a man page per tool whose
// text is the tool's --help, bash completion that completes the tool's options; then
// `make uninstall` leaves no file behind.
func TestInstallUninstall(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	make := func(target string) {
		t.Helper()
		cmd := exec.Command("make", "-s", "-C", root, target, "DESTDIR="+dest, "PREFIX=/usr/local")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	make("install")
	pre := filepath.Join(dest, "usr/local")
	for _, c := range []struct{ path, name string }{
		{"bin/kmod", "kmod"}, {"sbin/insmod", "insmod"}, {"sbin/rmmod", "rmmod"}, {"sbin/lsmod", "lsmod"},
		{"sbin/modinfo", "modinfo"}, {"sbin/modprobe", "modprobe"}, {"sbin/depmod", "depmod"},
	} {
		out, err := exec.Command(filepath.Join(pre, c.path), "-V").Output()
		if err != nil || !strings.HasPrefix(string(out), "kmod version ") || !strings.Contains(string(out), "\ngokmod version ") {
			t.Errorf("%s -V: %v %q", c.path, err, out)
		}
		page, err := os.ReadFile(filepath.Join(pre, "share/man/man8", c.name+".8"))
		if err != nil {
			t.Fatal(err)
		}
		help, _ := exec.Command(filepath.Join(pre, c.path), "-h").Output()
		for _, l := range strings.Split(string(help), "\n") {
			if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "-") && !bytes.Contains(page, []byte(f[0])) {
				t.Errorf("%s.8 lacks the option line %q of %s -h", c.name, l, c.name)
			}
		}
	}
	for _, p := range []string{"gokmod.8", "gokmod-explain.8", "gokmod-check.8", "gokmod-sim.8"} {
		if _, err := os.Stat(filepath.Join(pre, "share/man/man8", p)); err != nil {
			t.Error(err)
		}
	}
	// bash completion of "modprobe --show-d".
	script := `source "$0"; COMP_WORDS=(modprobe --show-d); COMP_CWORD=1; _gokmod; echo "${COMPREPLY[@]}"`
	out, err := exec.Command("bash", "-c", script, filepath.Join(pre, "share/bash-completion/completions/modprobe")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "--show-depends" {
		t.Errorf("bash completion of modprobe --show-d: %v %q", err, out)
	}
	make("uninstall")
	var left []string
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("make uninstall left %q", left)
	}
}
