package tool_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/kmod"
	"gokmod/ko"
)

// TestNoKmodGuest boots, on every prepared kernel, a guest whose /sbin tools and
// /bin/kmod are gokmod's links and which has no kmod at all, and a guest with Debian's
// kmod, and runs the same boot-like workload in both: systemd's
// `kmod static-nodes --format=tmpfiles`, `depmod -a`, udev's `modprobe -b` of aliases,
// and mkinitramfs's `depmod -b` of a staging tree. Everything it prints, /proc/modules,
// the device nodes and every modules.* file written must be the same.
func TestNoKmodGuest(t *testing.T) {
	// Guests run beside each other, two at a time (-parallel is GOMAXPROCS): QEMU's TCG
	// keeps one core per guest busy, and the host tests, which change GOKMOD_KMOD in this
	// process, have finished before parallel tests resume.
	t.Parallel()
	for _, k := range testenv.RequireAllKernels(t) {
		t.Run(k.Release, func(t *testing.T) {
			mods, aliases := udevWorkload(t, k)
			var got [2]map[string]string
			for i, noKmod := range []bool{false, true} {
				vm, err := vmtest.Boot(vmtest.Config{Kernel: k, Modules: mods, NoKmod: noKmod, Kmod: testenv.DistroKmod(k)})
				if err != nil {
					t.Fatal(err)
				}
				got[i] = bootWorkload(t, vm, aliases)
				vm.Close()
			}
			for _, part := range []string{"workload", "proc/modules", "dev", "modules.*", "stage"} {
				if got[0][part] != got[1][part] {
					t.Errorf("%s differs:\nwith kmod:\n%s\nwith gokmod alone:\n%s", part, got[0][part], got[1][part])
				}
			}
			if strings.Count(got[1]["proc/modules"], " Live") < 2 || !strings.Contains(got[1]["workload"], "c! /dev/") {
				t.Errorf("the workload loaded nothing telling:\n%s\n%s", got[1]["workload"], got[1]["proc/modules"])
			}
			if !t.Failed() {
				testenv.Report(t, "%s: a guest without kmod ran the boot workload (%d modules staged, %d udev aliases) with the same /proc/modules, /dev and modules.* files as kmod %s", k.Release, len(mods), len(aliases), testenv.DistroKmod(k))
			}
		})
	}
}

// udevWorkload picks the in-tree modules to stage (those of a few device nodes and
// network features that exist in this build) and aliases of theirs as udev would ask
// for them, with one nothing provides.
func udevWorkload(t *testing.T, k testenv.Kernel) (mods, aliases []string) {
	t.Helper()
	inTree := map[string]string{}
	f, err := os.Open(filepath.Join(k.ModDir(), "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, _, ok := strings.Cut(sc.Text(), ":"); ok {
			inTree[kmod.NameFromPath(p)] = p
		}
	}
	for _, m := range []string{"fuse", "tun", "loop", "dummy", "bridge", "uinput"} {
		p, ok := inTree[m]
		if !ok {
			continue
		}
		mods = append(mods, m)
		kf, err := ko.Open(filepath.Join(k.ModDir(), p))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range kf.ModInfoValues("alias") {
			if !strings.ContainsAny(a, "*?[") && n < 2 {
				aliases = append(aliases, a)
				n++
			}
		}
	}
	if len(mods) < 3 || len(aliases) < 3 {
		t.Fatalf("%s: too few modules (%q) or aliases (%q) for the workload", k.Release, mods, aliases)
	}
	return mods, append(aliases, "fs-gokmod-nosuch")
}

// bootWorkload runs the workload and collects what it left.
func bootWorkload(t *testing.T, vm *vmtest.VM, aliases []string) map[string]string {
	t.Helper()
	run := func(cmd string) string {
		t.Helper()
		r, err := vm.Run(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s\nstderr:\n%s\nexit %d\n", r.Stdout, r.Stderr, r.Exit)
	}
	var w strings.Builder
	w.WriteString(run(`mkdir -p /run/tmpfiles.d && kmod static-nodes --format=tmpfiles --output=/run/tmpfiles.d/static-nodes.conf && cat /run/tmpfiles.d/static-nodes.conf && kmod static-nodes | head -20`))
	w.WriteString(run(`depmod -a && echo depmod done`))
	for _, a := range aliases {
		w.WriteString(run(fmt.Sprintf("modprobe -b -v %q", a)))
	}
	w.WriteString(run(`R=$(uname -r); S=/tmp/stage/lib/modules/$R; mkdir -p $S && cp -a /lib/modules/$R/kernel $S/ && cp /lib/modules/$R/modules.order /lib/modules/$R/modules.builtin /lib/modules/$R/modules.builtin.modinfo $S/ && depmod -b /tmp/stage $R && echo staged`))
	return map[string]string{
		"workload":     w.String(),
		"proc/modules": procModules(run("cut -d' ' -f1-5 /proc/modules")),
		"dev":          run("find /dev -type c -o -type b | sort | xargs stat -c '%n %t:%T %a'"),
		"modules.*":    run(`cd /lib/modules/$(uname -r) && md5sum modules.* | sort -k2`),
		"stage":        run(`cd /tmp/stage/lib/modules/$(uname -r) && md5sum modules.* | sort -k2`),
	}
}
