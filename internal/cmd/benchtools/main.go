// Command benchtools is part of `make bench`: it times gokmod against Debian's kmod in one
// run, on the same inputs, alternating rounds, and prints medians and ratios:
//   - modinfo of every module of the 6.1 tree in one process;
//   - gokmod check of the whole 6.1 tree, beside depmod -e -n on the same tree.
//
// modinfo of one module by name, a start-up race, is benchdepmod's, beside both kmods.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gokmod/internal/testing/benchstat"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
)

func main() {
	rounds := flag.Int("rounds", 5, "rounds per command")
	// -modinfo skips the slow check/depmod comparison when only modinfo is being tuned.
	onlyModinfo := flag.Bool("modinfo", false, "run only the modinfo comparisons")
	flag.Parse()
	if err := run(*rounds, *onlyModinfo); err != nil {
		fmt.Fprintln(os.Stderr, "benchtools:", err)
		os.Exit(1)
	}
}

func run(rounds int, onlyModinfo bool) error {
	ks, err := testenv.Kernels()
	if err == nil {
		ks, err = testenv.Lines(ks, "6.1")
	}
	if err != nil {
		return err
	}
	k := ks[0]
	gokmod, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		return err
	}
	var files []string
	filepath.WalkDir(filepath.Join(k.ModDir(), "kernel"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ko") {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	fmt.Printf("gokmod vs kmod on Debian %s (%d modules), %d rounds each, medians:\n", k.Release, len(files), rounds)
	compare(rounds, fmt.Sprintf("modinfo of all %d modules, one process", len(files)),
		append([]string{"/usr/sbin/modinfo"}, files...), append([]string{gokmod, "modinfo"}, files...), "at least 2x faster")
	if onlyModinfo {
		return nil
	}
	symvers := filepath.Join(k.Headers(), "Module.symvers")
	compare(rounds, "depmod -e -n (kmod) vs gokmod check, whole tree",
		[]string{"/usr/sbin/depmod", "-e", "-n", "-E", symvers, "-b", k.Root, k.Release},
		[]string{gokmod, "check", "--kernel", k.Root, filepath.Join(k.ModDir(), "kernel")}, "check under 2 s")
	return nil
}

// compare times two commands alternately; the first round of each only warms caches.
func compare(rounds int, what string, kmod, gok []string, target string) {
	var tk, tg []time.Duration
	for r := 0; r <= rounds; r++ {
		a, b := timeIt(kmod), timeIt(gok)
		if r > 0 {
			tk, tg = append(tk, a), append(tg, b)
		}
	}
	mk, mg := benchstat.Median(tk), benchstat.Median(tg)
	fmt.Printf("  %-52s kmod %8.1f ms  gokmod %8.1f ms  speed-up %.2fx  (target: %s)\n",
		what, benchstat.MS(mk), benchstat.MS(mg), float64(mk)/float64(mg), target)
}

func timeIt(argv []string) time.Duration {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = nil, nil
	start := time.Now()
	cmd.Run() // exit codes are not the point here; the differential tests check outputs
	return time.Since(start)
}
