package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gokmod/internal/testing/testenv"
)

// modprobeBench times modprobe's read-only runs (-n, --show-depends with -d/-S: nothing
// is loaded), then splits a run into start-up and the tool's own work. A modprobe run
// lasts about 2 ms, most of it starting the process: the --version row measures that
// part alone, and the difference of medians is what each tool's lookup costs.
func modprobeBench(k61 testenv.Kernel, runs int) {
	alias := "pci:v00001002d00006798sv00001002sd00000B00bc03sc00i00"
	var dryK, dryG time.Duration
	for i, args := range [][]string{{"-n", "-v", alias}, {"--show-depends", alias}, {"-n", "-v", "btrfs"}} {
		var k, g stats
		full := append([]string{"-d", k61.Root, "-S", k61.Release}, args...)
		for range 10 * runs {
			s, err := run(kmodModprobe(), full...)
			must(err)
			k.add(s)
			s, err = run(*gokmod, append([]string{"modprobe"}, full...)...)
			must(err)
			g.add(s)
		}
		report("modprobe "+strings.Join(args, " "), &k, &g)
		if i == 0 {
			dryK, dryG = k.median(), g.median()
		}
	}
	var k, g stats
	for range 10 * runs {
		s, err := run(kmodModprobe(), "--version")
		must(err)
		k.add(s)
		s, err = run(*gokmod, "modprobe", "--version")
		must(err)
		g.add(s)
	}
	report("modprobe --version (start-up alone)", &k, &g)
	fmt.Printf("  modprobe -n -v of the alias past start-up (difference of medians): kmod %v, gokmod %v\n",
		(dryK - k.median()).Round(time.Microsecond), (dryG - g.median()).Round(time.Microsecond))
	initCost(10 * runs)
}

// initCost reports what gokmod's package initializations cost per run, from the Go
// runtime's own trace (GODEBUG=inittrace=1), and the part the decompressors' packages
// take: they build CRC tables at initialization (hash/crc32's SSE4.2 Castagnoli tables
// for klauspost/compress's snappy converter, hash/crc64's for xz), in every run of every
// tool, whether it decompresses anything or not.
func initCost(n int) {
	per := map[string]time.Duration{}
	for range n {
		cmd := exec.Command(*gokmod, "modprobe", "--version")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var se bytes.Buffer
		cmd.Stderr = &se
		must(cmd.Run())
		sc := bufio.NewScanner(&se)
		for sc.Scan() {
			// init PKG @0.81 ms, 0.056 ms clock, 0 bytes, 0 allocs
			f := strings.Fields(sc.Text())
			if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
				continue
			}
			ms, err := strconv.ParseFloat(f[4], 64)
			must(err)
			per[f[1]] += time.Duration(ms * float64(time.Millisecond))
		}
	}
	if len(per) == 0 {
		must(fmt.Errorf("%s: no inittrace lines from GODEBUG=inittrace=1", *gokmod))
	}
	var total, decoders time.Duration
	var names []string
	for p, d := range per {
		total += d
		if strings.HasPrefix(p, "github.com/klauspost/") || strings.HasPrefix(p, "github.com/therootcompany/") {
			decoders += d
		}
		names = append(names, p)
	}
	slices.SortFunc(names, func(a, b string) int { return int(per[b] - per[a]) })
	avg := func(d time.Duration) time.Duration { return (d / time.Duration(n)).Round(time.Microsecond) }
	fmt.Printf("  gokmod's package initialization (inittrace, mean of %d runs): %v in %d packages, of which the zstd and xz decoders' %v\n",
		n, avg(total), len(per), avg(decoders))
	for _, p := range names[:min(5, len(names))] {
		fmt.Printf("    %-50s %v\n", p, avg(per[p]))
	}
}

// kmodModprobe is the modprobe of the release -kmod names, beside kmodDepmod.
func kmodModprobe() string {
	if kmodDepmod == "/usr/sbin/depmod" {
		return "/usr/sbin/modprobe"
	}
	return filepath.Join(filepath.Dir(kmodDepmod), "modprobe")
}
