package fidelity

import (
	"strings"
	"testing"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
)

// TestLockdownSignatures boots each kernel once per command line of LockdownCmdlines
// and loads Debian-signed, unsigned, untrusted-signed and corrupt-signed modules (and,
// under lockdown, a hardware parameter): the model must agree with the guest on every
// operation's errno, loader log lines, taint and module list. The guest must also have
// shown what each boot is for — an EPERM with a Lockdown line under lockdown=, an
// EKEYREJECTED for an unsigned module under sig_enforce, a module of an unknown key
// loading with taint E without either — so that a boot option the guest ignored
// cannot pass unnoticed.
func TestLockdownSignatures(t *testing.T) {
	gokmod, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range testenv.RequireKernels(t) {
		// A directory of its own: WorkDir empties the kernel's shared one, which a
		// fidelity run in another checkout using the same cache may be reading.
		batches, err := LockdownBatches(k, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		tally := NewTally()
		for _, b := range batches {
			real, crashed, err := Real(k, b)
			if err != nil {
				t.Fatalf("%s %s: %v", k.Release, b.Name, err)
			}
			if crashed >= 0 {
				t.Fatalf("%s %s: the guest died during operation %d (%s %s)", k.Release, b.Name, crashed+1, b.Ops[crashed].Kind, b.Ops[crashed].Arg)
			}
			pred, err := Model(gokmod, k, b, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", k.Release, b.Name, err)
			}
			for i := range real {
				tally.Add(b.Name, i, b.Ops[i], real[i], pred[i], false)
			}
			saveRaw(k, b, real, pred, make([]bool, len(real)))
			if why := missingEvidence(b, real); why != "" {
				t.Errorf("%s %s (%q): the guest did not show what the boot is for: %s", k.Release, b.Name, b.Append, why)
			}
		}
		report := tally.Report(k.Release+" (signatures and lockdown)", 50)
		testenv.Report(t, "%s", report)
		if tally.Ops == 0 || tally.FullAgree != tally.Ops || tally.InitFailed > 0 {
			t.Errorf("model and kernel disagree:\n%s", report)
		}
	}
}

// missingEvidence checks the real outcomes for the effect of the batch's command line.
func missingEvidence(b *Batch, real []simop.Outcome) string {
	has := func(pred func(i int, o simop.Outcome) bool) bool {
		for i, o := range real {
			if pred(i, o) {
				return true
			}
		}
		return false
	}
	unsignedLoad := func(i int) bool {
		return b.Ops[i].Kind == simop.Insmod && strings.HasSuffix(b.Ops[i].Arg, "/minix-unsigned.ko")
	}
	switch {
	case strings.Contains(b.Append, "lockdown="):
		if !has(func(i int, o simop.Outcome) bool {
			return unsignedLoad(i) && o.Result == "EPERM" && strings.Contains(strings.Join(o.Log, "\n"), "Lockdown: ")
		}) {
			return "no EPERM with a Lockdown line for the unsigned module"
		}
	case strings.Contains(b.Append, "module.sig_enforce=1"):
		if !has(func(i int, o simop.Outcome) bool { return unsignedLoad(i) && o.Result == "EKEYREJECTED" }) {
			return "the unsigned module was not rejected with EKEYREJECTED"
		}
	default:
		if !has(func(i int, o simop.Outcome) bool {
			return strings.HasSuffix(b.Ops[i].Arg, "/minix-untrusted.ko") && o.Result == "ok" && strings.Contains(o.Taint, "E")
		}) {
			return "the module signed by an unknown key did not load with taint E"
		}
	}
	return ""
}
