package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"gokmod/internal/testing/testenv"
)

// alias is the PCI alias the modprobe rows resolve (radeon and amdgpu, with their
// dependencies, on Debian's trees).
const alias = "pci:v00001002d00006798sv00001002sd00000B00bc03sc00i00"

// modprobeBench times modprobe's read-only runs (-n, --show-depends with -d/-S: nothing
// is loaded) and modinfo of one module by name, then splits a modprobe run into
// start-up and the tool's own work. A modprobe run lasts about 2 ms, most of it starting
// the process: the --version row measures that part alone, and the difference of medians
// is what each tool's lookup costs.
func modprobeBench(ps []peer, k61 testenv.Kernel, runs int) {
	tree := []string{"-d", k61.Root, "-S", k61.Release}
	dry := alternate(ps, "modprobe -n -v of a PCI alias", "modprobe", 10*runs, append(tree, "-n", "-v", alias)...)
	alternate(ps, "modprobe --show-depends of a PCI alias", "modprobe", 10*runs, append(tree, "--show-depends", alias)...)
	alternate(ps, "modprobe -n -v btrfs", "modprobe", 10*runs, append(tree, "-n", "-v", "btrfs")...)
	// A run is about 2 ms, so many runs: the median of few is at the mercy of the
	// scheduler.
	alternate(ps, "modinfo of one module by name", "modinfo", 10*runs, "-b", k61.Root, "-k", k61.Release, "snd-hda-intel")
	version := alternate(ps, "modprobe --version (start-up alone)", "modprobe", 10*runs, "--version")
	fmt.Print("  modprobe -n -v of the alias past start-up (difference of medians):")
	for i, p := range ps {
		fmt.Printf(" %s %v,", p.name, (dry.kmod[i].median() - version.kmod[i].median()).Round(time.Microsecond))
	}
	fmt.Printf(" gokmod %v\n", (dry.gok.median() - version.gok.median()).Round(time.Microsecond))
	wrapperCost(10 * runs)
	initCost(10 * runs)
}

// initCost reports what gokmod's package initializations cost per run, from the Go
// runtime's own trace (GODEBUG=inittrace=1), and the part the decompressors' packages
// take: they build CRC tables at initialization (hash/crc32's SSE4.2 Castagnoli tables
// for klauspost/compress's snappy converter, hash/crc64's for xz), in every run of every
// tool, whether it decompresses anything or not.
func initCost(n int) {
	per := map[string]time.Duration{}
	var totals []time.Duration
	for range n {
		cmd := exec.Command(*gokmod, "modprobe", "--version")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var se bytes.Buffer
		cmd.Stderr = &se
		must(cmd.Run())
		sc := bufio.NewScanner(&se)
		var total time.Duration
		for sc.Scan() {
			// init PKG @0.81 ms, 0.056 ms clock, 0 bytes, 0 allocs
			f := strings.Fields(sc.Text())
			if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
				continue
			}
			v, err := strconv.ParseFloat(f[4], 64)
			must(err)
			d := time.Duration(v * float64(time.Millisecond))
			per[f[1]] += d
			total += d
		}
		totals = append(totals, total)
	}
	if len(per) == 0 {
		must(fmt.Errorf("%s: no inittrace lines from GODEBUG=inittrace=1", *gokmod))
	}
	var sum, decoders time.Duration
	var names []string
	for p, d := range per {
		sum += d
		if strings.HasPrefix(p, "github.com/klauspost/") || strings.HasPrefix(p, "github.com/therootcompany/") {
			decoders += d
		}
		names = append(names, p)
	}
	slices.Sort(totals)
	slices.SortFunc(names, func(a, b string) int { return int(per[b] - per[a]) })
	avg := func(d time.Duration) time.Duration { return (d / time.Duration(n)).Round(time.Microsecond) }
	fmt.Printf("gokmod's package initialization (GODEBUG=inittrace=1, modprobe --version, %d runs): median %v, mean %v in %d packages, of which the zstd and xz decoders' %v\n",
		n, totals[n/2].Round(time.Microsecond), avg(sum), len(per), avg(decoders))
	for _, p := range names[:min(6, len(names))] {
		fmt.Printf("    %-50s %v\n", p, avg(per[p]))
	}
}
