package fidelity

import (
	"os"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/kernel"
)

// TestFidelitySmall is the part of `make fidelity` that runs in `make test`: the
// playground and mutation corpora on every prepared line, model against the real kernel. Every
// operation must agree on every field; a disagreement is listed with both values.
func TestFidelitySmall(t *testing.T) {
	gokmod, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	ks := testenv.RequireKernels(t)
	// A line the model calls judged (explain says so) must be one these guests boot.
	for _, l := range kernel.Lines {
		if !l.Judged {
			continue
		}
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
	for _, k := range ks {
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
