package tool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
	"gokmod/kmod"
	"gokmod/load"
)

// The model's tools on kernels found the ways --kernel finds them, on fake systems built
// in temporary directories from links into the prepared cache.

// explainJSON runs explain --json on the system below root and decodes it.
func explainJSON(t *testing.T, root string, args ...string) (*Explanation, string, int) {
	t.Helper()
	out, stderr, code := runTool(&kmod.Host{Root: root}, append([]string{"explain", "--json"}, args...)...)
	if stderr != "" {
		return nil, stderr, code
	}
	var x Explanation
	if err := json.Unmarshal([]byte(out), &x); err != nil {
		t.Fatalf("explain %v: %v\n%s", args, err, out)
	}
	return &x, stderr, code
}

// TestKernelSpecInstalled: a release installed on the system is found there (before the
// cache), with the compressed image only as well as with the debug vmlinux; a directory
// holding several releases wants --release; a release found nowhere is an error naming
// what was looked for.
func TestKernelSpecInstalled(t *testing.T) {
	ks := testenv.RequireLines(t, "6.1", "6.12") // the pair these tests were written for
	// The project's cache, however the test was started (make sets GOKMOD_CACHE, go
	// test alone does not).
	projectCache, err := testenv.Cache()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOKMOD_CACHE", projectCache)
	root := t.TempDir()
	testenv.InstallInto(t, root, ks[0], testenv.VmlinuzOnly)
	testenv.InstallInto(t, root, ks[1], testenv.DebugVmlinux)
	for _, cache := range []string{t.TempDir(), projectCache} {
		t.Setenv("GOKMOD_CACHE", cache)
		for _, k := range ks {
			x, stderr, code := explainJSON(t, root, "--kernel", k.Release, "stp")
			if code != 1 || x == nil || x.Result != "ENOENT" || x.KernelSource != k.Release+", installed under "+root || !x.Model.Exact {
				t.Errorf("%s (cache %s): exit %d %s %+v", k.Release, cache, code, stderr, x)
			}
		}
	}
	// Not installed here: the cache's (still $GOKMOD_CACHE from the loop).
	x, stderr, _ := explainJSON(t, t.TempDir(), "--kernel", ks[0].Release, "stp")
	if x == nil || x.KernelSource != ks[0].Release+", prepared in the cache ("+ks[0].Root+")" {
		t.Errorf("cache: %s %+v", stderr, x)
	}
	_, stderr, code := runTool(&kmod.Host{Root: root}, "explain", "--kernel", root, "stp")
	if code != 2 || !strings.Contains(stderr, "holds 2 releases ("+ks[0].Release+", "+ks[1].Release+"): choose one with --release") {
		t.Errorf("two releases: %d %q", code, stderr)
	}
	for _, k := range ks {
		x, stderr, _ := explainJSON(t, "/nonexistent", "--kernel", root, "--release", k.Release, "stp")
		if x == nil || x.Result != "ENOENT" || x.KernelSource != k.Release+", unpacked in "+root {
			t.Errorf("--release %s: %s %+v", k.Release, stderr, x)
		}
	}
	_, stderr, _ = runTool(nil, "explain", "--kernel", root, "--release", "6.99.1", "stp")
	if !strings.Contains(stderr, "no release 6.99.1 (it holds "+ks[0].Release) {
		t.Errorf("--release 6.99.1: %q", stderr)
	}
	_, stderr, _ = runTool(&kmod.Host{Root: root}, "check", "--kernel", "6.99.1-2-amd64", "/nonexistent.ko")
	want := `check: ERROR: kernel "6.99.1-2-amd64": not installed on this system nor prepared in the cache (looked for ` +
		filepath.Join(root, "boot/config-6.99.1-2-amd64") + ", " + filepath.Join(projectCache, "kernels/6.99.1-2-amd64") + "): file does not exist\n"
	if stderr != want {
		t.Errorf("unknown release:\n%q\nwant\n%q", stderr, want)
	}
}

// fakeRelease installs under root a kernel release that Debian never made, from base's
// files: its configuration (edited), its modules and its headers, and no image (so its
// version is the release's).
func fakeRelease(t *testing.T, root string, base testenv.Kernel, release string, edit func(string) string) {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(base.Root, "boot", "config-"+base.Release))
	if err != nil {
		t.Fatal(err)
	}
	testenv.WriteFiles(t, root, map[string]string{"boot/config-" + release: edit(string(cfg))})
	for rel, target := range map[string]string{"lib/modules/" + release: base.ModDir(), "usr/src/linux-headers-" + release: base.Headers()} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		if err := os.Symlink(target, filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
}

var noModules = regexp.MustCompile(`(?m)^CONFIG_MODULES=y$`)

// fakeHost makes root a running system of release: proc, and a process whose effective
// capabilities are capEff.
func fakeHost(t *testing.T, root, release, capEff string, disabled bool) {
	t.Helper()
	files := map[string]string{
		"proc/sys/kernel/osrelease": release + "\n",
		"proc/cmdline":              "ro quiet\n",
		"proc/self/status":          "Name:\tgokmod\nCapInh:\t0000000000000000\nCapEff:\t" + capEff + "\n",
		"sys/module/vt/uevent":      "",
	}
	if disabled {
		files["proc/sys/kernel/modules_disabled"] = "1\n"
	} else {
		files["proc/sys/kernel/modules_disabled"] = "0\n"
	}
	testenv.WriteFiles(t, root, files)
}

const (
	capAll      = "000001ffffffffff"
	capNoModule = "000001fffffeffff" // all but CAP_SYS_MODULE (16)
)

// TestHostRefusals: the host as it is: modules_disabled read from proc, the caller's
// missing CAP_SYS_MODULE noted (or modelled with --as-caller), a kernel without
// CONFIG_MODULES — each its own reason and fix.
func TestHostRefusals(t *testing.T) {
	ks := testenv.RequireLines(t, "6.1", "6.12") // the pair these tests were written for
	k := ks[0]
	minix := filepath.Join(k.ModDir(), "kernel/fs/minix/minix.ko")
	type want struct {
		result, stage, fix, note string
	}
	for _, tt := range []struct {
		name     string
		capEff   string
		disabled bool
		args     []string
		want
	}{
		{"root", capAll, false, nil, want{"ok", "", "", ""}},
		{"unprivileged, as root", capNoModule, false, nil, want{"ok", "", "", "lacks CAP_SYS_MODULE: run as it is, insmod would fail with EPERM"}},
		{"unprivileged, as the caller", capNoModule, false, []string{"--as-caller"}, want{"EPERM", "the caller lacks CAP_SYS_MODULE", "needs CAP_SYS_MODULE, which the caller lacks: run insmod as root", ""}},
		{"root, as the caller", capAll, false, []string{"--as-caller"}, want{"ok", "", "", ""}},
		{"modules_disabled", capAll, true, nil, want{"EPERM", "modules_disabled is 1", "stays off until reboot", ""}},
		{"modules_disabled asked for", capAll, false, []string{"--modules-disabled"}, want{"EPERM", "modules_disabled is 1", "stays off until reboot", ""}},
		{"nomodule", capAll, false, []string{"--cmdline", "nomodule"}, want{"EPERM", "nomodule on the kernel command line", "stays off until reboot", ""}},
	} {
		root := t.TempDir()
		testenv.InstallInto(t, root, k, testenv.DebugVmlinux)
		fakeHost(t, root, k.Release, tt.capEff, tt.disabled)
		x, stderr, _ := explainJSON(t, root, append(tt.args, minix)...)
		if x == nil {
			t.Errorf("%s: %s", tt.name, stderr)
			continue
		}
		var st ExplainStage // the stage that refused, if any
		for _, s := range x.Stages {
			if s.Errno != "" {
				st = s
				break
			}
		}
		got := want{x.Result, st.Note, strings.Join(x.Fix, "|"), strings.Join(x.Notes, "|")}
		if x.KernelSource != k.Release+", the running kernel" || got.result != tt.result || !strings.Contains(got.stage, tt.stage) ||
			!strings.Contains(got.fix, tt.fix) || !strings.Contains(got.note, tt.note) || (tt.note == "") != (got.note == "") || (tt.fix == "") != (got.fix == "") {
			t.Errorf("%s: %s %+v\ngot  %+v\nwant %+v", tt.name, x.KernelSource, st, got, tt.want)
		}
	}
}

// TestRefusalsInCheckAndSim: check's lines and sim's operations name the refusal too.
func TestRefusalsInCheckAndSim(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	minix := inTreeFile(t, k.ModDir(), "minix")
	out, _, code := runTool(nil, "check", "--kernel", k.Root, "--modules-disabled", minix)
	if code != 1 || !strings.Contains(out, minix+": EPERM (modules_disabled)\n") || !strings.Contains(out, ": EPERM (modules_disabled) 1;") {
		t.Errorf("check --modules-disabled: %d\n%s", code, out)
	}
	// Modules already loaded were loaded before modules_disabled was set.
	x, stderr, _ := explainJSON(t, "", "--kernel", k.Root, "--modules-disabled", "--with-deps", "stp")
	if x == nil || x.Result != "EPERM" || len(x.Preloaded) != 1 || x.Preloaded[0] != "llc" {
		t.Errorf("explain --modules-disabled --with-deps stp: %s %+v", stderr, x)
	}
	script := filepath.Join(t.TempDir(), "script")
	os.WriteFile(script, []byte("insmod "+minix+"\nrmmod minix\n"), 0o644)
	out, stderr, _ = runTool(nil, "sim", "--kernel", k.Root, "--cmdline", "nomodule", script)
	want := `{"op":"insmod","arg":"` + minix + `","params":"","result":"EPERM","log":[],"taint":"","refused":"modules_disabled"}` + "\n" +
		`{"op":"rmmod","arg":"minix","params":"","result":"EPERM","log":[],"taint":"","refused":"modules_disabled"}` + "\n"
	if out != want || stderr != "sim: kernel: "+k.Release+", unpacked in "+k.Root+"\n" {
		t.Errorf("sim nomodule:\n%s%q\nwant\n%s", out, stderr, want)
	}
}

// TestApproximatedVersions: kernels of versions the model does not follow (a 6.18
// without CONFIG_MODULES as the host, a 6.18 and a 5.10 with modules, installed) are
// modelled with the nearest version, and every output says so.
func TestApproximatedVersions(t *testing.T) {
	ks := testenv.RequireLines(t, "6.1", "6.12") // the pair these tests were written for
	root := t.TempDir()
	fakeRelease(t, root, ks[1], "6.18.2-test", func(c string) string { return noModules.ReplaceAllString(c, "# CONFIG_MODULES is not set") })
	fakeRelease(t, root, ks[1], "6.18.3-mods", func(c string) string { return c })
	fakeRelease(t, root, ks[0], "5.4.0-99-amd64", func(c string) string { return c })
	fakeHost(t, root, "6.18.2-test", capAll, false)
	script := filepath.Join(t.TempDir(), "script")
	os.WriteFile(script, []byte("insmod-force "+inTreeFile(t, ks[1].ModDir(), "minix")+"\nrmmod minix\n"), 0o644)
	for _, tt := range []struct {
		spec, short, result, model string
	}{
		{"host", "6.18", "ENOSYS", "6.12"},
		{"6.18.3-mods", "6.18", "ok", "6.12"},
		{"5.4.0-99-amd64", "5.4", "ok", "5.10"},
	} {
		h := &kmod.Host{Root: root}
		rel := tt.spec
		if rel == "host" {
			rel = "6.18.2-test"
		}
		minix := inTreeFile(t, filepath.Join(root, "lib/modules", rel), "minix")
		short := tt.short
		note := "Linux " + short + " is not a version the model follows (5.10, 6.1, 6.12, 7.2, 7.3): modelled as " + tt.model + ", the nearest"

		out, stderr, _ := runTool(h, "explain", "--kernel", tt.spec, "-f", minix)
		if !strings.Contains(out, "\nModel: approximation: "+note) || !strings.Contains(out, "Verdict: "+tt.result) {
			t.Errorf("explain %s: %s\n%s", tt.spec, stderr, out)
		}
		x, stderr, _ := explainJSON(t, root, "--kernel", tt.spec, "-f", minix)
		if x == nil || x.Model.Exact || x.Model.Judged || x.Model.Model != tt.model || !strings.HasPrefix(x.Model.Note, note) || x.Result != tt.result || !strings.HasPrefix(x.Model.Target, short+".") {
			t.Errorf("explain --json %s: %s %+v", tt.spec, stderr, x)
		}
		out, stderr, _ = runTool(h, "check", "--kernel", tt.spec, minix)
		if !strings.Contains(out, "\nnote: "+note) || !strings.Contains(out, "1 modules checked against ") {
			t.Errorf("check %s: %s\n%s", tt.spec, stderr, out)
		}
		out, stderr, _ = runTool(h, "sim", "--kernel", tt.spec, script)
		if !strings.Contains(stderr, "sim: note: "+note) || !strings.HasPrefix(stderr, "sim: kernel: ") {
			t.Errorf("sim %s: stderr %q", tt.spec, stderr)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var o simop.Outcome
			if err := json.Unmarshal([]byte(l), &o); err != nil || !strings.HasPrefix(o.Model, tt.model+" for "+short+".") {
				t.Errorf("sim %s: %q: %v", tt.spec, l, err)
			}
			if tt.result == "ENOSYS" && (o.Result != "ENOSYS" || o.Refused != "no CONFIG_MODULES") {
				t.Errorf("sim %s: %q", tt.spec, l)
			}
		}
	}
	// The prepared kernels are followed versions: nothing of the sort is said.
	for _, k := range ks {
		out, _, _ := runTool(nil, "sim", "--kernel", k.Root, script)
		x, _, _ := explainJSON(t, "", "--kernel", k.Root, "minix")
		if strings.Contains(out, `"model"`) || x == nil || !x.Model.Exact || x.Model.Note != "" || len(x.Notes) != 0 {
			t.Errorf("%s: %s %+v", k.Release, out, x)
			continue
		}
		// The header names the version, arch, distribution, its patches, whether QEMU
		// judges the line, and the upstream changes the version has.
		if !x.Model.Judged || x.Model.Arch != "x86_64" || x.Model.Distro != "Debian" {
			t.Errorf("%s: model %+v", k.Release, x.Model)
		}
		kk, err := kernel.FromDebianRoot(k.Root, k.Release)
		if err != nil {
			t.Fatal(err)
		}
		if (len(x.Model.Patches) == 1) != kk.Config.Modversions() {
			t.Errorf("%s: patches %q with modversions %v", k.Release, x.Model.Patches, kk.Config.Modversions())
		}
		var want []string
		for _, c := range load.Changes {
			if c.In(kk.Version) && c.For(kk.Arch()) {
				want = append(want, c.Name+" ("+c.Since.Line()+")")
			}
		}
		if !slices.Equal(x.Model.Changes, want) && !(len(want) == 0 && len(x.Model.Changes) == 0) {
			t.Errorf("%s: changes %q, want %q", k.Release, x.Model.Changes, want)
		}
		out, _, _ = runTool(nil, "explain", "--kernel", k.Root, "minix")
		if head := "Model: Linux " + kk.Version.Line() + ", the kernel's own version (" + kk.Version.String() + "), x86_64, Debian; Linux " + kk.Version.Line() + " is judged in QEMU by this project's tests\n"; !strings.Contains(out, head) {
			t.Errorf("%s: explain's header lacks %q:\n%s", k.Release, head, out)
		}
	}
}

// inTreeFile is the file of in-tree module name under modDir, from modules.dep.
func inTreeFile(t *testing.T, modDir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		p, _, _ := strings.Cut(l, ":")
		if base := filepath.Base(p); strings.HasPrefix(base, name+".ko") {
			return filepath.Join(modDir, p)
		}
	}
	t.Fatalf("no %s in %s/modules.dep", name, modDir)
	return ""
}
