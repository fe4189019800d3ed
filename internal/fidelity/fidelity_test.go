package fidelity

import (
	"testing"

	"gokmod/internal/testenv"
	"gokmod/internal/vmtest"
)

// TestFidelitySmall is the part of `make fidelity` that runs in `make test`: the
// playground and mutation corpora on both kernels, model against the real kernel. Every
// operation must agree on every field; a disagreement is listed with both values.
func TestFidelitySmall(t *testing.T) {
	gokmod, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range testenv.RequireKernels(t) {
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
