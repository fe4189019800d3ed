// Command demo is `make demo`: the model predicts, offline, what Debian's 6.1 kernel will
// say to stp without llc; then the demo boots that kernel in QEMU and, in the guest, walks
// through the real thing with gokmod — the failing load explained by the kernel's own
// words, the dependency chain loaded in order, lsmod, a refused unload, the unload — and
// prints the transcript.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/internal/tool"
	"gokmod/kmod"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ks, err := testenv.Kernels()
	if err == nil {
		ks, err = testenv.Lines(ks, "6.1")
	}
	if err != nil {
		return err
	}
	k := ks[0] // 6.1, what bookworm's linux-image-amd64 depends on
	versions, _ := k.Versions()
	fmt.Printf("== gokmod demo: Debian kernel %s in QEMU (TCG), packages:\n%s\n\n", k.Release, indent(versions))
	// First the model, offline on the host: what will the kernel say to stp alone?
	fmt.Printf("# the model's prediction, offline on the host (no root, nothing loaded):\n$ gokmod explain --kernel %s stp\n", k.Release)
	var pred bytes.Buffer
	tool.Main([]string{"gokmod", "explain", "--kernel", k.Root, "stp"}, &pred, os.Stderr, kmod.NewHost())
	if i := strings.Index(pred.String(), "Verdict:"); i >= 0 {
		fmt.Printf("...\n%s\n", pred.String()[i:])
	}

	start := time.Now()
	vm, err := vmtest.Boot(vmtest.Config{Kernel: k, Modules: []string{"bridge"}})
	if err != nil {
		return err
	}
	defer vm.Close()
	fmt.Printf("== guest up in %.1fs; gokmod's tools are in %s (Debian's kmod in %s)\n\n", time.Since(start).Seconds(), vmtest.GokmodDir, vmtest.KmodDir)

	m := "/lib/modules/" + k.Release + "/kernel/net"
	steps := []struct{ say, cmd string }{
		{"now the real kernel: stp alone is refused with the lines the model predicted. kmod would only say \"Unknown symbol in module\"; gokmod adds what the kernel logged and who exports the symbol:",
			"gokmod insmod " + m + "/802/stp.ko"},
		{"load the chain in dependency order:", "gokmod insmod " + m + "/llc/llc.ko && gokmod insmod " + m + "/802/stp.ko && gokmod insmod " + m + "/bridge/bridge.ko && echo loaded"},
		{"lsmod (byte-identical to kmod's):", "gokmod lsmod"},
		{"llc is held by stp and bridge, so it cannot go first:", "gokmod rmmod llc"},
		{"unload in reverse order:", "gokmod rmmod bridge stp llc && echo unloaded"},
		{"the list is empty again:", "gokmod lsmod"},
	}
	for _, s := range steps {
		fmt.Printf("# %s\n$ %s\n", s.say, s.cmd)
		// busybox's sh prefers its own insmod/lsmod applets over $PATH, so the steps
		// say "gokmod TOOL", which is unambiguous.
		r, err := vm.Run("PATH=" + vmtest.GokmodDir + ":$PATH; " + s.cmd)
		if err != nil {
			return err
		}
		fmt.Print(r.Stdout, r.Stderr)
		fmt.Printf("[exit %d, %.0f ms in the guest]\n\n", r.Exit, float64(r.Duration.Microseconds())/1000)
	}
	fmt.Printf("== done in %.1fs\n", time.Since(start).Seconds())
	return nil
}

func indent(s string) string { return "   " + strings.ReplaceAll(s, "\n", "\n   ") }
