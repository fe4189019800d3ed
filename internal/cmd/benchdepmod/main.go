// Command benchdepmod times gokmod's depmod, modprobe and modinfo against both kmods
// Debian ships, kmod 30 (Debian 12) and kmod 34.2 (Debian 13 and sid), in one run, on
// the same inputs, alternating the three so that machine noise hits all of them:
//
//   - depmod on a fresh copy of the 6.1 tree (plain .ko), outputs compared byte for byte
//     with kmod 34.2's (gokmod runs with its default behaviour, kmod 34.2's);
//   - depmod on the 6.1 tree and on the 6.12 tree (.ko.xz) after one module was
//     replaced or added (gokmod's per-module cache at work);
//   - depmod on the 6.12 tree (.ko.xz) and on the 6.1 tree recompressed with xz and zstd
//     (when kmod/depmod's tests have cached them);
//   - the pure-Go xz decoders on every .ko.xz of the 6.12 tree, on all cores;
//   - depmod -A on an up-to-date tree;
//   - modprobe -n -v and --show-depends of a PCI alias, modinfo of one module by name,
//     modprobe --version (start-up alone), what kmod 34.2's wrapper script costs, and
//     what gokmod's package initializations cost (modprobe.go).
//
// It prints min/median per command, the ratio of each kmod's median to gokmod's and
// peak RSS, then a summary of the targets of issue 15 and whether each is met. Run it
// with scripts/bench-depmod.sh (which builds bin/gokmod first).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
)

var (
	runs   = flag.Int("n", 7, "runs of each depmod command")
	gokmod = flag.String("gokmod", "bin/gokmod", "gokmod binary")
	plain  = flag.Bool("plain", false, "skip the compressed trees and the xz decoders (minutes)")
	onlyMP = flag.Bool("modprobe", false, "only the modprobe and modinfo rows (seconds)")
)

func main() {
	flag.Parse()
	ks, err := testenv.Kernels()
	must(err)
	ks, err = testenv.Lines(ks, "6.1", "6.12") // the pair these benchmarks were written for
	must(err)
	if _, err := os.Stat(*gokmod); err != nil {
		must(fmt.Errorf("%s: %v (run make build)", *gokmod, err))
	}
	// gokmod, a child of this process, behaves as kmod 34.2, its default.
	must(os.Unsetenv(compat.Env))
	ps := peers()
	la, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("gokmod vs kmod 30 (/usr/sbin) and kmod 34.2 (trixie's, through its own glibc's loader), %s, %d cores, load average now: %s",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), la)
	k61, k612 := ks[0], ks[1]
	if *onlyMP {
		modprobeBench(ps, k61, *runs)
		summary(ps)
		return
	}
	depmodBench(ps, "depmod, 6.1 tree (.ko), fresh copy", k61.ModDir(), k61.Release, *runs)
	// Runs of 50 ms vary more with the machine than runs of 500 ms: three times as many.
	incrementalBench(ps, "6.1 tree (.ko)", k61.ModDir(), k61.Release, ".ko", 3*(*runs))
	if !*plain {
		// kmod reads every module of an xz tree again, 5 s a run: fewer runs.
		incrementalBench(ps, "6.12 tree (.ko.xz)", k612.ModDir(), k612.Release, ".ko.xz", max(*runs-2, 3))
		depmodBench(ps, "depmod, 6.12 tree (.ko.xz), fresh copy", k612.ModDir(), k612.Release, max(*runs/2, 3))
		cache, _ := testenv.Cache()
		// The trees kmod/depmod's tests make: "-zst-fcs" records each frame's content
		// size, as kbuild's zstd does; kmod 34 refuses a .ko.zst without it, so the
		// older "-zst" trees would not compare with kmod 34.2's output.
		for _, m := range []string{"zst-fcs", "xz"} {
			d := filepath.Join(cache, "depmod-trees", k61.Release+"-"+m)
			if _, err := os.Stat(filepath.Join(d, ".ready")); err == nil {
				depmodBench(ps, "depmod, 6.1 tree recompressed ."+strings.TrimSuffix(m, "-fcs"), d, k61.Release, max(*runs/2, 3))
			}
		}
		fmt.Println("pure-Go xz decoders on the 6.12 tree:")
		xzDecoders(k612.ModDir())
	}
	upToDate(ps, k61.ModDir(), k61.Release, 5*(*runs))
	modprobeBench(ps, k61, *runs)
	summary(ps)
}

// target is one of issue 15's must-shows: gokmod's row at least min times as fast as
// each listed peer (indexes into peers()).
type target struct {
	row   string
	min   float64
	peers []int
}

var targets = []target{
	{"depmod, 6.1 tree (.ko), fresh copy", 4, []int{1}},
	{"depmod --cache, 6.12 tree (.ko.xz), one module replaced", 50, []int{1}},
	{"modprobe -n -v of a PCI alias", 1, []int{0, 1}},
	{"depmod -A, tree up to date", 1, []int{0, 1}},
	{"modinfo of one module by name", 1, []int{0, 1}},
}

// summary prints every target with both ratios (kmod's median over gokmod's) and
// whether it is met; rows not run (-plain, -modprobe) say so.
func summary(ps []peer) {
	fmt.Printf("\nsummary: ratio = kmod's median / gokmod's (above 1: gokmod faster); kmod 34.2 run through its loader, without the wrapper's shell\n")
	fmt.Printf("%-58s %10s %10s  %-30s %s\n", "row", ps[0].name, ps[1].name, "target", "met")
	for _, t := range targets {
		r, ok := rows[t.row]
		if !ok {
			fmt.Printf("%-58s %10s %10s  %-30s %s\n", t.row, "-", "-", describe(ps, t), "not run")
			continue
		}
		met := true
		for _, i := range t.peers {
			met = met && r.ratio(i) >= t.min
		}
		verdict := "yes"
		if !met {
			verdict = "NO"
		}
		fmt.Printf("%-58s %9.2fx %9.2fx  %-30s %s\n", t.row, r.ratio(0), r.ratio(1), describe(ps, t), verdict)
	}
}

// describe says a target in words: ">= 4x kmod 34.2".
func describe(ps []peer, t target) string {
	s := fmt.Sprintf(">= %gx", t.min)
	for j, i := range t.peers {
		if j > 0 {
			s += " and"
		}
		s += " " + ps[i].name
	}
	return s
}
