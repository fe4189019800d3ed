package tool

import (
	"io"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod"
)

// BenchmarkModprobeDryRunAlias is modprobe -n -v of a PCI alias in-process, warm: the
// tool's own work without the process start-up that scripts/bench-depmod.sh's rows
// include. For profiling (-cpuprofile); allocations matter because a fresh process
// page-faults in every span it allocates from.
func BenchmarkModprobeDryRunAlias(b *testing.B) {
	k := testenv.RequireLine(b, "6.1")
	args := []string{"modprobe", "-d", k.Root, "-S", k.Release, "-n", "-v", "pci:v00001002d00006798sv00001002sd00000B00bc03sc00i00"}
	b.ReportAllocs()
	for b.Loop() {
		if Main(args, io.Discard, io.Discard, kmod.NewHost()) != 0 {
			b.Fatal("failed")
		}
	}
}
