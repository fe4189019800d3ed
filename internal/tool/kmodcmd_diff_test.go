package tool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod"
)

// kmodReleases are the two kmods gokmod behaves as, run live: this machine's kmod 30
// and trixie's kmod 34.2 (through its own glibc).
func kmodReleases(t *testing.T) []struct {
	env  string
	tool func(name string) string
} {
	return []struct {
		env  string
		tool func(name string) string
	}{
		{"30", func(name string) string { return testenv.KmodTool(t, name) }},
		{"34", func(name string) string { return testenv.Kmod34Tool(t, name) }},
	}
}

// runKmodTool runs kmod's tool name with args, and returns what it printed and its
// status.
func runKmodTool(t *testing.T, path string, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Args[0] = filepath.Base(path) // as a shell finds it in PATH: kmod 30 names argv[0]
	cmd.Stdout, cmd.Stderr = &o, &e
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", path, err)
		}
		code = ee.ExitCode()
	}
	return o.String(), e.String(), code
}

// TestKmodFrontEndAgainstKmod runs `kmod …` and lsmod with both kmods and with gokmod
// behaving as each: help, -V, bad commands and options, list, static-nodes without a
// modules.devname. The output must be the same bytes, except that gokmod's -V adds a
// third line naming itself.
func TestKmodFrontEndAgainstKmod(t *testing.T) {
	cases := [][]string{
		{"kmod"}, {"kmod", "-h"}, {"kmod", "--help"}, {"kmod", "help"}, {"kmod", "help", "list"},
		{"kmod", "bogus"}, {"kmod", "-x"}, {"kmod", "--bogus"}, {"kmod", "-V"}, {"kmod", "--version"},
		{"kmod", "-V", "list"}, {"kmod", "list"}, {"kmod", "list", "x"}, {"kmod", "list", "-h"},
		{"kmod", "list", "-x"}, {"kmod", "list", "-V"}, {"kmod", "static-nodes", "-h"},
		{"kmod", "static-nodes", "--help"}, {"kmod", "static-nodes", "-x"}, {"kmod", "static-nodes", "-f"},
		{"kmod", "static-nodes", "-f", "bad"}, {"kmod", "static-nodes", "--format=json"},
		{"lsmod"}, {"lsmod", "x"}, {"lsmod", "-x"}, {"lsmod", "-s", "x"},
		{"modprobe", "-V"}, {"depmod", "-V"}, {"modinfo", "-V"}, {"insmod", "-V"}, {"rmmod", "-V"},
	}
	for _, k := range kmodReleases(t) {
		t.Setenv("GOKMOD_KMOD", k.env)
		n := 0
		for _, argv := range cases {
			// kmod 30's lsmod takes no option at all, where gokmod answers -V (documented).
			if k.env == "30" && argv[0] == "lsmod" && len(argv) > 1 && argv[1] == "-V" {
				continue
			}
			ko, ke, kc := runKmodTool(t, k.tool(argv[0]), argv[1:]...)
			var o, e bytes.Buffer
			gc := Main(argv, &o, &e, kmod.NewHost())
			gotOut := o.String()
			if version := slicesContains(argv, "-V") || slicesContains(argv, "--version"); version && kc == 0 {
				third := "gokmod version " + Version + "\n"
				if !strings.HasSuffix(gotOut, third) {
					t.Errorf("kmod %s: %q: no gokmod line in -V: %q", k.env, argv, gotOut)
				}
				gotOut = strings.TrimSuffix(gotOut, third)
			}
			if ko != gotOut || ke != e.String() || kc != gc {
				t.Errorf("kmod %s: %q:\nkmod:   exit %d, stdout %q, stderr %q\ngokmod: exit %d, stdout %q, stderr %q",
					k.env, argv, kc, ko, ke, gc, gotOut, e.String())
			}
			n++
		}
		if !t.Failed() {
			testenv.Report(t, "kmod %s: %d invocations of kmod, lsmod and -V byte-identical", k.env, n)
		}
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// devnameFixture is a modules.devname with what a real one holds, a line with a
// subdirectory, a comment, and bad entries that static-nodes reports and skips.
const devnameFixture = "# Device nodes to trigger on-demand module loading.\n" +
	"fuse fuse c10:229\nbtrfs btrfs-control c10:234\nloop loop-control c10:237\n" +
	"tun net/tun c10:200\nsnd_timer snd/timer c116:33\ncuse cuse c10:203\n" +
	"bad line\nblk b8:\nx y z1:2\nvhost_net vhost-net  c10:238 trailing\nuhid uhid\tc+10:-239\n"

// TestStaticNodesAgainstKmod runs `kmod static-nodes` in every format, to stdout and to
// a file, with both kmods and gokmod. kmod reads /lib/modules/$(uname -r)/modules.devname
// of the real root, so it runs in a private mount namespace in which an overlay on
// /usr/lib adds the fixture: the machine's own files are never touched. gokmod reads
// the same fixture through its root seam.
func TestStaticNodesAgainstKmod(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("needs root, for a private mount namespace (unshare -m) with an overlay on /usr/lib")
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	tmp := t.TempDir()
	upper := filepath.Join(tmp, "upper")
	modDir := filepath.Join(upper, "modules", rel)
	for _, d := range []string{modDir, filepath.Join(tmp, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(modDir, "modules.devname"), []byte(devnameFixture), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(tmp, "root")
	if err := os.MkdirAll(filepath.Join(root, "lib/modules", rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "lib/modules", rel, "modules.devname"), []byte(devnameFixture), 0o644); err != nil {
		t.Fatal(err)
	}
	host := &kmod.Host{Root: root, Release: rel}
	for _, k := range kmodReleases(t) {
		t.Setenv("GOKMOD_KMOD", k.env)
		for _, args := range [][]string{{}, {"-f", "human"}, {"--format=tmpfiles"}, {"--format", "devname"},
			{"-f", "tmpfiles", "-o", "/out/sub/static-nodes.conf"}, {"--output=/out/x.conf", "-f", "devname"}} {
			out := filepath.Join(tmp, "kmod-out")
			os.RemoveAll(out)
			kargs := make([]string, len(args))
			for i, a := range args {
				kargs[i] = strings.ReplaceAll(a, "/out/", out+"/")
			}
			script := `w=$1; shift; mount -t overlay overlay -o "lowerdir=/usr/lib,upperdir=$0,workdir=$w" /usr/lib && exec "$@"`
			cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c", script, upper, filepath.Join(tmp, "work"),
				"kmod", "static-nodes"}, kargs...)...)
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(k.tool("kmod"))+":/usr/bin:/bin")
			var ko, ke bytes.Buffer
			cmd.Stdout, cmd.Stderr = &ko, &ke
			kc := 0
			if err := cmd.Run(); err != nil {
				ee, ok := err.(*exec.ExitError)
				if !ok {
					t.Fatal(err)
				}
				kc = ee.ExitCode()
			}
			var o, e bytes.Buffer
			gc := Main(append([]string{"kmod", "static-nodes"}, args...), &o, &e, host)
			if ko.String() != o.String() || ke.String() != e.String() || kc != gc {
				t.Errorf("kmod %s: static-nodes %q:\nkmod:   exit %d, stdout %q, stderr %q\ngokmod: exit %d, stdout %q, stderr %q",
					k.env, args, kc, ko.String(), ke.String(), gc, o.String(), e.String())
			}
			for _, a := range args {
				if p, ok := strings.CutPrefix(strings.TrimPrefix(a, "--output="), "/out/"); ok {
					want, err := os.ReadFile(filepath.Join(out, p))
					if err != nil {
						t.Fatalf("kmod %s wrote no %s: %v", k.env, p, err)
					}
					got, err := os.ReadFile(filepath.Join(root, "out", p))
					if err != nil {
						t.Fatalf("gokmod wrote no %s: %v", p, err)
					}
					if !bytes.Equal(want, got) || len(want) == 0 {
						t.Errorf("kmod %s: static-nodes %q: the files differ:\nkmod:   %q\ngokmod: %q", k.env, args, want, got)
					}
				}
			}
		}
	}
	if !t.Failed() {
		testenv.Report(t, "kmod static-nodes in every format, to stdout and to files, byte-identical to kmod 30 and 34")
	}
}
