// Command benchinsmod is `make bench` for the real tools: in one guest booting Debian's
// 6.1 kernel, it times insmod of 20 real modules followed by rmmod of all of them, with
// Debian's kmod and with gokmod, alternating rounds so that both see the same guest, and
// prints the medians and their ratio (gokmod / kmod; the target is at most 1.05).
package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"gokmod/internal/testing/benchstat"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
)

// modules are 20 leaf modules of the 6.1 tree (no dependencies, no hardware needed).
var modules = []string{
	"kernel/fs/minix/minix.ko", "kernel/fs/bfs/bfs.ko", "kernel/fs/sysv/sysv.ko", "kernel/fs/hpfs/hpfs.ko",
	"kernel/fs/ufs/ufs.ko", "kernel/fs/efs/efs.ko", "kernel/fs/affs/affs.ko", "kernel/fs/qnx4/qnx4.ko",
	"kernel/fs/qnx6/qnx6.ko", "kernel/fs/adfs/adfs.ko", "kernel/fs/freevxfs/freevxfs.ko", "kernel/fs/exfat/exfat.ko",
	"kernel/fs/squashfs/squashfs.ko", "kernel/fs/coda/coda.ko", "kernel/fs/binfmt_misc.ko", "kernel/fs/mbcache.ko",
	"kernel/fs/nls/nls_cp437.ko", "kernel/fs/nls/nls_utf8.ko", "kernel/fs/nls/nls_iso8859-1.ko", "kernel/fs/nls/nls_ascii.ko",
}

func main() {
	rounds := flag.Int("rounds", 7, "rounds per tool")
	flag.Parse()
	if err := run(*rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchinsmod:", err)
		os.Exit(1)
	}
}

func run(rounds int) error {
	ks, err := testenv.Kernels()
	if err == nil {
		ks, err = testenv.Lines(ks, "6.1")
	}
	if err != nil {
		return err
	}
	k := ks[0]
	var names []string
	for _, m := range modules {
		names = append(names, strings.TrimSuffix(path.Base(m), ".ko"))
	}
	vm, err := vmtest.Boot(vmtest.Config{Kernel: k, Modules: names})
	if err != nil {
		return err
	}
	defer vm.Close()
	dir := "/lib/modules/" + k.Release + "/"
	script := func(tools string) string {
		var b strings.Builder
		b.WriteString("set -e\n")
		for _, m := range modules {
			fmt.Fprintf(&b, "%s/insmod %s%s\n", tools, dir, m)
		}
		fmt.Fprintf(&b, "%s/rmmod", tools)
		for i := len(names) - 1; i >= 0; i-- {
			b.WriteString(" " + names[i])
		}
		b.WriteString("\n")
		return b.String()
	}
	times := map[string][]time.Duration{}
	for r := 0; r < rounds+1; r++ {
		for _, tools := range []string{vmtest.KmodDir, vmtest.GokmodDir} {
			res, err := vm.Run(script(tools))
			if err != nil {
				return err
			}
			if res.Exit != 0 {
				return fmt.Errorf("%s: exit %d: %s", tools, res.Exit, res.Stderr)
			}
			if r > 0 { // the first round warms the page cache for both
				times[tools] = append(times[tools], res.Duration)
			}
		}
	}
	mk, mg := benchstat.Median(times[vmtest.KmodDir]), benchstat.Median(times[vmtest.GokmodDir])
	fmt.Printf("insmod+rmmod of %d modules, %d rounds each, Debian %s in QEMU (TCG):\n", len(modules), rounds, k.Release)
	fmt.Printf("  kmod   (%s) median %7.1f ms  %v\n", vmtest.KmodDir, benchstat.MS(mk), benchstat.MSList(times[vmtest.KmodDir]))
	fmt.Printf("  gokmod (%s) median %7.1f ms  %v\n", vmtest.GokmodDir, benchstat.MS(mg), benchstat.MSList(times[vmtest.GokmodDir]))
	fmt.Printf("  ratio gokmod/kmod: %.3f (target <= 1.05)\n", float64(mg)/float64(mk))
	return nil
}
