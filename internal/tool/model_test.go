package tool

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
)

// The model's tools, offline, on Debian's unpacked kernels. What the real kernel does with
// the same inputs is checked by TestJudgeInGuest and internal/testing/fidelity.

func TestSimScript(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	script := filepath.Join(t.TempDir(), "s")
	os.WriteFile(script, []byte("insmod kernel/net/802/stp.ko\ninsmod kernel/net/llc/llc.ko\ninsmod kernel/net/802/stp.ko\nrmmod llc\nrmmod nosuch\ninsmod /nonexistent.ko\n"), 0o644)
	out, stderr, code := runTool(nil, "sim", "--kernel", k.Root, script)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var o simop.Outcome
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, o.Result+" "+strings.Join(o.Log, "|")+" "+o.Name+" "+strings.Join(o.Holders, ","))
	}
	want := []string{
		"ENOENT stp: Unknown symbol llc_sap_close (err -2)|stp: Unknown symbol llc_sap_open (err -2)  ",
		"ok  llc ", "ok  stp ", "EAGAIN   ", "ENOENT   ", "ENOENT   ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, stderr, code := runTool(nil, "sim", "--kernel", k.Root, "/nonexistent-script"); code != 1 || !strings.Contains(stderr, "nonexistent-script") {
		t.Errorf("missing script: %d %q", code, stderr)
	}
	if _, stderr, code := runTool(nil, "sim", "--kernel", "/nonexistent-root", script); code != 1 || !strings.Contains(stderr, "nonexistent-root") {
		t.Errorf("bad kernel: %d %q", code, stderr)
	}
}

func TestExplainJSON(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		out, stderr, code := runTool(nil, "explain", "--kernel", k.Root, "--with-deps", "--json", "bridge")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", k.Release, code, stderr)
		}
		var x Explanation
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatal(err)
		}
		if x.Result != "ok" || len(x.Preloaded) != 2 || len(x.Sections) == 0 || x.CoreSize == 0 || len(x.Relocations) == 0 || len(x.Symbols) == 0 {
			t.Errorf("%s: %+v", k.Release, x)
		}
		for _, s := range x.Sources {
			if s.From == "" || strings.HasPrefix(s.From, "unknown") {
				t.Errorf("%s: the %s of a prepared kernel come from %q", k.Release, s.Fact, s.From)
			}
		}
		stages := map[string]bool{}
		for _, s := range x.Stages {
			stages[s.Stage] = true
		}
		for _, s := range []string{"permission", "copy", "signature", "ELF check", "modinfo", "layout", "symbol resolution", "relocations", "module list", "arguments", "init"} {
			if !stages[s] {
				t.Errorf("%s: no %q stage in %v", k.Release, s, x.Stages)
			}
		}
	}
}

// TestCheckTree: every in-tree module of both kernels loads after its dependencies (the
// staging ones with taint C), as the fidelity runs confirm in the real kernels.
func TestCheckTree(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		out, stderr, code := runTool(nil, "check", "--kernel", k.Root, filepath.Join(k.ModDir(), "kernel"))
		last := out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]
		if code != 0 || !strings.Contains(last, " modules checked against "+k.Release) || strings.Contains(last, " E") {
			t.Errorf("%s: exit %d\n%s\n%s", k.Release, code, tail(out, 10), stderr)
		}
		testenv.Report(t, "gokmod check: %s", last)
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestModelAsNormalUser: the model needs no privilege, only the unpacked packages. Run as
// root (as CI does), the test drops to nobody for the run.
func TestModelAsNormalUser(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	bin, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	// A world-readable view of the kernel root and the binary (hard links: the checkout
	// itself may sit below a directory only root can enter).
	view, err := os.MkdirTemp("", "gokmod-user-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(view)
	src, err := filepath.EvalSymlinks(k.Root) // cp -al copies a link as a link
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-al", src, view+"/root").CombinedOutput(); err != nil {
		t.Fatalf("cp -al %s: %v\n%s", k.Root, err, out)
	}
	if out, err := exec.Command("cp", bin, view+"/gokmod").CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if err := os.Chmod(view, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(view+"/gokmod", "explain", "--kernel", view+"/root", "stp")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "stp: Unknown symbol llc_sap_open (err -2)") {
		t.Errorf("explain as uid 65534: %v\n%s", err, out)
	}
}
