package fidelity

import (
	"os"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/kernel"
)

// TestFidelitySmall is the part of `make fidelity` that runs in `make test`: the
// playground and mutation corpora on every prepared line, amd64 and arm64 (the arm64
// playground cross-built), model against the real kernel. Every
// operation must agree on every field; a disagreement is listed with both values.
func TestFidelitySmall(t *testing.T) {
	gokmod, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	ks := testenv.RequireKernels(t)
	arm := testenv.RequireKernelsArm64(t)
	// A line the model calls judged on x86_64 (explain says so) must be one these guests
	// boot. On aarch64, make setup prepares trixie's line alone (make setup-arm64 all
	// three) to keep make test in its time: a judged aarch64 line this run does not boot
	// is reported, and must be one make setup-arm64 prepares.
	for _, l := range kernel.Lines {
		if l.JudgedOn("x86_64") {
			if _, err := testenv.Lines(ks, l.Version.Line()); err != nil {
				if pin := os.Getenv("GOKMOD_KERNELS"); pin != "" {
					// A pinned set reproduces a failure on some lines; the others are
					// judged by the default run, as CI's.
					testenv.Report(t, "GOKMOD_KERNELS=%q leaves line %s unjudged in this run", pin, l.Version.Line())
					continue
				}
				t.Errorf("kernel.Lines calls %s judged, but no prepared kernel is of that line: %v", l.Version.Line(), err)
			}
		}
		if l.JudgedOn("aarch64") {
			if _, err := testenv.Lines(arm, l.Version.Line()); err != nil {
				testenv.Report(t, "arm64 line %s (judged by make setup-arm64 and make fidelity -arch arm64) is not prepared in this run", l.Version.Line())
			}
		}
	}
	for _, k := range append(ks, arm...) {
		dir, err := WorkDir(k)
		if err != nil {
			t.Fatal(err)
		}
		pg, err := PlaygroundBatch(k, dir)
		if err != nil {
			t.Fatal(err)
		}
		muts, err := MutationBatches(k, dir)
		if err != nil {
			t.Fatal(err)
		}
		tally := NewTally()
		for _, b := range append([]*Batch{pg}, muts...) {
			if err := Compare(tally, gokmod, k, b); err != nil {
				t.Fatalf("%s %s: %v", k.Release, b.Name, err)
			}
		}
		report := tally.Report(k.Release, 50)
		testenv.Report(t, "%s", report)
		if tally.Ops < 90 || tally.FullAgree != tally.Ops || tally.Crashed > 0 {
			t.Errorf("model and kernel disagree:\n%s", report)
		}
	}
}
