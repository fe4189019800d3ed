package depmod_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
)

// TestWriteFailureAgainstKmod makes one output impossible to rename (a directory stands
// where the file goes) and checks that gokmod, which writes its temporary files ahead on
// all cores, still fails as kmod does: the same messages, the outputs before that one
// renamed, none after it, and the same files left in the directory.
func TestWriteFailureAgainstKmod(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	tempName := regexp.MustCompile(`\.[0-9]+\.[0-9]+\.[0-9]+`)
	listing := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, tempName.ReplaceAllString(e.Name(), ".PID.USEC.SEC"))
		}
		slices.Sort(names)
		return names
	}
	for _, blocked := range []string{"modules.dep", "modules.alias.bin", "modules.devname"} {
		t.Run(blocked, func(t *testing.T) {
			tmp := t.TempDir()
			kroot, groot := filepath.Join(tmp, "k"), filepath.Join(tmp, "g")
			kdir := subTree(t, k.ModDir(), kroot, k.Release, "kernel/drivers/net", false)
			gdir := subTree(t, k.ModDir(), groot, k.Release, "kernel/drivers/net", false)
			for _, dir := range []string{kdir, gdir} {
				if err := os.MkdirAll(filepath.Join(dir, blocked, "x"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			kr := runKmod(t, kroot, k.Release)
			gr := runGo(t, groot, k.Release, depmod.Options{Kmod: compat.Kmod30})
			if kr.exit == 0 {
				t.Fatalf("kmod's depmod did not fail: %s", kr.stderr)
			}
			kr.stderr = tempName.ReplaceAllString(kr.stderr, ".PID.USEC.SEC")
			gr.stderr = tempName.ReplaceAllString(gr.stderr, ".PID.USEC.SEC")
			compare(t, blocked, kr, gr, kroot, groot)
			if kl, gl := listing(kdir), listing(gdir); !slices.Equal(kl, gl) {
				t.Errorf("files left: kmod %v, gokmod %v", kl, gl)
			}
		})
	}
}

// TestWriteAheadFullDisk writes the outputs to a file system with room for the old files
// and the largest new one, but not for all ten new ones at once: writing ahead fails,
// and depmod must fall back to kmod's one-file-at-a-time order and succeed, with the
// same outputs as on a roomy disk and no temporary file left (the roomy run stands for
// kmod in compare's messages: TestAgainstKmod compares it with kmod). Mounting needs
// root, as the suite's set-up does.
func TestWriteAheadFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to mount a small tmpfs")
	}
	k := testenv.RequireLine(t, "6.1")
	tmp := t.TempDir()
	root, roomy, small := filepath.Join(tmp, "root"), filepath.Join(tmp, "roomy"), filepath.Join(tmp, "small")
	subTree(t, k.ModDir(), root, k.Release, "kernel/drivers/net", false)
	if err := os.MkdirAll(small, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", small, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(small, unix.MNT_DETACH) })
	for _, out := range []string{roomy, small} { // depmod -o, as kmod's, needs it there
		if err := os.MkdirAll(filepath.Join(out, "lib/modules", k.Release), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(out string) result {
		var so, se bytes.Buffer
		o := depmod.Options{BaseDir: root, OutDir: out, KernelRelease: k.Release, Stdout: &so, Stderr: &se}
		exit := 0
		if err := depmod.Run(o); err != nil {
			exit = 1
		}
		return result{files: readGenerated(out, k.Release), stdout: so.String(), stderr: se.String(), exit: exit}
	}
	want := run(roomy)
	if want.exit != 0 || len(want.files) != len(generated) {
		t.Fatalf("roomy run: exit %d, %d files: %s", want.exit, len(want.files), want.stderr)
	}
	if r := run(small); r.exit != 0 {
		t.Fatalf("first run on the small file system: %s", r.stderr)
	}
	total, largest := 0, 0
	for _, b := range want.files {
		total += len(b)
		largest = max(largest, len(b))
	}
	// The old files, the largest new one and a page per file of slack; far less than
	// the old files plus all the new ones.
	size := total + largest + 24*4096
	if err := unix.Mount("tmpfs", small, "tmpfs", unix.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatal(err)
	}
	got := run(small)
	compare(t, "small file system", want, got, roomy, small)
	outDir := filepath.Join(small, "lib/modules", k.Release)
	ents, err := os.ReadDir(outDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Count(e.Name(), ".") > 2 && regexp.MustCompile(`\.[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(e.Name()) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	testenv.Report(t, "depmod on a file system with room for %d of %d output bytes at once: same outputs, no file left", size, 2*total)
}
