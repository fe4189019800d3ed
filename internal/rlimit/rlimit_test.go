package rlimit_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"gokmod/internal/rlimit"
)

// TestNofileAtStart: a child started with a soft limit below its hard one (which the Go
// runtime raises) reports the limit it was started with. The test binary itself is the
// child: with GOKMOD_RLIMIT_CHILD set it prints what NofileAtStart says.
func TestNofileAtStart(t *testing.T) {
	if os.Getenv("GOKMOD_RLIMIT_CHILD") != "" {
		soft, ok := rlimit.NofileAtStart()
		var now syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
		os.Stdout.WriteString(strconv.FormatUint(soft, 10) + " " + strconv.FormatBool(ok) + " " + strconv.FormatUint(now.Cur, 10) + "\n")
		return
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 300 {
		t.Fatalf("hard limit %d: too low for the test", lim.Max)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 257, Max: lim.Max}); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNofileAtStart$")
	cmd.Env = append(os.Environ(), "GOKMOD_RLIMIT_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 || f[0] != "257" || f[1] != "true" {
		t.Fatalf("child says %q, want soft limit 257 known", out)
	}
	if f[2] == "257" && lim.Max > 258 {
		t.Errorf("the runtime did not raise the child's limit (%q): the test shows nothing", out)
	}
}
