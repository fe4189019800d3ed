package depmod_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/depmod"
)

// pointerRE matches the pointers libkmod's INFO lines print (%p): each process has its own.
var pointerRE = regexp.MustCompile(`(function |context )0x[0-9a-f]+`)

// TestVerboseAgainstKmod compares depmod -vv with kmod 30 and kmod 34.2 on copies of the
// 6.1 tree: libkmod's "custom logging function registered" and "context released" INFO
// lines (kmod 30's with its debug build's source locations) among -v's lines, on a
// plain run, a dry run, a FATAL exit (no release) and an up-to-date -A (no context).
func TestVerboseAgainstKmod(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	for _, r := range releases(t) {
		t.Run(r.String(), func(t *testing.T) {
			tmp := t.TempDir()
			kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
			copyTree(t, k.ModDir(), kroot, k.Release)
			copyTree(t, k.ModDir(), groot, k.Release)
			missing := filepath.Join(tmp, "no-System.map")
			infos := 0
			for _, c := range []struct {
				name string
				args []string
				o    depmod.Options
			}{
				{"-vv", []string{"-vv"}, depmod.Options{Verbose: 2}},
				{"-vv -n", []string{"-vv", "-n"}, depmod.Options{Verbose: 2, DryRun: true}},
				{"-vv -F missing", []string{"-vv", "-F", missing}, depmod.Options{Verbose: 2, SystemMap: missing}},
				{"-vv -A", []string{"-vv", "-A"}, depmod.Options{Verbose: 2, Quick: true}},
			} {
				kr := r.run(t, kroot, k.Release, c.args...)
				gr := runGo(t, groot, k.Release, r.options(c.o))
				kr.stderr = pointerRE.ReplaceAllString(kr.stderr, "${1}0xPTR")
				gr.stderr = pointerRE.ReplaceAllString(gr.stderr, "${1}0xPTR")
				compare(t, c.name, kr, gr, kroot, groot)
				infos += strings.Count(kr.stderr, ": INFO: ")
			}
			if infos != 5 { // registered and released in the two full runs, registered before FATAL
				t.Fatalf("kmod %s printed %d INFO lines in the four runs, want 5", r, infos)
			}
			testenv.Report(t, "depmod -vv, %s, %s: a run, -n, a FATAL exit and -A identical with pointers masked (%d INFO lines)", k.Release, r, infos)
		})
	}
}
