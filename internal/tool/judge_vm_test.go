package tool_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/internal/tool"
	"gokmod/kmod"
)

// TestJudgeInGuest checks the real side of the fidelity contract on 6.1 against facts
// measured by hand in the guest (VM_RECIPE.md §4–§5): minix's sizes, stp's unknown
// symbols, holders, EEXIST, in-use EAGAIN, ENOENT, and the log and taints of a forced
// load.
func TestJudgeInGuest(t *testing.T) {
	// Guests run beside each other, two at a time (-parallel is GOMAXPROCS): QEMU's TCG
	// keeps one core per guest busy, and the host tests, which change GOKMOD_KMOD in this
	// process, have finished before parallel tests resume.
	t.Parallel()
	k := testenv.RequireLine(t, "6.1")
	script := `insmod kernel/fs/minix/minix.ko
insmod kernel/fs/minix/minix.ko
rmmod minix
insmod kernel/net/802/stp.ko
insmod kernel/net/llc/llc.ko
insmod kernel/net/802/stp.ko
rmmod llc
rmmod stp
rmmod llc
rmmod nosuch
insmod-force kernel/fs/minix/minix.ko
rmmod-force minix
`
	vm, err := vmtest.Boot(vmtest.Config{Kernel: k, Modules: []string{"minix", "stp"},
		Files: []vmtest.File{{Guest: "script", Data: []byte(script)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	r, err := vm.Run(vmtest.JudgePath + " script")
	if err != nil {
		t.Fatal(err)
	}
	if r.Exit != 0 {
		t.Fatalf("exit %d: %s", r.Exit, r.Stderr)
	}
	var outs []simop.Outcome
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var o simop.Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		outs = append(outs, o)
	}
	if len(outs) != 12 {
		t.Fatalf("got %d outcomes:\n%s", len(outs), r.Stdout)
	}
	want := []struct {
		result, taint, name string
		log                 string
	}{
		{"ok", "", "minix", ""},
		{"EEXIST", "", "", ""},
		{"ok", "", "", ""},
		{"ENOENT", "", "", "stp: Unknown symbol llc_sap_close (err -2)|stp: Unknown symbol llc_sap_open (err -2)"},
		{"ok", "", "llc", ""},
		{"ok", "", "stp", ""},
		{"EAGAIN", "", "", ""},
		{"ok", "", "", ""},
		{"ok", "", "", ""},
		{"ENOENT", "", "", ""},
		// A forced load taints F, and E because the signature is not checked at all.
		{"ok", "FE", "minix", "minix: module_layout: kernel tainted.|Disabling lock debugging due to kernel taint|minix: module verification failed: signature and/or required key missing - tainting kernel"},
		// O_TRUNC on a module nobody uses needs no forcing: no R taint.
		{"ok", "FE", "", ""},
	}
	for i, w := range want {
		o := outs[i]
		if o.Result != w.result || o.Taint != w.taint || o.Name != w.name || strings.Join(o.Log, "|") != w.log {
			t.Errorf("op %d (%s %s): got %+v, want %+v", i+1, o.Op, o.Arg, o, w)
		}
	}
	if c := outs[0].CoreSize; c == nil || *c != 49152 || *outs[0].InitSize != 0 || *outs[0].RefCnt != 0 {
		t.Errorf("minix sizes: %s", strings.Split(r.Stdout, "\n")[0])
	}
	if c := outs[10].CoreSize; c == nil || *c != 57344 {
		t.Errorf("forced minix keeps __versions, coresize 57344: %s", strings.Split(r.Stdout, "\n")[10])
	}

	// Hostile files in the real kernel: finit_module on a FIFO, a character device and a
	// directory is EINVAL (kernel_read_file's S_ISREG), on an empty file too (i_size 0);
	// init of anything but a regular file is refused in user space, EINVAL, as sim does;
	// nothing hangs. The model says the same (TestSimHostileFiles).
	if r, err := vm.Run("mkfifo /tmp/fifo.ko && mkdir /tmp/dir.ko && : > /tmp/empty.ko && ln -s /dev/zero /tmp/zero.ko"); err != nil || r.Exit != 0 {
		t.Fatalf("making hostile files: %v %+v", err, r)
	}
	hostile := "insmod /tmp/fifo.ko\ninit /tmp/fifo.ko\ninsmod /dev/null\ninsmod /tmp/zero.ko\ninit /tmp/zero.ko\ninsmod /tmp/dir.ko\ninsmod /tmp/empty.ko\n"
	r, err = vm.RunStdin(vmtest.JudgePath+" -", hostile)
	if err != nil || r.Exit != 0 {
		t.Fatalf("judge of hostile files: %v %+v", err, r)
	}
	var results []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var o simop.Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		results = append(results, o.Op+" "+o.Arg+" "+o.Result)
	}
	wantHostile := "insmod /tmp/fifo.ko EINVAL|init /tmp/fifo.ko EINVAL|insmod /dev/null EINVAL|insmod /tmp/zero.ko EINVAL|init /tmp/zero.ko EINVAL|insmod /tmp/dir.ko EINVAL|insmod /tmp/empty.ko EINVAL"
	if got := strings.Join(results, "|"); got != wantHostile {
		t.Errorf("hostile files in the guest:\n got %s\nwant %s", got, wantHostile)
	}

	// judge refuses without the guest's marker file, even here.
	r, err = vm.RunStdin("mv /etc/gokmod-test-guest /tmp/marker; "+vmtest.JudgePath+" -; s=$?; mv /tmp/marker /etc/gokmod-test-guest; exit $s", "rmmod nosuch\n")
	if err != nil || r.Exit != 2 || r.Stdout != "" || !strings.Contains(r.Stderr, "refusing to run") {
		t.Errorf("judge without the marker: %v %+v", err, r)
	}

	// gokmod explain, offline on the host, prints the very lines the real kernel logged
	// for stp without llc, and the fix.
	var o, e bytes.Buffer
	code := tool.Main([]string{"gokmod", "explain", "--kernel", k.Root, "stp"}, &o, &e, kmod.NewHost())
	if code != 1 {
		t.Errorf("explain stp: exit %d, stderr %s", code, e.String())
	}
	for _, want := range append(outs[3].Log, "Verdict: ENOENT", "fix: load llc first", "gokmod modprobe stp") {
		if !strings.Contains(o.String(), want) {
			t.Errorf("explain stp lacks %q:\n%s", want, o.String())
		}
	}
}
