package tool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
	"gokmod/kmod"
)

// TestCheckSameOnEveryRoot runs `gokmod check --json` over every module of each tree
// against three kernels made of the same files: Debian's packages unpacked as they come
// (dpkg -x of the image, headers and -common, by scripts/setup.sh: no vmlinux, no
// modules.dep), an installed-style root (the same after depmod -b), and the root
// scripts/setup.sh prepared (with an extracted vmlinux). Verdicts, taints, log lines and sizes must be
// identical: what the model knows must come from the files real systems have.
//
// One kernel of each layout Debian uses (testenv.OnePerLayout: classic, trixie's
// usr/lib/modules, 7.x's merged-/usr): the subject is how the files are found.
func TestCheckSameOnEveryRoot(t *testing.T) {
	depmod := testenv.KmodTool(t, "depmod")
	for _, k := range testenv.OnePerLayout(testenv.RequireKernels(t)) {
		t.Run(k.Release, func(t *testing.T) {
			raw, err := k.RawRoot()
			if err != nil {
				t.Fatal(err)
			}
			// cp -al of a symbolic link copies the link, and depmod would then write
			// into the raw root itself: copy what it points to.
			if raw, err = filepath.EvalSymlinks(raw); err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			installed := filepath.Join(tmp, "installed")
			if out, err := exec.Command("cp", "-al", raw, installed).CombinedOutput(); err != nil {
				t.Fatalf("cp -al: %v\n%s", err, out)
			}
			// A merged-/usr system (7.x ships only usr/lib/modules) has /lib -> usr/lib.
			if _, err := os.Lstat(filepath.Join(installed, "lib")); os.IsNotExist(err) {
				if err := os.Symlink("usr/lib", filepath.Join(installed, "lib")); err != nil {
					t.Fatal(err)
				}
			}
			if out, err := exec.Command(depmod, "-b", installed, k.Release).CombinedOutput(); err != nil {
				t.Fatalf("depmod -b: %v\n%s", err, out)
			}
			for _, p := range []string{"vmlinux", "lib/modules/" + k.Release + "/modules.dep", "usr/lib/modules/" + k.Release + "/modules.dep"} {
				if _, err := os.Stat(filepath.Join(raw, p)); err == nil {
					t.Fatalf("the raw root has %s: it is not as the packages come", p)
				}
			}
			var want map[string]string
			for _, root := range []string{k.Root, raw, installed} {
				got := checkTree(t, root, k.Release)
				if want == nil {
					want = got
					continue
				}
				for m, v := range want {
					if got[m] != v {
						t.Errorf("%s: %s:\n  prepared root: %s\n  this root:     %s", filepath.Base(root), m, v, got[m])
					}
				}
				if len(got) != len(want) {
					t.Errorf("%s: %d modules checked, the prepared root %d", filepath.Base(root), len(got), len(want))
				}
			}
			if !t.Failed() {
				testenv.Report(t, "check --json of %d modules: the same verdicts, taints, log lines and sizes from the raw packages, an installed-style root and the prepared root", len(want))
			}
		})
	}
}

// checkTree runs check --json over root's module tree and returns each module's
// verdict without its file name, keyed by its path in the tree.
func checkTree(t *testing.T, root, rel string) map[string]string {
	t.Helper()
	tree := filepath.Join(kernel.ModuleDirIn(root, rel), "kernel")
	var o, e bytes.Buffer
	code := Main([]string{"gokmod", "check", "--kernel", root, "--json", tree}, &o, &e, kmod.NewHost())
	if code == exitInputError {
		t.Fatalf("check --kernel %s: exit %d: %s", root, code, e.String())
	}
	out := map[string]string{}
	sizes := 0
	sc := bufio.NewScanner(&o)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v CheckVerdict
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		key := strings.TrimPrefix(v.File, tree+"/")
		if v.CoreSize > 0 {
			sizes++
		}
		v.File = ""
		b, _ := json.Marshal(v)
		out[key] = string(b)
	}
	if len(out) < 1000 || sizes < len(out)/2 {
		keys := make([]string, 0, 3)
		for k := range out {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("check --kernel %s: %d verdicts, %d with sizes (%q…): %s", root, len(out), sizes, keys, e.String())
	}
	return out
}
