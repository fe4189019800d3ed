package tool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/simop"
	pgbuild "gokmod/internal/testing/playground"
	"gokmod/internal/testing/testenv"
)

// Out-of-tree workflows of the model's tools, with the playground's modules built by
// kbuild against Debian's headers: pg_exporter exports pg_plain, pg_gpl and pg_ns;
// pg_use_plain, pg_use_gpl and pg_use_ns need them.

// copyModule copies src into dir (as name) and returns the copy's path.
func copyModule(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkJSON runs check --json and returns the verdicts by module name.
func checkJSON(t *testing.T, args ...string) (map[string]CheckVerdict, []string, string, int) {
	t.Helper()
	out, stderr, code := runTool(nil, append([]string{"check", "--json"}, args...)...)
	got := map[string]CheckVerdict{}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var v CheckVerdict
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got[v.Module] = v
		order = append(order, v.Module)
	}
	return got, order, stderr, code
}

// TestCheckNamedTogether: files named together provide symbols to one another, whatever
// the order they are given in; alone, the user is refused as the kernel would refuse it.
func TestCheckNamedTogether(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	pg := pgbuild.MustBuild(t, k)
	exp, plain, gpl, ns := pg.Path(pgbuild.Exporter), pg.Path(pgbuild.UsePlain), pg.Path(pgbuild.UseGPL), pg.Path(pgbuild.UseNS)
	for _, args := range [][]string{{plain, exp}, {exp, plain}, {ns, gpl, plain, exp}, {gpl, exp, ns}} {
		got, order, stderr, code := checkJSON(t, append([]string{"--kernel", k.Root}, args...)...)
		if code != 0 || len(got) != len(args) {
			t.Errorf("check %v: exit %d, %v\n%s", args, code, got, stderr)
		}
		for i, v := range got {
			if v.Result != "ok" {
				t.Errorf("check %v: %s: %+v", args, i, v)
			}
		}
		// Reported in the order given.
		for i, a := range args {
			if i < len(order) && order[i] != strings.TrimSuffix(filepath.Base(a), ".ko") {
				t.Errorf("check %v: reported in order %v", args, order)
				break
			}
		}
	}
	got, _, _, code := checkJSON(t, "--kernel", k.Root, plain)
	if v := got[pgbuild.UsePlain]; code != 1 || v.Result != "ENOENT" || !strings.Contains(strings.Join(v.Log, "|"), "Unknown symbol pg_plain") {
		t.Errorf("pg_use_plain alone: exit %d, %+v", code, v)
	}
}

// TestCheckInTreeProviders: a module that is not the tree's own file (here copies of
// stp and llc in another directory) is loaded after the modules exporting what it needs:
// a file named with it, else the in-tree module Module.symvers names.
func TestCheckInTreeProviders(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		dir := t.TempDir()
		var stp, llc string
		for name, dst := range map[string]*string{"stp": &stp, "llc": &llc} {
			src := filepath.Join(k.ModDir(), inTreePath(t, k, name))
			*dst = copyModule(t, src, dir, filepath.Base(src))
		}
		for _, args := range [][]string{{stp}, {stp, llc}, {llc, stp}} {
			got, _, stderr, code := checkJSON(t, append([]string{"--kernel", k.Root}, args...)...)
			if code != 0 || len(got) != len(args) || got["stp"].Result != "ok" {
				t.Errorf("%s: check %v: exit %d, %+v\n%s", k.Release, args, code, got, stderr)
			}
		}
	}
}

// inTreePath is name's path under the modules directory, from modules.dep.
func inTreePath(t *testing.T, k testenv.Kernel, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k.ModDir(), "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		p, _, _ := strings.Cut(l, ":")
		if b := filepath.Base(p); b == name+".ko" || strings.HasPrefix(b, name+".ko.") {
			return p
		}
	}
	t.Fatalf("%s: no %s in modules.dep", k.Release, name)
	return ""
}

// TestExplainLoadedFiles: --loaded takes module files as well as in-tree names, loads
// each after what it needs whatever the order given, and --with-deps finds an
// out-of-tree module's providers among them.
func TestExplainLoadedFiles(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	pg := pgbuild.MustBuild(t, k)
	exp, plain, ns := pg.Path(pgbuild.Exporter), pg.Path(pgbuild.UsePlain), pg.Path(pgbuild.UseNS)
	explain := func(args ...string) (*Explanation, string, int) {
		out, stderr, code := runTool(nil, append([]string{"explain", "--kernel", k.Root, "--json"}, args...)...)
		if code == 2 {
			return nil, stderr, code
		}
		var x Explanation
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatalf("explain %v: %v\n%s%s", args, err, out, stderr)
		}
		return &x, stderr, code
	}
	for _, loaded := range []string{ns + "," + exp, exp + "," + ns} {
		x, stderr, code := explain("--loaded", loaded+",llc", plain)
		if code != 0 || x.Result != "ok" || strings.Join(x.Preloaded, ",") != "pg_exporter,pg_use_ns,llc" {
			t.Errorf("--loaded %s: exit %d, %+v\n%s", loaded, code, x, stderr)
		}
	}
	if x, stderr, code := explain("--with-deps", "--loaded", exp, plain); code != 0 || x.Result != "ok" {
		t.Errorf("--loaded FILE: exit %d, %+v %s", code, x, stderr)
	}
	if x, _, code := explain(plain); code != 1 || x.Result != "ENOENT" {
		t.Errorf("pg_use_plain alone: exit %d, %+v", code, x)
	}
	// A file that is missing, or does not load, is an input error naming it.
	missing := filepath.Join(t.TempDir(), "nosuch.ko")
	if _, stderr, code := explain("--loaded", missing, plain); code != 2 || !strings.Contains(stderr, missing) {
		t.Errorf("--loaded missing file: exit %d, %q", code, stderr)
	}
	if _, stderr, code := explain("--loaded", plain, exp); code != 2 || !strings.Contains(stderr, "pg_use_plain") {
		// pg_exporter is FILE, explained last: pg_use_plain cannot load before it.
		t.Errorf("--loaded a module needing FILE: exit %d, %q", code, stderr)
	}
	if _, stderr, code := explain("--loaded", "no_such_module", plain); code != 2 || !strings.Contains(stderr, "no_such_module") {
		t.Errorf("--loaded unknown name: exit %d, %q", code, stderr)
	}
}

// TestCheckDirectoryModulesOnly: check DIR takes the module files kbuild leaves in its
// output directory and nothing else (.x.ko.cmd, x.mod, x.mod.c, x.o, Module.symvers).
func TestCheckDirectoryModulesOnly(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	pg := pgbuild.MustBuild(t, k)
	dir := t.TempDir()
	copyModule(t, pg.Path(pgbuild.NoDeps), dir, "pg_nodeps.ko")
	copyModule(t, pg.Path(pgbuild.Exporter), dir, "pg_exporter.ko")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyModule(t, pg.Path(pgbuild.UsePlain), filepath.Join(dir, "sub"), "pg_use_plain.ko")
	for _, n := range []string{".pg_nodeps.ko.cmd", "pg_nodeps.mod", "pg_nodeps.mod.c", "pg_nodeps.mod.o", "pg_nodeps.o",
		".pg_nodeps.o.cmd", "Module.symvers", "modules.order", "pg_nodeps.ko.orig", ".ko", "sub/.pg_use_plain.mod.cmd"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("not a module\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, _, stderr, code := checkJSON(t, "--kernel", k.Root, dir)
	if code != 0 || len(got) != 3 || !strings.Contains(stderr, "3 modules checked") {
		t.Errorf("exit %d, %+v\n%s", code, got, stderr)
	}
	for _, n := range []string{"x.ko", "x.ko.gz", "x.ko.xz", "x.ko.zst", "a.b.ko"} {
		if !isModuleName(n) {
			t.Errorf("%s: not taken as a module", n)
		}
	}
	for _, n := range []string{".x.ko.cmd", "x.mod", "x.ko.cmd", "x.ko.orig", "x.o", ".ko", "x.kox"} {
		if isModuleName(n) {
			t.Errorf("%s: taken as a module", n)
		}
	}
}

// TestCheckContinuesAndExitStatus: a path that cannot be read is reported on its own
// line and the others are still checked; the exit status is 0 when every module would
// load, 1 when one would not, 2 for a usage or input error (documented in --help).
func TestCheckContinuesAndExitStatus(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	pg := pgbuild.MustBuild(t, k)
	dir := t.TempDir()
	missing := filepath.Join(dir, "nosuch.ko")
	unreadableDir := filepath.Join(dir, "locked")
	if err := os.Mkdir(unreadableDir, 0o000); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(unreadableDir, 0o755)
	nodeps, plain := pg.Path(pgbuild.NoDeps), pg.Path(pgbuild.UsePlain)

	out, stderr, code := runTool(nil, "check", "--kernel", k.Root, missing, nodeps, plain)
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "check: ERROR: stat "+missing+": no such file or directory\n") ||
		!strings.Contains(out, plain+": ENOENT") || !strings.Contains(out, "2 modules checked") || !strings.Contains(out, "not read 1;") {
		t.Errorf("missing file: exit %d\n%s%s", code, out, stderr)
	}
	if os.Geteuid() != 0 { // root reads any directory
		if _, stderr, code := runTool(nil, "check", "--kernel", k.Root, unreadableDir, nodeps); code != 2 || !strings.Contains(stderr, unreadableDir) {
			t.Errorf("unreadable directory: exit %d %q", code, stderr)
		}
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{nodeps}, 0},
		{[]string{nodeps, plain}, 1},
		{[]string{"--no-such-option", nodeps}, 2},
		{[]string{}, 2},
		{[]string{"--kernel", filepath.Join(dir, "nosuch-kernel"), nodeps}, 2},
	} {
		args := tt.args
		if len(args) == 0 || !strings.HasPrefix(args[0], "--") {
			args = append([]string{"--kernel", k.Root}, args...)
		}
		if _, stderr, code := runTool(nil, append([]string{"check"}, args...)...); code != tt.code {
			t.Errorf("check %v: exit %d, want %d\n%s", args, code, tt.code, stderr)
		}
	}
	for _, tool := range []string{"check", "explain"} {
		out, _, code := runTool(nil, tool, "--help")
		if code != 0 || !strings.Contains(out, "Exit status: 0 ") || !strings.Contains(out, "; 2 a usage or input error") {
			t.Errorf("%s --help: exit %d, no exit statuses:\n%s", tool, code, out)
		}
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--kernel", k.Root, nodeps}, 0},
		{[]string{"--kernel", k.Root, plain}, 1},
		{[]string{"--kernel", k.Root, missing}, 2},
		{[]string{"--bogus", nodeps}, 2},
		{[]string{"--kernel", k.Root}, 2},
	} {
		if _, stderr, code := runTool(nil, append([]string{"explain"}, tt.args...)...); code != tt.code {
			t.Errorf("explain %v: exit %d, want %d\n%s", tt.args, code, tt.code, stderr)
		}
	}
}

// TestSimArm64Playground runs the playground cross-built for each prepared arm64 kernel
// through sim against that kernel's packages as they come, as make fidelity's model side
// does: what the modules are written to do (load; resolve pg_plain once pg_exporter is in;
// be refused pg_gpl under a proprietary license) must be what the model predicts.
func TestSimArm64Playground(t *testing.T) {
	for _, k := range testenv.RequireKernelsArm64(t) {
		t.Run(k.Release, func(t *testing.T) {
			pg := pgbuild.MustBuild(t, k)
			raw, err := k.RawRoot()
			if err != nil {
				t.Fatal(err)
			}
			want := [][2]string{
				{pgbuild.NoDeps, "ok"}, {pgbuild.Exporter, "ok"}, {pgbuild.UsePlain, "ok"},
				{pgbuild.UseNS, "ok"}, {pgbuild.Proprietary, "ENOENT"},
			}
			var script strings.Builder
			for _, w := range want {
				script.WriteString("insmod " + pg.Path(w[0]) + "\n")
			}
			p := filepath.Join(t.TempDir(), "script")
			if err := os.WriteFile(p, []byte(script.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			out, stderr, code := runTool(nil, "sim", "--kernel", raw, p)
			if code != 0 {
				t.Fatalf("sim: exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(want) {
				t.Fatalf("sim: %d outcomes for %d loads:\n%s", len(lines), len(want), out)
			}
			for i, l := range lines {
				var o simop.Outcome
				if err := json.Unmarshal([]byte(l), &o); err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				if o.Result != want[i][1] || (o.Result == "ok" && o.Name != want[i][0]) {
					t.Errorf("insmod %s: %s %q, want %s", want[i][0], o.Result, o.Name, want[i][1])
				}
				if want[i][0] == pgbuild.Proprietary && !strings.Contains(strings.Join(o.Log, "|"), "Unknown symbol pg_gpl") {
					t.Errorf("insmod %s: log %q, want Unknown symbol pg_gpl", want[i][0], o.Log)
				}
			}
		})
	}
}
