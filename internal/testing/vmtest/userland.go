package vmtest

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gokmod/internal/testing/testenv"
)

// userland is where a guest's busybox and kmod come from: the host's own files (and
// trixie's kmod 34.2 for amd64 from the cache, addKmod) for amd64 guests; for arm64
// ones, the arm64 packages of the suite of the kmod asked for, which
// scripts/setup-arm64.sh unpacked.
type userland struct {
	root    string // "/" for the host's files
	busybox string // host paths
	kmod    string // a foreign guest's kmod binary
	// kmodRel is the release of a foreign guest's kmod ("34.2", from the packages'
	// versions.txt); empty for the host's user space, whose kmod Config.Kmod chooses.
	kmodRel string
}

func (u userland) foreign() bool { return u.root != "/" }

// guestUserland finds the user space of k's guests, with kmod release kmod (Config.Kmod).
func guestUserland(k testenv.Kernel, kmod string) (userland, error) {
	root, err := testenv.GuestRoot(k.Arch, kmod)
	if err != nil {
		return userland{}, fmt.Errorf("vmtest: %w", err)
	}
	if root == "/" {
		return userland{root: root, busybox: "/bin/busybox"}, nil
	}
	rel, err := kmodRelease(filepath.Join(filepath.Dir(root), "versions.txt"))
	if err != nil {
		return userland{}, err
	}
	// trixie's packages are merged-/usr (usr/bin), bookworm's are not (bin).
	u := userland{root: root, kmodRel: rel}
	if u.busybox, err = findIn(root, []string{"usr/bin/busybox", "bin/busybox"}); err != nil {
		return userland{}, fmt.Errorf("vmtest: %w", err)
	}
	if u.kmod, err = findIn(root, []string{"usr/bin/kmod", "bin/kmod"}); err != nil {
		return userland{}, fmt.Errorf("vmtest: %w", err)
	}
	return u, nil
}

// kmodRelease reads the kmod package's version from versions.txt ("kmod 34.2-2") and
// returns the release gokmod follows that it is ("34.2"); one gokmod does not follow is an
// error, since gokmod in the guest must behave as that kmod (GOKMOD_KMOD).
func kmodRelease(versions string) (string, error) {
	b, err := os.ReadFile(versions)
	if err != nil {
		return "", fmt.Errorf("vmtest: %w (run scripts/setup.sh)", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if pkg, ver, ok := strings.Cut(strings.TrimSpace(line), " "); ok && pkg == "kmod" {
			for _, rel := range []string{"34.2", "30"} {
				if strings.HasPrefix(ver, rel+"-") || strings.HasPrefix(ver, rel+"+") || ver == rel {
					return rel, nil
				}
			}
			return "", fmt.Errorf("vmtest: %s: kmod %s is not a release gokmod follows (30, 34.2)", versions, ver)
		}
	}
	return "", fmt.Errorf("vmtest: %s names no kmod package", versions)
}

// guestKmodRelease is the release of the kmod the guest gets: Config.Kmod (default 30)
// for the host's user space; a foreign guest has only the one its packages hold.
func guestKmodRelease(want string, u userland) (string, error) {
	if !u.foreign() {
		if want == "" {
			return "30", nil
		}
		return want, nil
	}
	if want != "" && want != u.kmodRel {
		return "", fmt.Errorf("vmtest: kmod %s asked for, but this guest's packages hold kmod %s only", want, u.kmodRel)
	}
	return u.kmodRel, nil
}

// addGuestKmod puts the guest's kmod at /bin/kmod with what its dynamic loader needs.
func addGuestKmod(want string, u userland, addFile func(string, string, os.FileMode) error) error {
	if !u.foreign() {
		return addKmod(want, addFile)
	}
	if err := addFile("/bin/kmod", u.kmod, 0o755); err != nil {
		return err
	}
	libs, err := elfLibs(u.root, u.kmod)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := addFile(l.guest, l.host, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// sharedLib is one file the dynamic loader needs: where it goes in the guest, where it
// is read from on the host.
type sharedLib struct{ guest, host string }

// libDirs are where Debian's arm64 packages put shared libraries, relative to the
// unpacked root; the guest gets each library in the first, which glibc's loader
// searches without an ld.so.cache.
var libDirs = []string{"usr/lib/aarch64-linux-gnu", "lib/aarch64-linux-gnu", "usr/lib", "lib"}

// elfLibs lists, for a binary of another architecture (ldd cannot run it), its program
// interpreter at the path PT_INTERP names and every library DT_NEEDED names, transitively,
// found in the unpacked packages under root.
func elfLibs(root, bin string) ([]sharedLib, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil || len(b) == 0 {
				f.Close()
				return nil, fmt.Errorf("vmtest: %s: PT_INTERP unreadable (%v)", bin, err)
			}
			interp = string(b[:len(b)-1]) // NUL-terminated
		}
	}
	f.Close()
	if interp == "" {
		return nil, fmt.Errorf("vmtest: %s has no program interpreter", bin)
	}
	var libs []sharedLib
	host, err := findIn(root, []string{interp, "usr" + interp, filepath.Join(libDirs[0], filepath.Base(interp))})
	if err != nil {
		return nil, fmt.Errorf("vmtest: %s's interpreter: %w", bin, err)
	}
	libs = append(libs, sharedLib{interp, host})
	seen := map[string]bool{}
	todo := []string{bin}
	for len(todo) > 0 {
		b := todo[0]
		todo = todo[1:]
		f, err := elf.Open(b)
		if err != nil {
			return nil, fmt.Errorf("vmtest: %w", err)
		}
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("vmtest: %s: DT_NEEDED: %w", b, err)
		}
		for _, n := range needed {
			if seen[n] || n == filepath.Base(interp) {
				continue
			}
			seen[n] = true
			var cands []string
			for _, d := range libDirs {
				cands = append(cands, filepath.Join(d, n))
			}
			h, err := findIn(root, cands)
			if err != nil {
				return nil, fmt.Errorf("vmtest: %s needs %s: %w", b, n, err)
			}
			libs = append(libs, sharedLib{"/" + filepath.Join(libDirs[0], n), h})
			todo = append(todo, h)
		}
	}
	return libs, nil
}

// findIn returns the first of the paths (relative to root) that exists under root.
func findIn(root string, rel []string) (string, error) {
	for _, r := range rel {
		p := filepath.Join(root, r)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %v under %s (run scripts/setup.sh)", rel, root)
}
