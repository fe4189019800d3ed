package vmtest

import (
	"strings"
	"testing"
	"time"

	"gokmod/internal/testenv"
)

// TestBootAndRun boots every prepared kernel once and checks the harness's contract: the
// guest runs the kernel we asked for, commands return their output streams and exit code
// separately, kernel log records of the command come back, and unprivileged commands run
// as the user asked for.
func TestBootAndRun(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		t.Run(k.Release, func(t *testing.T) {
			vm, err := Boot(Config{Kernel: k, Files: []File{{Guest: "hello.txt", Data: []byte("hi\n")}}})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			r, err := vm.Run("uname -r; cat hello.txt; echo oops >&2; exit 3")
			if err != nil {
				t.Fatal(err)
			}
			if r.Stdout != k.Release+"\nhi\n" || r.Stderr != "oops\n" || r.Exit != 3 {
				t.Errorf("got stdout %q stderr %q exit %d", r.Stdout, r.Stderr, r.Exit)
			}
			r, err = vm.Run("echo gokmod-marker-42 > /dev/kmsg")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.KmsgText(), "gokmod-marker-42") {
				t.Errorf("kernel log records of the command missing: %q", r.KmsgText())
			}
			r, err = vm.RunAs(65534, 65534, "id -u; /sbin/lsmod | head -1; /gokmod/bin/gokmod --version")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r.Stdout, "65534\nModule                  Size  Used by\nkmod version 30\n") || !strings.Contains(r.Stdout, "\ngokmod version ") {
				t.Errorf("unprivileged run: stdout %q stderr %q", r.Stdout, r.Stderr)
			}
		})
	}
}

// TestCommandTimeout: a command that overruns its limit kills the guest and says so,
// instead of hanging the test run.
func TestCommandTimeout(t *testing.T) {
	k := testenv.RequireKernels(t)[0]
	vm, err := Boot(Config{Kernel: k, CommandTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if _, err := vm.Run("sleep 30"); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("got %v", err)
	}
	if _, err := vm.Run("true"); err == nil {
		t.Fatal("a killed guest still answers")
	}
}
