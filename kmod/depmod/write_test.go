package depmod_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"gokmod/internal/testenv"
	"gokmod/kmod/depmod"
)

// TestWriteFailureAgainstKmod makes one output impossible to rename (a directory stands
// where the file goes) and checks that gokmod, which writes its temporary files ahead on
// all cores, still fails as kmod does: the same messages, the outputs before that one
// renamed, none after it, and the same files left in the directory.
func TestWriteFailureAgainstKmod(t *testing.T) {
	k := testenv.RequireKernels(t)[0]
	tempName := regexp.MustCompile(`\.[0-9]+\.[0-9]+\.[0-9]+`)
	listing := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, tempName.ReplaceAllString(e.Name(), ".PID.USEC.SEC"))
		}
		slices.Sort(names)
		return names
	}
	for _, blocked := range []string{"modules.dep", "modules.alias.bin", "modules.devname"} {
		t.Run(blocked, func(t *testing.T) {
			tmp := t.TempDir()
			kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
			kdir := subTree(t, k.ModDir(), kroot, k.Release, "kernel/drivers/net", false)
			gdir := subTree(t, k.ModDir(), groot, k.Release, "kernel/drivers/net", false)
			for _, dir := range []string{kdir, gdir} {
				if err := os.MkdirAll(filepath.Join(dir, blocked, "x"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			kr := runKmod(t, kroot, k.Release)
			gr := runGo(t, groot, k.Release, depmod.Options{})
			if kr.exit == 0 {
				t.Fatalf("kmod's depmod did not fail: %s", kr.stderr)
			}
			kr.stderr = tempName.ReplaceAllString(kr.stderr, ".PID.USEC.SEC")
			gr.stderr = tempName.ReplaceAllString(gr.stderr, ".PID.USEC.SEC")
			compare(t, blocked, kr, gr, kroot, groot)
			if kl, gl := listing(kdir), listing(gdir); !slices.Equal(kl, gl) {
				t.Errorf("files left: kmod %v, gokmod %v", kl, gl)
			}
		})
	}
}
