package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gokmod/internal/testing/testenv"
)

// kmodTestsuite is kmod's test-suite data (testenv.KmodTestsuite).
func kmodTestsuite(tb testing.TB) string { tb.Helper(); return testenv.KmodTestsuite(tb) }

func fixture(tb testing.TB, name string) string {
	return filepath.Join(kmodTestsuite(tb), "rootfs-pristine", name)
}

func showConfig(t *testing.T, opts Options) (string, *Config) {
	t.Helper()
	c, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.ShowConfig(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String(), c
}

// TestKcmdlineFixtures runs kmod's modprobe_param_kcmdline2..9 tests (`modprobe -c` with
// the fixture's /proc/cmdline, uname 4.4.4).
func TestKcmdlineFixtures(t *testing.T) {
	for i := 2; i <= 9; i++ {
		dir := fixture(t, "test-modprobe/module-param-kcmdline"+string(rune('0'+i)))
		want, err := os.ReadFile(filepath.Join(dir, "correct.txt"))
		if err != nil {
			t.Fatal(err)
		}
		got, c := showConfig(t, Options{Root: dir, KernelRelease: "4.4.4"})
		if got != string(want) {
			t.Errorf("kcmdline%d:\ngot:\n%s\nwant:\n%s", i, got, want)
		}
		if i == 6 {
			// ivrs_acpihid[14:00.5]=... has an unmatched bracket in its "module name".
			if len(c.Warnings) != 1 || !errors.Is(c.Warnings[0], ErrBadKcmdline) ||
				c.Warnings[0].Msg != "Ignoring bad option on kernel command line while parsing module name: 'ivrs_acpihid[14:00'" {
				t.Errorf("kcmdline6 warnings: %v", c.Warnings)
			}
		}
	}
}

// TestWeakdepFixture is kmod's modprobe_config test (test-weakdep.c): kmod ≥ 33 dumps
// weakdep lines from modprobe.d and modules.weakdep, keys normalized, values not.
func TestWeakdepFixture(t *testing.T) {
	dir := fixture(t, "test-weakdep")
	want, err := os.ReadFile(filepath.Join(dir, "modprobe-c.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, c := showConfig(t, Options{Root: dir, KernelRelease: "4.4.4", Weakdep: true})
	if got != string(want) {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
	if d, ok := c.WeakdepOf("mod_loop_b"); !ok || !reflect.DeepEqual(d.Deps, []string{"mod-loop-a", "mod-simple"}) {
		t.Errorf("WeakdepOf(mod_loop_b) = %v, %v", d, ok)
	}
	// kmod 30 knows no weakdep: both lines of the config file are bad lines.
	got, c = showConfig(t, Options{Root: dir, KernelRelease: "4.4.4"})
	wantV30 := "\n# End of configuration files. Dumping indexes now:\n\n" +
		"alias symbol:printA mod_loop_a\nalias symbol:printB mod_loop_b\n"
	if got != wantV30 {
		t.Errorf("kmod 30 mode:\n%q", got)
	}
	if len(c.Warnings) != 2 || c.Warnings[0].LogLine() !=
		"libkmod: ERROR ../libkmod/libkmod-config.c:712 kmod_config_parse: /etc/modprobe.d/dumb-weakdep.conf line 1: ignoring bad line starting with 'weakdep'\n" {
		for _, w := range c.Warnings {
			t.Errorf("warning: %s", w.LogLine())
		}
	}
}

// TestBlacklistAndSoftdepFixtures reads kmod's test-blacklist and test-multi-softdep
// roots. kmod uses only the first matching softdep stanza (issue #33), so mod-softdep-a
// gets only "pre: mod-foo-a".
func TestBlacklistAndSoftdepFixtures(t *testing.T) {
	c, err := Load(Options{Root: fixture(t, "test-blacklist"), KernelRelease: "4.4.4"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"pcspkr": true, "floppy": true, "pcspkr2": false, "ext4": false} {
		if c.IsBlacklisted(name) != want {
			t.Errorf("IsBlacklisted(%s) != %v", name, want)
		}
	}
	c, err = Load(Options{Root: fixture(t, "test-multi-softdep"), KernelRelease: "4.4.4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Softdeps) != 5 {
		t.Fatalf("softdeps: %v", c.Softdeps)
	}
	d, ok := c.SoftdepOf("mod_softdep_a")
	if !ok || !reflect.DeepEqual(d.Pre, []string{"mod-foo-a"}) || d.Post != nil {
		t.Errorf("SoftdepOf(mod_softdep_a) = %+v", d)
	}
	c, err = Load(Options{Root: fixture(t, "test-new-module/from_alias"), KernelRelease: "4.4.4"})
	if err != nil {
		t.Fatal(err)
	}
	if a := c.LookupAlias("ext4.*"); len(a) != 1 || a[0].Module != "ext4" {
		t.Errorf("LookupAlias(ext4.*) = %v", a)
	}
}
