// Package testenv locates what scripts/setup.sh prepared: Debian's kernel packages unpacked
// (never installed) into the project's cache. Tests that need them fail loudly when they
// are missing; they never skip.
package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Root returns the project root: the nearest directory above the working directory that
// holds go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Cache returns the download and build cache: $GOKMOD_CACHE, or .cache in the project root.
func Cache() (string, error) {
	if c := os.Getenv("GOKMOD_CACHE"); c != "" {
		return c, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

// Kernel is one of Debian's kernel packages, unpacked with its headers into Root.
type Kernel struct {
	Release string // uname -r, e.g. 6.1.0-56-amd64
	Root    string // the unpacked packages: boot/, lib/modules/, usr/src/
}

// ModDir is /lib/modules/RELEASE inside the unpacked root.
func (k Kernel) ModDir() string { return filepath.Join(k.Root, "lib/modules", k.Release) }

// Headers is the kbuild directory for out-of-tree modules (M=...).
func (k Kernel) Headers() string {
	return filepath.Join(k.Root, "usr/src", "linux-headers-"+k.Release)
}

// RawRoot is the same kernel's image, headers and -common packages unpacked as they come
// (no vmlinux, no modules.dep), beside Root: what the model must read to be right on a
// user's files. scripts/setup.sh makes it; missing, it is an error saying so.
func (k Kernel) RawRoot() (string, error) {
	raw := k.Root + ".raw"
	if _, err := os.Stat(filepath.Join(raw, ".ready")); err != nil {
		return "", fmt.Errorf("kernel %s: the packages unpacked as they come are missing (%w): run scripts/setup.sh (make setup)", k.Release, err)
	}
	return raw, nil
}

// VMLinux is the decompressed kernel ELF, booted through QEMU's PVH entry.
func (k Kernel) VMLinux() string { return filepath.Join(k.Root, "vmlinux") }

// Versions returns the exact Debian package versions unpacked into Root, one
// "package version" line each.
func (k Kernel) Versions() (string, error) {
	b, err := os.ReadFile(filepath.Join(k.Root, "versions.txt"))
	return strings.TrimSpace(string(b)), err
}

// Kernels returns the prepared kernels, 6.1 first, as listed by scripts/setup.sh.
func Kernels() ([]Kernel, error) {
	cache, err := Cache()
	if err != nil {
		return nil, err
	}
	list := filepath.Join(cache, "kernels", "list")
	f, err := os.Open(list)
	if err != nil {
		return nil, fmt.Errorf("no prepared kernels (%w): run scripts/setup.sh (make setup)", err)
	}
	defer f.Close()
	var ks []Kernel
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rel := strings.TrimSpace(sc.Text())
		if rel == "" {
			continue
		}
		k := Kernel{Release: rel, Root: filepath.Join(cache, "kernels", rel)}
		if _, err := os.Stat(filepath.Join(k.Root, ".ready")); err != nil {
			return nil, fmt.Errorf("kernel %s is not fully prepared: run scripts/setup.sh (make setup)", rel)
		}
		ks = append(ks, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", list, err)
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("%s lists no kernel: run scripts/setup.sh (make setup)", list)
	}
	return ks, nil
}

// RequireKernels returns the prepared kernels or fails the test: a missing kernel is a
// broken environment, never a reason to skip.
func RequireKernels(tb testing.TB) []Kernel {
	tb.Helper()
	ks, err := Kernels()
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

// KmodTestsuite locates kmod's own test-suite data (rootfs fixtures and expected outputs):
// $GOKMOD_KMOD_TESTSUITE, else shared/kmod-testsuite beside the checkout. Missing data
// fails the test. A plain clone has no shared/ beside it: there `make test` says so
// loudly and sets GOKMOD_KMOD_TESTSUITE=absent, and only then are these tests skipped
// (they are `make kmod-suite`).
func KmodTestsuite(tb testing.TB) string {
	tb.Helper()
	d := os.Getenv("GOKMOD_KMOD_TESTSUITE")
	if d == "absent" {
		tb.Skip("kmod's test-suite data is absent from this checkout (see make kmod-suite)")
	}
	if d == "" {
		root, err := Root()
		if err != nil {
			tb.Fatal(err)
		}
		d = filepath.Join(root, "..", "shared", "kmod-testsuite")
	}
	if _, err := os.Stat(filepath.Join(d, "rootfs-pristine")); err != nil {
		tb.Fatalf("kmod test-suite data not found at %s (set GOKMOD_KMOD_TESTSUITE): %v", d, err)
	}
	return d
}

// Report logs a line of what a test compared (counts, agreement) and appends it to
// $GOKMOD_REPORT, which `make test` prints at the end: go test shows nothing of a passing
// test, and the counts are the point of a differential test.
func Report(tb testing.TB, format string, args ...any) {
	tb.Helper()
	line := fmt.Sprintf(format, args...)
	tb.Log(line)
	path := os.Getenv("GOKMOD_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Logf("report: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s: %s\n", tb.Name(), strings.TrimRight(line, "\n"))
}

// KmodTool finds one of Debian's kmod programs (modprobe, depmod, modinfo…), which
// `make setup` installs: the differential tests run it live, in the same run, so that
// no expected answer is ever recorded from one kernel build. Missing, it fails the test.
func KmodTool(tb testing.TB, name string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	tb.Fatalf("kmod's %s not found: run scripts/setup.sh (make setup)", name)
	return ""
}

// Kmod34Tool returns a command running kmod 34.2, as Debian 13 (trixie) and sid ship it,
// as the tool name (modprobe, depmod, modinfo…): scripts/setup.sh unpacks trixie's kmod
// with its own glibc into the cache, and the command runs it through that glibc's
// dynamic loader. Missing, it fails the test.
func Kmod34Tool(tb testing.TB, name string) string {
	tb.Helper()
	cache, err := Cache()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(cache, "kmod34", "bin", name)
	if _, err := os.Stat(filepath.Join(cache, "kmod34", ".ready")); err != nil {
		tb.Fatalf("kmod 34 is not prepared in %s: run scripts/setup.sh (make setup)", filepath.Dir(filepath.Dir(p)))
	}
	return p
}

// Debs returns the .deb files in the cache's debs/ directory that Root was unpacked
// from, by package name, as versions.txt lists them (the image, headers, -common and
// kbuild packages), for tests that unpack them again exactly as they ship.
func (k Kernel) Debs() (map[string]string, error) {
	cache, err := Cache()
	if err != nil {
		return nil, err
	}
	vs, err := k.Versions()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(vs, "\n") {
		pkg, ver, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			return nil, fmt.Errorf("%s/versions.txt: bad line %q", k.Root, line)
		}
		// apt-get download names files PKG_VERSION_ARCH.deb, the epoch's colon as %3a.
		pattern := filepath.Join(cache, "debs", pkg+"_"+strings.ReplaceAll(ver, ":", "%3a")+"_*.deb")
		m, err := filepath.Glob(pattern)
		if err != nil || len(m) != 1 {
			return nil, fmt.Errorf("%s: want one .deb, found %d: run scripts/setup.sh (make setup)", pattern, len(m))
		}
		out[pkg] = m[0]
	}
	return out, nil
}
