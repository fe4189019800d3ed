package depmod_test

import (
	"io"
	"testing"

	"gokmod/internal/testenv"
	"gokmod/kmod/depmod"
)

// BenchmarkDepmodTree is a full depmod, in process, of Debian's 6.1 tree (plain .ko),
// hard-linked into a temporary directory; the files it writes are rewritten each time.
// scripts/bench-depmod.sh times the binary against kmod's.
func BenchmarkDepmodTree(b *testing.B) {
	k := testenv.RequireKernels(b)[0]
	root := b.TempDir()
	copyTree(b, k.ModDir(), root, k.Release)
	o := depmod.Options{BaseDir: root, KernelRelease: k.Release, Stdout: io.Discard, Stderr: io.Discard}
	for b.Loop() {
		if err := depmod.Run(o); err != nil {
			b.Fatal(err)
		}
	}
}
