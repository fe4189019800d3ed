package config

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
	"gokmod/kmod/index"
)

// hostModprobe finds kmod's modprobe, which `make setup` installs. Missing, the
// differential tests fail: never a skip.
func hostModprobe(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("modprobe"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/modprobe", "/sbin/modprobe"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("kmod's modprobe not found: run scripts/setup.sh (make setup)")
	return ""
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeIndex(t *testing.T, path string, entries [][3]string) {
	t.Helper()
	b := index.NewBuilder()
	for _, e := range entries {
		var prio uint32
		for _, c := range e[2] {
			prio = prio*10 + uint32(c-'0')
		}
		if _, err := b.Insert(e[0], e[1], prio); err != nil {
			t.Fatal(err)
		}
	}
	data, err := b.Bytes(index.PostOrder)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// confFiles exercise every command and kmod 30's parsing quirks. "etc" precedes "lib",
// so etc's shared.conf masks lib's; modules.softdep sorts between them by name.
var confFiles = map[string]string{
	"etc/aaa.conf": "# comment\n\n   \nalias snd-card-0 snd-hda-intel\nalias pci:v*d[0-9]*sv-* my-mod extra tokens\n" +
		"alias lonely\nalias bad]x mod\nalias ok bad[x\nblacklist pcspkr\nblacklist\nblacklist snd-pcsp trailing\n" +
		"options e1000e IntMode=1,1\tdebug=3\noptions e1000e   copybreak=64\noptions nothing\noptions onlyspace \n" +
		"options  spaced\t\tx=1\ninstall loop /bin/echo custom-install-loop \\\n  continued\ninstall bad[ cmd\n" +
		"remove crc64 /bin/echo a\\b\\c\nsoftdep m1 pre: a b post: c d\nsoftdep m2  pre: x\nsoftdep m3 post: z pre: y\n" +
		"softdep m4 gcm\nsoftdep m5\tpre:\ty\tpost:  w \nsoftdep m6\nsoftdep m-7 pre:post: q\nweakdep m8 q\n" +
		"include /etc/foo\nconfig bar\nfrobnicate x\n  # indented comment\n\t#tabbed\nalias\tcr\r mod\r\n" +
		"options nul a\x00b\nremove last \\",
	"etc/modules.softdep.conf": "softdep uhci-hcd pre: from-etc\n",
	"etc/shared.conf":          "options shared from-etc\n",
	"etc/.hidden.conf":         "options hidden 1\n",
	"etc/a.con":                "options short 1\n",
	"etc/old.alias":            "alias old-alias old-mod\n",
	"etc/notes.txt":            "options notes 1\n",
	"etc/sub.conf/inner.conf":  "options inner 1\n",
	"lib/shared.conf":          "options shared from-lib\n",
	"lib/zzz.conf":             "softdep uhci_hcd pre: from-zzz\noptions zzz 1\n",
	"lib/mmm.conf":             "blacklist mmm\n",
	"single/one.conf":          "alias single-file single_mod\n",
}

// TestModprobeCAgainstKmod compares ShowConfig and the warnings with what `modprobe -c
// -C ... -d ROOT -S REL` prints for the same files: the host's kmod 30 with the default
// Options, and kmod 34.2 with Options.Kmod = compat.Kmod34 (its weakdep lines, no .alias
// files, a backslash at end of file dropped, its message format). Both read the host's /proc/cmdline, so its options appear on both
// sides.
func TestModprobeCAgainstKmod(t *testing.T) {
	for _, k := range []compat.Kmod{compat.Kmod30, compat.Kmod34} {
		t.Run("kmod"+k.String(), func(t *testing.T) { modprobeCAgainstKmod(t, k) })
	}
}

func modprobeCAgainstKmod(t *testing.T, k compat.Kmod) {
	modprobe := hostModprobe(t)
	if k == compat.Kmod34 {
		modprobe = testenv.Kmod34Tool(t, "modprobe")
	}
	tmp := t.TempDir()
	for name, content := range confFiles {
		writeFile(t, filepath.Join(tmp, name), content)
	}
	const rel = "9.9.9-gokmod"
	root := filepath.Join(tmp, "root")
	moddir := filepath.Join(root, "lib/modules", rel)
	writeFile(t, filepath.Join(moddir, "modules.softdep"),
		"# Soft dependencies extracted from modules themselves.\nsoftdep uhci_hcd pre: ehci_pci\nsoftdep cifs gcm\n")
	writeIndex(t, filepath.Join(moddir, "modules.dep.bin"), [][3]string{{"m1", "kernel/m1.ko:", "0"}})
	// Two values with one priority under one key: the mapped dump keeps file order,
	// the unmapped one reverses them.
	writeIndex(t, filepath.Join(moddir, "modules.alias.bin"), [][3]string{
		{"pci:v00008086d*", "e1000e", "3"}, {"usb:v*p*", "usbcore", "1"}, {"dup", "first", "2"}, {"dup", "second", "2"},
		{"dup", "early", "1"}, {"of:N*T[a-z]", "ofmod", "0"}})
	writeIndex(t, filepath.Join(moddir, "modules.symbols.bin"), [][3]string{
		{"symbol:printk", "kernel", "0"}, {"symbol:foo", "m1", "0"}})
	writeIndex(t, filepath.Join(moddir, "modules.builtin.bin"), [][3]string{{"unix", "", "0"}})

	paths := []string{filepath.Join(tmp, "etc"), filepath.Join(tmp, "lib"), filepath.Join(tmp, "single/one.conf"),
		filepath.Join(tmp, "missing")}
	run := func(t *testing.T) {
		args := []string{"-c", "-d", root, "-S", rel}
		for _, p := range paths {
			args = append(args, "-C", p)
		}
		cmd := exec.Command(modprobe, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("modprobe -c: %v\n%s", err, stderr.String())
		}
		c, err := Load(Options{ConfigPaths: paths, ModuleDir: moddir, Kmod: k})
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := c.ShowConfig(&got); err != nil {
			t.Fatal(err)
		}
		if got.String() != stdout.String() {
			t.Errorf("stdout differs:\n--- gokmod\n%s\n--- kmod\n%s", got.String(), stdout.String())
		}
		var warn strings.Builder
		for _, w := range c.Warnings {
			warn.WriteString(w.LogLineFor(k))
		}
		if warn.String() != stderr.String() {
			t.Errorf("stderr differs:\n--- gokmod\n%s\n--- kmod\n%s", warn.String(), stderr.String())
		}
	}
	t.Run("loaded", run)
	// Without modules.builtin.bin, libkmod cannot load its indexes and dumps through
	// the unmapped reader.
	if err := os.Remove(filepath.Join(moddir, "modules.builtin.bin")); err != nil {
		t.Fatal(err)
	}
	t.Run("unloaded", run)
	testenv.Report(t, "modprobe -c of kmod %s: the configuration test set, with and without the indexes loaded, identical", k)
}

// TestModprobeCDebianTrees compares all of `modprobe -c -d KROOT -S REL` (the host's
// modprobe.d, the tree's modules.softdep and its alias and symbol index dumps) with
// ShowConfig on Debian's 6.1 and 6.12 module trees.
func TestModprobeCDebianTrees(t *testing.T) {
	modprobe := hostModprobe(t)
	for _, k := range testenv.RequireKernels(t) {
		t.Run(k.Release, func(t *testing.T) {
			cmd := exec.Command(modprobe, "-c", "-d", k.Root, "-S", k.Release)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("modprobe -c: %v\n%s", err, stderr.String())
			}
			c, err := Load(Options{ModuleDir: k.ModDir()})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := c.ShowConfig(&got); err != nil {
				t.Fatal(err)
			}
			if got.Len() < 1<<20 {
				t.Fatalf("only %d bytes: indexes not dumped?", got.Len())
			}
			if !bytes.Equal(got.Bytes(), stdout.Bytes()) {
				g, w := strings.Split(got.String(), "\n"), strings.Split(stdout.String(), "\n")
				for i := 0; i < len(g) && i < len(w); i++ {
					if g[i] != w[i] {
						t.Fatalf("line %d differs:\ngokmod: %q\nkmod:   %q", i+1, g[i], w[i])
					}
				}
				t.Fatalf("gokmod printed %d lines, kmod %d", len(g), len(w))
			}
		})
	}
}
