package depmod_test

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/depmod"
)

// TestHelperDepmod is not a test: it is the child process TestKilledAnyMomentAtomic
// kills.
func TestHelperDepmod(t *testing.T) {
	spec := os.Getenv("GOKMOD_DEPMOD_HELPER")
	if spec == "" {
		return
	}
	root, rel, _ := strings.Cut(spec, "\n")
	if err := depmod.Run(depmod.Options{BaseDir: root, KernelRelease: rel, Jobs: 1}); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// TestKilledAnyMomentAtomic kills depmod with SIGKILL at random moments while it
// rewrites a tree's files, and checks after each kill that every file is either the
// whole old version or the whole new one, never partial or missing.
func TestKilledAnyMomentAtomic(t *testing.T) {
	k := testenv.RequireLine(t, "6.1")
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	dir := filepath.Join(root, "lib/modules", k.Release)
	// A subset of the tree: net and fs drivers, about 700 modules.
	full := copyTree(t, k.ModDir(), root, k.Release)
	var dropped []string
	filepath.WalkDir(filepath.Join(full, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "/kernel/net/") && !strings.Contains(p, "/kernel/fs/") {
			os.Remove(p)
		}
		return nil
	})
	// The "old" files come from the tree without the ceph, nfs, btrfs and fuse modules.
	filepath.WalkDir(filepath.Join(dir, "kernel/fs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.Contains(p, "/ceph/") || strings.Contains(p, "/nfs/") || strings.Contains(p, "/btrfs/") || strings.Contains(p, "/fuse/")) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p+".hold", b, 0o644)
			os.Remove(p)
			dropped = append(dropped, p)
		}
		return nil
	})
	if err := depmod.Run(depmod.Options{BaseDir: root, KernelRelease: k.Release, Stderr: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	old := readGenerated(root, k.Release)
	for _, p := range dropped {
		os.Rename(p+".hold", p)
	}
	// The "new" files: computed on a copy, so the tree itself still holds the old ones.
	root2 := filepath.Join(tmp, "root2")
	copyTree(t, dir, root2, k.Release)
	if err := depmod.Run(depmod.Options{BaseDir: root2, KernelRelease: k.Release, Stderr: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	nw := readGenerated(root2, k.Release)
	for _, name := range generated {
		if bytes.Equal(old[name], nw[name]) && name != "modules.builtin.bin" && name != "modules.builtin.alias.bin" && name != "modules.weakdep" {
			t.Fatalf("%s: old and new are the same; the test would prove nothing", name)
		}
	}

	run := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDepmod$")
		cmd.Env = append(os.Environ(), "GOKMOD_DEPMOD_HELPER="+root+"\n"+k.Release)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	start := time.Now()
	if err := run().Wait(); err != nil {
		t.Fatal(err)
	}
	dur := time.Since(start)
	check := func(when string) (news int) {
		for _, name := range generated {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("%s: %s: %v", when, name, err)
			}
			switch {
			case bytes.Equal(b, nw[name]):
				news++
			case bytes.Equal(b, old[name]):
			default:
				t.Fatalf("%s: %s is neither the old nor the new file (%d bytes)", when, name, len(b))
			}
		}
		return news
	}
	if n := check("after a full run"); n != len(generated) {
		t.Fatalf("a full run left %d of %d files new", n, len(generated))
	}
	kills, mixed := 0, 0
	for i := 0; i < 30; i++ {
		// Back to the old files, then kill a run somewhere in its lifetime.
		for name, b := range old {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := run()
		time.Sleep(time.Duration(rand.Int64N(int64(dur) + int64(dur)/5)))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signaled() {
			kills++
		}
		if n := check("after SIGKILL"); n > 0 && n < len(generated) {
			mixed++
		}
	}
	testenv.Report(t, "depmod: full run %v; %d of 30 runs killed mid-way, %d left a mix of old and new files, never a partial one", dur.Round(time.Millisecond), kills, mixed)
	if kills == 0 {
		t.Error("no run was killed before it finished")
	}
}
