// Command fidelity is `make fidelity`: the same operation scripts run in the real kernel
// (Debian's, in QEMU, through the guests' judge, internal/cmd/judge) and through the
// model (`gokmod sim`), and the outcomes are compared field by field.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gokmod/internal/testing/fidelity"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
)

func main() {
	corpus := flag.String("corpus", "full", "small (playground and mutations) or full (also every module of each tree)")
	per := flag.Int("per", 250, "load operations per guest for the tree corpus")
	only := flag.String("kernel", "", "only the kernel whose release contains this")
	arch := flag.String("arch", "amd64", "the architecture of the kernels: amd64 (scripts/setup.sh's) or arm64 (scripts/setup-arm64.sh's, qemu-system-aarch64 under TCG)")
	maxDiffs := flag.Int("diffs", 200, "disagreements to print per kernel")
	fromRaw := flag.Bool("from-raw", false, "recompute the report from the outcomes saved by earlier runs; boot nothing")
	flag.Parse()
	if *fromRaw {
		if err := report(*arch, *only, *maxDiffs); err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*arch, *corpus, *per, *only, *maxDiffs); err != nil {
		fmt.Fprintln(os.Stderr, "fidelity:", err)
		os.Exit(1)
	}
}

// kernels returns the prepared kernels of arch.
func kernels(arch string) ([]testenv.Kernel, error) {
	switch arch {
	case testenv.ArchAmd64:
		return testenv.Kernels()
	case testenv.ArchArm64:
		return testenv.KernelsArm64()
	}
	return nil, fmt.Errorf("-arch %q: amd64 or arm64", arch)
}

func run(arch, corpus string, per int, only string, maxDiffs int) error {
	ks, err := kernels(arch)
	if err != nil {
		return err
	}
	gokmod, err := vmtest.StaticBinary("gokmod/cmd/gokmod")
	if err != nil {
		return err
	}
	start := time.Now()
	var reports []string
	for _, k := range ks {
		if only != "" && !strings.Contains(k.Release, only) {
			continue
		}
		t, err := kernel(k, gokmod, corpus, per)
		if err != nil {
			return fmt.Errorf("%s: %w", k.Release, err)
		}
		reports = append(reports, t.Report(k.Release, maxDiffs))
	}
	report := strings.Join(reports, "\n") + fmt.Sprintf("\n(%s, corpus %s, %.0f s)\n", arch, corpus, time.Since(start).Seconds())
	fmt.Print(report)
	if cache, err := testenv.Cache(); err == nil {
		os.MkdirAll(cache, 0o755)
		name := "fidelity-report.txt"
		if arch != testenv.ArchAmd64 {
			name = "fidelity-report-" + arch + ".txt"
		}
		os.WriteFile(filepath.Join(cache, name), []byte(report), 0o644)
	}
	return nil
}

// report prints the tallies recomputed from saved outcomes.
func report(arch, only string, maxDiffs int) error {
	ks, err := kernels(arch)
	if err != nil {
		return err
	}
	for _, k := range ks {
		if only != "" && !strings.Contains(k.Release, only) {
			continue
		}
		t, err := fidelity.FromRaw(k)
		if err != nil {
			return err
		}
		fmt.Print(t.Report(k.Release, maxDiffs), "\n")
	}
	return nil
}

func kernel(k testenv.Kernel, gokmod, corpus string, per int) (*fidelity.Tally, error) {
	dir, err := fidelity.WorkDir(k)
	if err != nil {
		return nil, err
	}
	pg, err := fidelity.PlaygroundBatch(k, dir)
	if err != nil {
		return nil, err
	}
	muts, err := fidelity.MutationBatches(k, dir)
	if err != nil {
		return nil, err
	}
	batches := append([]*fidelity.Batch{pg}, muts...)
	if corpus == "full" {
		tree, err := fidelity.TreeBatches(k, per)
		if err != nil {
			return nil, err
		}
		batches = append(batches, tree...)
	}
	t := fidelity.NewTally()
	for _, b := range batches {
		seen := len(t.Diffs)
		if err := fidelity.Compare(t, gokmod, k, b); err != nil {
			return nil, fmt.Errorf("batch %s: %w", b.Name, err)
		}
		for _, d := range t.Diffs[seen:] {
			fmt.Fprintf(os.Stderr, "[fidelity] DIFF %s#%d %s %s: %s: real %q, model %q\n", d.Batch, d.Index+1, d.Op.Kind, d.Op.Arg, d.Field, d.Real, d.Pred)
		}
		fmt.Fprintf(os.Stderr, "[fidelity] %s %s: %d ops, running total %d compared, %d fully agree\n", k.Release, b.Name, len(b.Ops), t.Ops, t.FullAgree)
	}
	return t, nil
}
