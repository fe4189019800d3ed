package tool_test

import (
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
)

// mpScenario is one modprobe situation played in a guest with Debian's kmod and with
// gokmod, from the same (empty) starting state.
type mpScenario struct {
	name   string
	action string   // {T} is the tool directory
	check  string   // run after the action (with kmod's tools); its stdout must agree too
	exit   int      // both must exit so
	want   []string // modules that must be loaded afterwards
	absent []string // modules that must not be
}

// mpConf is the guest's /etc/modprobe.d: options, a blacklisted driver, an install
// command and a softdep.
const mpConf = `options loop max_loop=5
blacklist e1000e
install minix echo install-cmd $CMDLINE_OPTS $MODPROBE_MODULE > /tmp/install-out
softdep vxlan pre: dummy post: loop
`

// TestModprobeAgainstKmod boots each kernel once and plays every scenario with both
// modprobes: same exit status, same /proc/modules afterwards (addresses aside), same
// check output.
func TestModprobeAgainstKmod(t *testing.T) {
	// Guests run beside each other, two at a time (-parallel is GOMAXPROCS): QEMU's TCG
	// keeps one core per guest busy, and the host tests, which change GOKMOD_KMOD in this
	// process, have finished before parallel tests resume.
	t.Parallel()
	for _, k := range testenv.RequireAllKernels(t) {
		t.Run(k.Release, func(t *testing.T) { runModprobeScenarios(t, k) })
	}
}

func runModprobeScenarios(t *testing.T, k testenv.Kernel) {
	vm, err := vmtest.Boot(vmtest.Config{
		Kernel: k,
		Modules: []string{"l2tp_ppp", "e1000e", "usb-storage", "uas", "loop", "dummy", "minix",
			"bridge", "vxlan"},
		Files:  []vmtest.File{{Guest: "/etc/modprobe.d/gokmod-test.conf", Data: []byte(mpConf)}},
		Append: "dummy.numdummies=3",
		Kmod:   testenv.DistroKmod(k),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	run := func(cmd string) *vmtest.Result {
		t.Helper()
		r, err := vm.Run(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	e1000eAlias := "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
	usbAlias := "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"
	conc := "for i in 1 2 3 4 5 6 7 8; do ({T}/modprobe l2tp_ppp; echo $? > /tmp/rc$i) & done; wait; cat /tmp/rc1 /tmp/rc2 /tmp/rc3 /tmp/rc4 /tmp/rc5 /tmp/rc6 /tmp/rc7 /tmp/rc8 | tr -d '\\n' | grep -qx 00000000"
	scenarios := []mpScenario{
		{name: "deep-chain", action: "{T}/modprobe l2tp_ppp", want: []string{"l2tp_ppp", "l2tp_netlink", "l2tp_core", "pppox", "ppp_generic", "slhc", "ip6_udp_tunnel", "udp_tunnel"}},
		{name: "pci-modalias-blacklisted", action: "{T}/modprobe " + e1000eAlias, absent: []string{"e1000e"}},
		{name: "blacklisted-by-name-loads", action: "{T}/modprobe e1000e", want: []string{"e1000e"}},
		{name: "blacklist-with-b", action: "{T}/modprobe -b e1000e", absent: []string{"e1000e"}},
		{name: "usb-modalias", action: "{T}/modprobe " + usbAlias, want: []string{"uas", "usb_storage", "scsi_mod"}},
		{name: "options-modprobe.d", action: "{T}/modprobe loop", check: "cat /sys/module/loop/parameters/max_loop", want: []string{"loop"}},
		{name: "options-cmdline", action: "{T}/modprobe dummy", check: "ls /sys/class/net | grep -c dummy", want: []string{"dummy"}},
		{name: "options-extra", action: "{T}/modprobe loop max_loop=7", check: "cat /sys/module/loop/parameters/max_loop", want: []string{"loop"}},
		{name: "install-command", action: "{T}/modprobe minix foo=1", check: "cat /tmp/install-out", absent: []string{"minix"}},
		{name: "ignore-install", action: "{T}/modprobe -i minix", want: []string{"minix"}},
		{name: "softdep", action: "{T}/modprobe vxlan", want: []string{"vxlan", "dummy", "loop", "udp_tunnel"}},
		{name: "already-loaded", action: "/sbin/modprobe loop && {T}/modprobe loop", want: []string{"loop"}},
		{name: "first-time", action: "/sbin/modprobe loop && {T}/modprobe --first-time loop", exit: 1, want: []string{"loop"}},
		{name: "not-found", action: "{T}/modprobe nosuchmodule", exit: 1},
		// kmod 30 looks at the dependencies left unused in load order, once: llc is still
		// held by stp when its turn comes, so it stays.
		{name: "remove-with-deps", action: "/sbin/modprobe bridge && {T}/modprobe -r bridge", absent: []string{"bridge", "stp"}, want: []string{"llc"}},
		{name: "remove-deep", action: "/sbin/modprobe l2tp_ppp && {T}/modprobe -r l2tp_ppp", absent: []string{"l2tp_ppp"}},
		{name: "remove-in-use", action: "/sbin/modprobe bridge && {T}/modprobe -r stp", exit: 1, want: []string{"bridge", "stp", "llc"}},
		// The holder (stp) is removed without its own holders: bridge keeps it in use.
		{name: "remove-holders", action: "/sbin/modprobe bridge && {T}/modprobe -r --remove-holders llc", exit: 1, want: []string{"bridge", "stp", "llc"}},
		// Removing the holder stp also removes llc, now unused; kmod 30 then still tries llc
		// itself and fails with ENOENT (exit 1). gokmod does the same.
		{name: "remove-holders-ok", action: "/sbin/modprobe stp && {T}/modprobe -r --remove-holders llc", exit: 1, absent: []string{"stp", "llc"}},
		{name: "remove-not-loaded", action: "{T}/modprobe -r loop"},
		{name: "remove-first-time", action: "{T}/modprobe -r --first-time loop", exit: 1},
		{name: "remove-all", action: "/sbin/modprobe l2tp_ppp && /sbin/modprobe loop && {T}/modprobe -r -a l2tp_ppp loop", absent: []string{"l2tp_ppp", "loop"}},
		{name: "concurrent-8", action: conc, want: []string{"l2tp_ppp", "l2tp_core"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			type outcome struct {
				exit            int
				stderr, check   string
				modules, stdout string
			}
			var got [2]outcome
			for i, dir := range []string{vmtest.KmodDir, vmtest.GokmodDir} {
				resetGuest(t, vm)
				run("rm -f /tmp/install-out /tmp/rc*")
				r := run(strings.ReplaceAll(sc.action, "{T}", dir))
				got[i] = outcome{exit: r.Exit, stderr: r.Stderr, stdout: r.Stdout, modules: procModules(run("cat /proc/modules").Stdout)}
				if sc.check != "" {
					got[i].check = run(sc.check).Stdout
				}
				loaded := map[string]bool{}
				for _, l := range strings.Split(got[i].modules, "\n") {
					if f := strings.Fields(l); len(f) > 0 {
						if loaded[f[0]] {
							t.Errorf("%s: %s listed twice in /proc/modules", dir, f[0])
						}
						loaded[f[0]] = true
					}
				}
				for _, m := range sc.want {
					if !loaded[m] {
						t.Errorf("%s: %s not loaded after %q", dir, m, sc.action)
					}
				}
				for _, m := range sc.absent {
					if loaded[m] {
						t.Errorf("%s: %s loaded after %q", dir, m, sc.action)
					}
				}
			}
			kmod, gok := got[0], got[1]
			t.Logf("kmod: exit %d stdout %q stderr %q check %q", kmod.exit, kmod.stdout, kmod.stderr, kmod.check)
			t.Logf("gokmod: exit %d stdout %q stderr %q check %q", gok.exit, gok.stdout, gok.stderr, gok.check)
			if kmod.exit != sc.exit || gok.exit != sc.exit {
				t.Errorf("exit: kmod %d, gokmod %d, want %d", kmod.exit, gok.exit, sc.exit)
			}
			if kmod.modules != gok.modules {
				t.Errorf("/proc/modules differs:\nkmod:\n%s\ngokmod:\n%s", kmod.modules, gok.modules)
			}
			if kmod.check != gok.check {
				t.Errorf("check %q differs: kmod %q, gokmod %q", sc.check, kmod.check, gok.check)
			}
			if kmod.stdout != gok.stdout {
				t.Errorf("stdout differs: kmod %q, gokmod %q", kmod.stdout, gok.stdout)
			}
			if firstLine(kmod.stderr) != firstLine(strings.ReplaceAll(gok.stderr, vmtest.GokmodDir, vmtest.KmodDir)) {
				t.Errorf("first stderr line differs: kmod %q, gokmod %q", firstLine(kmod.stderr), firstLine(gok.stderr))
			}
		})
	}
	resetGuest(t, vm)
}

// resetGuest unloads every module, holders first.
func resetGuest(t *testing.T, vm *vmtest.VM) {
	t.Helper()
	for i := 0; i < 12; i++ {
		r, err := vm.Run(`m=$(cut -d' ' -f1 /proc/modules); [ -z "$m" ] && exit 0; for x in $m; do /sbin/rmmod $x 2>/dev/null; done; exit 1`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Exit == 0 {
			return
		}
	}
	r, _ := vm.Run("cat /proc/modules")
	t.Fatalf("could not unload every module:\n%s", r.Stdout)
}
