package fidelity

import (
	"testing"

	"gokmod/internal/simop"
)

// TestRuntimeTaints: taints that module code sets while it runs (a WARN's W, or S from a
// driver for other hardware, as snic's init on arm64) are counted apart and left out of
// the comparison from then on; a taint only the loader sets (E, O) still has to agree.
func TestRuntimeTaints(t *testing.T) {
	ok := func(name, taint string) simop.Outcome {
		return simop.Outcome{Op: simop.Insmod, Arg: name + ".ko", Result: "ok", Name: name, Taint: taint}
	}
	tl := NewTally()
	op := simop.Op{Kind: simop.Insmod, Arg: "x.ko"}
	tl.Add("b", 0, op, ok("a", "E"), ok("a", "E"), false)
	tl.Add("b", 1, op, ok("snic", "SE"), ok("snic", "E"), false) // snic's init taints S
	tl.Add("b", 2, op, ok("c", "SE"), ok("c", "E"), false)       // S stays: nothing new
	tl.Add("b", 3, op, ok("d", "WSE"), ok("d", "E"), false)      // a WARN in d's init
	tl.Add("b", 4, op, ok("e", "WSOE"), ok("e", "E"), false)     // O is the loader's: must agree
	if tl.Ops != 5 || tl.FullAgree != 4 || tl.InitWarned != 2 {
		t.Errorf("ops %d, fully agree %d, runtime-tainted %d: want 5, 4, 2 (diffs %+v)", tl.Ops, tl.FullAgree, tl.InitWarned, tl.Diffs)
	}
	if len(tl.Diffs) != 1 || tl.Diffs[0].Field != "taint" || tl.Diffs[0].Real != "OE" {
		t.Errorf("diffs %+v: want the one taint disagreement, O", tl.Diffs)
	}
}
