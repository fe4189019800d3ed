package vmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testenv"
)

// TestArm64Guest boots Debian's arm64 6.12 kernel once under qemu-system-aarch64 (TCG)
// with trixie's arm64 busybox and kmod 34.2 and a GOARCH=arm64 gokmod, and checks the
// harness's contract there: the guest is the aarch64 kernel asked for; kmod's modprobe
// and gokmod's load modules with their dependencies; /proc/modules, /sys/module's
// coresize and sections agree with each other; insmod and rmmod work through both kmod
// and gokmod; and gokmod's lsmod prints exactly what kmod's prints, loaded and unloaded.
// TCG arm64 is slow: one boot, a few commands, and the times reported.
func TestArm64Guest(t *testing.T) {
	ks, err := testenv.Lines(testenv.RequireKernelsArm64(t), "6.12")
	if err != nil {
		t.Fatal(err)
	}
	arm64Guest(t, ks[0])
}

// arm64Guest is TestArm64Guest on kernel k.
func arm64Guest(t *testing.T, k testenv.Kernel) {
	// The guest's binaries first (a cold build cache takes minutes for arm64), so that
	// the boot time reported is the guest's own.
	start := time.Now()
	for _, pkg := range []string{"gokmod/internal/testing/vmtest/agent", "gokmod/cmd/gokmod", "gokmod/internal/cmd/judge"} {
		if _, err := StaticBinaryFor(pkg, k.GoArch()); err != nil {
			t.Fatal(err)
		}
	}
	build := time.Since(start)
	start = time.Now()
	vm, err := Boot(Config{Kernel: k, Kmod: testenv.DistroKmod(k), Modules: []string{"dummy", "minix", "cast5_generic", "cast6_generic", "twofish_generic"}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	boot := time.Since(start)
	var times []string
	run := func(what, cmd string) *Result {
		t.Helper()
		s := time.Now()
		r, err := vm.Run(cmd)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, fmt.Sprintf("%s %v", what, time.Since(s).Round(time.Millisecond)))
		if r.Exit != 0 {
			t.Errorf("%s: %q exited %d\nstdout: %s\nstderr: %s\nkernel: %s", what, cmd, r.Exit, r.Stdout, r.Stderr, r.KmsgText())
		}
		return r
	}

	// gokmod's tools behave as the guest's kmod, its suite's (trixie's 34.2 for 6.12).
	// (kmod -V: kmod 30's lsmod takes no -V, a deliberate difference of gokmod's.)
	r := run("uname", "uname -m; uname -r; /bin/kmod -V | head -1; "+GokmodDir+"/kmod -V | head -1")
	f := strings.Split(r.Stdout, "\n")
	if len(f) < 4 || f[0] != "aarch64" || f[1] != k.Release || !strings.HasPrefix(f[2], "kmod version ") || f[3] != f[2] {
		t.Errorf("guest identity: got %q: want aarch64, %s, and kmod's version line twice", r.Stdout, k.Release)
	}
	sameLsmod := func(what string) string {
		t.Helper()
		r := run("lsmod "+what, KmodDir+"/lsmod; echo ===; "+GokmodDir+"/lsmod")
		kmod, gok, _ := strings.Cut(r.Stdout, "===\n")
		if kmod != gok {
			t.Errorf("lsmod %s: gokmod's differs from kmod's\nkmod:\n%sgokmod:\n%s", what, kmod, gok)
		}
		return kmod
	}
	sameLsmod("at boot")

	// Dependencies: cast5_generic and cast6_generic both need cast_common,
	// twofish_generic needs twofish_common (modules.dep of the staged tree).
	run("modprobe", KmodDir+"/modprobe cast5_generic && "+KmodDir+"/modprobe cast6_generic && "+GokmodDir+"/modprobe twofish_generic")
	loaded := sameLsmod("after modprobe")
	for _, m := range []string{"cast5_generic", "cast6_generic", "cast_common", "twofish_generic", "twofish_common"} {
		if !strings.Contains(loaded, "\n"+m+" ") {
			t.Errorf("%s is not loaded after modprobe:\n%s", m, loaded)
		}
	}

	// /proc/modules' size is the module's core size (mod->mem sizes summed, 6.4+), which
	// /sys/module/NAME/coresize also shows; each module's sections directory lists the
	// allocated sections with their addresses.
	r = run("sizes and sections", `for m in cast5_generic cast_common twofish_generic; do
  echo "$m $(grep "^$m " /proc/modules | cut -d' ' -f2) $(cat /sys/module/$m/coresize) $(cat /sys/module/$m/initsize)"
  echo "sections $(ls -A /sys/module/$m/sections | tr '\n' ' ')"
done`)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("sizes and sections: %q", r.Stdout)
	}
	var sections []string
	for i := 0; i < 6; i += 2 {
		f := strings.Fields(lines[i])
		if len(f) != 4 || f[1] != f[2] {
			t.Errorf("/proc/modules size and coresize differ: %q", lines[i])
		}
		if n, err := strconv.Atoi(f[1]); err != nil || n == 0 {
			t.Errorf("%s: size %q", f[0], f[1])
		}
		// arm64's module.lds gives every module a .plt, which module_frob_arch_sections
		// sizes to at least one entry (arch/arm64/kernel/module-plts.c), so it is never
		// an empty section left out of the directory.
		if !strings.Contains(lines[i+1], " .plt ") || !strings.Contains(lines[i+1], " .gnu.linkonce.this_module ") {
			t.Errorf("%s's sections lack .plt or .gnu.linkonce.this_module: %q", f[0], lines[i+1])
		}
		sections = append(sections, f[0]+": "+strings.TrimPrefix(lines[i+1], "sections "))
	}

	// insmod and rmmod, each through both tools.
	r = run("insmod/rmmod", "set -e; d=/lib/modules/$(uname -r)/kernel; "+
		KmodDir+"/insmod $d/fs/minix/minix.ko*; "+GokmodDir+"/insmod $d/drivers/net/dummy.ko*; "+
		"grep -c '^minix \\|^dummy ' /proc/modules; "+
		GokmodDir+"/rmmod minix; "+KmodDir+"/rmmod dummy; grep -c '^minix \\|^dummy ' /proc/modules || true")
	if r.Stdout != "2\n0\n" {
		t.Errorf("insmod/rmmod: got %q, want 2 then 0 modules", r.Stdout)
	}
	// cast_common stays while cast6_generic uses it, and goes with it.
	r = run("modprobe -r", GokmodDir+"/modprobe -r cast5_generic && grep -o '^cast_common [0-9]* 1 cast6_generic' /proc/modules && "+
		KmodDir+"/modprobe -r cast6_generic twofish_generic")
	if left := sameLsmod("after modprobe -r"); strings.Contains(left, "cast") || strings.Contains(left, "twofish") {
		t.Errorf("modules left after modprobe -r:\n%s", left)
	}

	// The fidelity tests' judge, built for arm64, makes the raw calls and reports them.
	r = run("judge", "cd /lib/modules/$(uname -r) && printf 'insmod %s\nrmmod minix\n' kernel/fs/minix/minix.ko* | "+JudgePath+" -")
	var outs []simop.Outcome
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var o simop.Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("judge: %q: %v", line, err)
		}
		outs = append(outs, o)
	}
	if len(outs) != 2 || outs[0].Result != "ok" || outs[0].Name != "minix" || outs[0].CoreSize == nil || *outs[0].CoreSize == 0 || outs[1].Result != "ok" {
		t.Errorf("judge: %s", r.Stdout)
	}
	model := arm64Model(t, k, outs)
	testenv.Report(t, "arm64 %s (%s): guest binaries built in %v; initramfs made and booted to the agent in %v (qemu-system-aarch64, TCG); commands: %s; sections: %s; judge: %s; %s",
		k.Release, k.Version(), build.Round(time.Millisecond), boot.Round(time.Millisecond), strings.Join(times, ", "), strings.Join(sections, "; "), strings.TrimSpace(r.Stdout), model)
}

// arm64Model runs the judge's operations through the model (`gokmod sim` on this
// machine, against the arm64 packages as they come) and compares what the real arm64
// kernel showed: result, taint, log lines, coresize and initsize, which on arm64 include
// the .plt and .init.plt module_frob_arch_sections sized; explain --json's PLT count is
// reported beside them (the kernel shows no count of its own).
func arm64Model(t *testing.T, k testenv.Kernel, real []simop.Outcome) string {
	t.Helper()
	raw, err := k.RawRoot()
	if err != nil {
		t.Fatal(err)
	}
	gokmod, err := StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for _, o := range real {
		fmt.Fprintf(&script, "%s %s\n", o.Op, o.Arg)
	}
	path := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(path, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gokmod, "sim", "--kernel", raw, "--comm", filepath.Base(JudgePath), path).Output()
	if err != nil {
		t.Fatalf("gokmod sim on %s: %v", raw, err)
	}
	var pred []simop.Outcome
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var o simop.Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("gokmod sim: %q: %v", line, err)
		}
		pred = append(pred, o)
	}
	if len(pred) != len(real) {
		t.Fatalf("gokmod sim: %d outcomes for %d operations:\n%s", len(pred), len(real), out)
	}
	size := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	for i := range real {
		r, p := real[i], pred[i]
		if r.Result != p.Result || r.Taint != p.Taint || strings.Join(r.Log, "|") != strings.Join(p.Log, "|") ||
			size(r.CoreSize) != size(p.CoreSize) || size(r.InitSize) != size(p.InitSize) {
			t.Errorf("%s %s: the arm64 kernel said %s taint %q log %q coresize %s initsize %s; the model %s taint %q log %q coresize %s initsize %s",
				r.Op, r.Arg, r.Result, r.Taint, r.Log, size(r.CoreSize), size(r.InitSize), p.Result, p.Taint, p.Log, size(p.CoreSize), size(p.InitSize))
		}
	}
	ex, err := exec.Command(gokmod, "explain", "--json", "--kernel", raw, filepath.Join(raw, "usr/lib/modules", k.Release, real[0].Arg)).Output()
	if err != nil {
		// The classic layout keeps modules in lib/modules.
		ex, err = exec.Command(gokmod, "explain", "--json", "--kernel", raw, filepath.Join(raw, "lib/modules", k.Release, real[0].Arg)).Output()
	}
	if err != nil {
		t.Fatalf("gokmod explain --json %s: %v", real[0].Arg, err)
	}
	var x struct {
		PLT      json.RawMessage `json:"plt"`
		CoreSize int64           `json:"coresize"`
		InitSize int64           `json:"initsize"`
	}
	if err := json.Unmarshal(ex, &x); err != nil || len(x.PLT) == 0 {
		t.Fatalf("gokmod explain --json %s: no PLT count (%v):\n%s", real[0].Arg, err, ex)
	}
	if r := real[0]; size(r.CoreSize) != strconv.FormatInt(x.CoreSize, 10) || size(r.InitSize) != strconv.FormatInt(x.InitSize, 10) {
		t.Errorf("explain %s: coresize %d initsize %d, the arm64 kernel %s %s", r.Arg, x.CoreSize, x.InitSize, size(r.CoreSize), size(r.InitSize))
	}
	var plt bytes.Buffer
	json.Compact(&plt, x.PLT)
	return fmt.Sprintf("the model (sim, explain) agrees: %s coresize %d initsize %d, PLTs %s", real[0].Name, x.CoreSize, x.InitSize, plt.String())
}
