package vmtest

import (
	"strings"
	"testing"
	"time"

	"gokmod/internal/testing/testenv"
)

// TestBootEveryLine boots every prepared kernel (every line scripts/setup.sh prepared:
// 5.10's xz bzImage and plain .ko, 6.1's xz and .ko, 6.12's and 7.x's zstd and .ko.xz,
// 7.x's merged-/usr packages) once and checks the harness's contract: the guest runs the
// kernel we asked for, commands return their output streams and exit code separately,
// kernel log records of the command come back, unprivileged commands run as the user
// asked for, and an in-tree module (minix, staged with modules.dep) loads and unloads
// with Debian's insmod and rmmod, and with gokmod's.
func TestBootEveryLine(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		t.Run(k.Release, func(t *testing.T) {
			start := time.Now()
			vm, err := Boot(Config{Kernel: k, Modules: []string{"minix"}, Files: []File{{Guest: "hello.txt", Data: []byte("hi\n")}}})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			boot := time.Since(start)
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
			r, err = vm.Run("set -e; f=$(ls /lib/modules/$(uname -r)/kernel/fs/minix/minix.ko*); " + KmodDir + "/insmod $f; " +
				"grep -o '^minix [0-9]* 0 - Live' /proc/modules; " + KmodDir + "/rmmod minix; grep -c '^minix ' /proc/modules || true; basename $f")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
			if r.Exit != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "minix ") || lines[1] != "0" {
				t.Errorf("insmod/rmmod of an in-tree module: stdout %q stderr %q exit %d%s", r.Stdout, r.Stderr, r.Exit, r.KmsgText())
			}
			// gokmod's own insmod and rmmod (finit_module, with MODULE_INIT_COMPRESSED_FILE
			// where the kernel decompresses).
			r, err = vm.Run("set -e; f=$(ls /lib/modules/$(uname -r)/kernel/fs/minix/minix.ko*); " + GokmodDir + "/insmod $f; " +
				"grep -c '^minix ' /proc/modules; " + GokmodDir + "/rmmod minix; grep -c '^minix ' /proc/modules || true")
			if err != nil {
				t.Fatal(err)
			}
			if r.Exit != 0 || r.Stdout != "1\n0\n" {
				t.Errorf("gokmod insmod/rmmod of an in-tree module: stdout %q stderr %q exit %d%s", r.Stdout, r.Stderr, r.Exit, r.KmsgText())
			}
			testenv.Report(t, "%s (%s, %s): booted in %v; uname -r and the agent work; insmod/rmmod (kmod and gokmod) %s ok=%v",
				k.Release, k.Suite, k.Version().Line(), boot.Round(time.Second/10), lines[len(lines)-1], !t.Failed())
		})
	}
}

// TestCommandTimeout: a command that overruns its limit kills the guest and says so,
// instead of hanging the test run.
func TestCommandTimeout(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
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
