package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/kmod"
)

// refusingSys fails the test on any system call: judge must make none outside a guest.
type refusingSys struct{ t *testing.T }

func (s refusingSys) FinitModule(int, string, int) error {
	s.t.Error("finit_module called")
	return unix.EPERM
}

func (s refusingSys) InitModule([]byte, string) error {
	s.t.Error("init_module called")
	return unix.EPERM
}

func (s refusingSys) DeleteModule(string, int) error {
	s.t.Error("delete_module called")
	return unix.EPERM
}

// TestRefusesOutsideGuest: without the guest's marks judge makes no system call and
// exits 2 saying why.
func TestRefusesOutsideGuest(t *testing.T) {
	h := &kmod.Host{Root: t.TempDir(), Sys: refusingSys{t}}
	var o, e bytes.Buffer
	notGuest := func() error { return errors.New("not a gokmod test guest: /proc/cmdline has no gokmod.testguest=1") }
	code := run([]string{"-"}, strings.NewReader("insmod /x.ko\nrmmod x\n"), &o, &e, h, notGuest)
	if code != 2 || o.Len() != 0 || !strings.Contains(e.String(), "refusing to run: not a gokmod test guest") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, o.String(), e.String())
	}
	for _, args := range [][]string{nil, {"a", "b"}, {"--help"}} {
		o.Reset()
		e.Reset()
		if code := run(args, strings.NewReader(""), &o, &e, h, notGuest); code != 2 || !strings.HasPrefix(e.String(), "Usage: judge") {
			t.Errorf("judge %v: exit %d, stderr %q", args, code, e.String())
		}
	}
}

// TestBinaryRefusesOnThisHost: the built program, run on the machine running the tests
// (no test guest), refuses. The script only removes a module that does not exist, so
// even a judge that failed to refuse would change nothing here.
func TestBinaryRefusesOnThisHost(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "judge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-")
	cmd.Stdin = strings.NewReader("rmmod gokmod_judge_test_no_such_module\n")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || o.Len() != 0 || !strings.Contains(e.String(), "refusing to run") {
		t.Errorf("judge on this host: %v, stdout %q, stderr %q", err, o.String(), e.String())
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}
