package tool

import (
	"bytes"
	"os"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod"
	"gokmod/kmod/compat"
)

// TestModprobeExecAgainstKmod runs the benchmarked dry runs through Exec, the entry the
// binary uses, which skips what process exit releases (index mappings, the environment
// restored for in-process callers): the output must still be kmod's.
func TestModprobeExecAgainstKmod(t *testing.T) { forEachRelease(t, modprobeExecAgainstKmod) }

func modprobeExecAgainstKmod(t *testing.T, kv compat.Kmod) {
	k := testenv.RequireLine(t, "6.1")
	old, had := os.LookupEnv("MODPROBE_OPTIONS")
	t.Cleanup(func() {
		if had {
			os.Setenv("MODPROBE_OPTIONS", old)
		} else {
			os.Unsetenv("MODPROBE_OPTIONS")
		}
	})
	alias := "pci:v00001002d00006798sv00001002sd00000B00bc03sc00i00"
	for _, args := range [][]string{
		{"-n", "-v", alias}, {"--show-depends", alias}, {"-n", "-v", "btrfs"},
		{"-n", "-v", "no-such-module"}, {"-R", alias},
	} {
		full := append([]string{"-d", k.Root, "-S", k.Release}, args...)
		os.Unsetenv("MODPROBE_OPTIONS") // Exec leaves its -v there, as a real process would
		want := mpKmod(t, full...)
		var o, e bytes.Buffer
		code := Exec(append([]string{"modprobe"}, full...), &o, &e, kmod.NewHost(), nil)
		got := mpResult{o.String(), e.String(), code}
		if got != want {
			t.Errorf("modprobe %s: Exec gave %+v, kmod %+v", short(full), got, want)
		}
	}
}

// TestExecParallelHook checks that Exec gives the other Ps back (its parallel hook)
// before a tool that may work in parallel, and not before modprobe, insmod, rmmod or
// lsmod.
func TestExecParallelHook(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want bool
	}{
		{[]string{"gokmod", "modprobe", "-h"}, false},
		{[]string{"modprobe", "-h"}, false},
		{[]string{"gokmod", "depmod", "-h"}, true},
		{[]string{"/sbin/depmod", "-h"}, true},
		{[]string{"gokmod", "-V"}, false},
		{[]string{"insmod", "-h"}, false},
		{[]string{"gokmod", "rmmod", "-h"}, false},
		{[]string{"lsmod", "-h"}, false},
		{[]string{"modinfo", "-h"}, true},
	} {
		called := false
		var o, e bytes.Buffer
		Exec(c.argv, &o, &e, kmod.NewHost(), func() { called = true })
		if called != c.want {
			t.Errorf("%q: parallel hook called %v, want %v", c.argv, called, c.want)
		}
	}
}
