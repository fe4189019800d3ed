package config

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
)

func TestLoadDepmod(t *testing.T) {
	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "etc/depmod.d/b.conf"),
		"# comment\nsearch extra updates\nsearch built-in external\n"+
			"override m_d * weird\noverride m_x ^5\\. weird\noverride m_y 6\\.1\\. other\noverride broken\n"+
			"external 6.1 /opt/ext\nexternal ^9 /nope\nexternal * \\\n /opt/ext2\nexclude skipme other\n"+
			"include x\nmake_map_files\nbogus line\n")
	writeFile(t, filepath.Join(tmp, "etc/depmod.d/a.alias"), "search ignored\n")
	writeFile(t, filepath.Join(tmp, "lib/depmod.d/b.conf"), "search masked\n")
	writeFile(t, filepath.Join(tmp, "lib/depmod.d/c.conf"), "exclude third\n")
	c := LoadDepmod(DepmodOptions{Root: tmp, KernelRelease: "6.1.0-56-amd64"})
	if want := []string{"extra", "updates", "built-in", "external"}; !reflect.DeepEqual(c.Search, want) {
		t.Errorf("Search = %q", c.Search)
	}
	if want := []Override{{"m_d", "weird"}, {"m_y", "other"}}; !reflect.DeepEqual(c.Overrides, want) {
		t.Errorf("Overrides = %v", c.Overrides)
	}
	if want := []string{"/opt/ext", "/opt/ext2"}; !reflect.DeepEqual(c.Externals, want) {
		t.Errorf("Externals = %q", c.Externals)
	}
	if want := []string{"skipme", "other", "third"}; !reflect.DeepEqual(c.Excludes, want) {
		t.Errorf("Excludes = %q", c.Excludes)
	}
	if !c.Excluded("build") || !c.Excluded("third") || c.Excluded("kernel") {
		t.Error("Excluded")
	}
	var msgs []string
	for _, w := range c.Warnings {
		if !errors.Is(w, ErrBadLine) {
			t.Errorf("unexpected warning %v", w)
		}
		msgs = append(msgs, w.LogLine())
	}
	want := []string{
		"depmod: ERROR: /etc/depmod.d/b.conf:7: ignoring bad line starting with 'override'\n",
		"depmod: ERROR: /etc/depmod.d/b.conf:15: ignoring bad line starting with 'bogus'\n",
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("warnings:\n%q", msgs)
	}
	if d := LoadDepmod(DepmodOptions{Root: t.TempDir()}); !reflect.DeepEqual(d.Search, []string{"updates"}) {
		t.Errorf("default search = %q", d.Search)
	}
}

// TestPrefersAgainstDepmod builds a module tree with same-named modules in several
// places, lets the host's kmod 30 `depmod -b ROOT -C CONF` choose, and replays the
// choice with DepmodConfig.Prefers.
func TestPrefersAgainstDepmod(t *testing.T) {
	ko, err := os.ReadFile(filepath.Join(testenv.RequireLine(t, "6.1").ModDir(), "kernel/lib/crc7.ko"))
	if err != nil {
		t.Fatal(err)
	}
	depmod, err := exec.LookPath("depmod")
	if err != nil {
		depmod = "/sbin/depmod"
		if _, err := os.Stat(depmod); err != nil {
			t.Fatal("kmod's depmod not found: run scripts/setup.sh (make setup)")
		}
	}
	tmp := t.TempDir()
	const rel = "6.1.0-gokmod"
	root := filepath.Join(tmp, "root")
	moddir := filepath.Join(root, "lib/modules", rel)
	ext := filepath.Join(tmp, "ext")
	conf := filepath.Join(tmp, "depmod.d")
	writeFile(t, filepath.Join(conf, "test.conf"),
		"search extra updates built-in external\noverride m_d * weird\noverride m_b ^5\\. weird\n"+
			"external 6\\.1 "+ext+"\nexclude skipme\n")
	for _, p := range []string{
		"kernel/a/m_a.ko", "updates/m_a.ko", "extra/sub/m_a.ko",
		"kernel/m_b.ko", "updates/m_b.ko", "weird/m_b.ko",
		"kernel/m_c.ko",
		"weird/m_d.ko", "extra/m_d.ko",
		"skipme/m_e.ko", "kernel/m_e.ko",
		"updates/m-g.ko", "kernel/m_g.ko",
		"updates/m_h.ko", "extra2/m_h.ko",
	} {
		writeFile(t, filepath.Join(moddir, p), string(ko))
	}
	for _, p := range []string{"m_c.ko", "m_f.ko", "m_h.ko"} {
		writeFile(t, filepath.Join(ext, p), string(ko))
	}
	cmd := exec.Command(depmod, "-b", root, "-C", conf, rel)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("depmod: %v\n%s", err, stderr.String())
	}
	depLines, err := os.ReadFile(filepath.Join(moddir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(depLines)), "\n") {
		p, _, _ := strings.Cut(line, ":")
		want[PathToModname(p)] = p
	}

	c := LoadDepmod(DepmodOptions{ConfigPaths: []string{conf}, KernelRelease: rel})
	var found []string
	walk := func(dir string) {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != dir && c.Excluded(d.Name()) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".ko") {
				found = append(found, p)
			}
			return nil
		})
	}
	walk(moddir)
	for _, e := range c.Externals {
		walk(e)
	}
	byName := map[string][]string{}
	for _, p := range found {
		byName[PathToModname(p)] = append(byName[PathToModname(p)], p)
	}
	got := map[string]string{}
	for name, paths := range byName {
		// The choice must not depend on the order files are found in.
		var winners []string
		for _, perm := range [][]string{paths, reversed(paths)} {
			w := perm[0]
			for _, p := range perm[1:] {
				if !c.Prefers(moddir, w, p) {
					w = p
				}
			}
			winners = append(winners, w)
		}
		if winners[0] != winners[1] {
			t.Errorf("%s: order-dependent choice %q", name, winners)
		}
		got[name] = strings.TrimPrefix(winners[0], moddir+"/")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("gokmod chose %v\ndepmod chose %v", sortedMap(got), sortedMap(want))
	}
	t.Logf("depmod chose %v", sortedMap(want))
	if len(want) != 8 {
		t.Errorf("depmod kept %d modules: %v", len(want), want)
	}
}

func reversed(s []string) []string {
	r := append([]string(nil), s...)
	sort.Sort(sort.Reverse(sort.StringSlice(r)))
	return r
}

func sortedMap(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
