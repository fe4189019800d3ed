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
	"strconv"
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
	Root    string // the unpacked packages: boot/, lib/modules/ or usr/lib/modules/, usr/src/
	// Suite is the Debian suite the packages came from: bullseye, bookworm, trixie, sid
	// or experimental (scripts/setup.sh records it in Root/suite).
	Suite string
	// Arch is Debian's name of the kernel's architecture: ArchAmd64 for Kernels(),
	// ArchArm64 for KernelsArm64(). Empty (a Kernel made by hand) means amd64.
	Arch string
}

// ModDir is the module directory inside the unpacked root: lib/modules/RELEASE, or
// usr/lib/modules/RELEASE for merged-/usr packages (trixie's 6.12, 7.x) when the root has
// no lib/ (scripts/setup.sh links lib to usr/lib in prepared roots).
func (k Kernel) ModDir() string {
	for _, d := range []string{"lib/modules", "usr/lib/modules"} {
		p := filepath.Join(k.Root, d, k.Release)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
	}
	return filepath.Join(k.Root, "lib/modules", k.Release)
}

// Config is the kernel configuration: boot/config-RELEASE, or the module directory's
// config in 7.x's merged-/usr packages (linux-base-RELEASE).
func (k Kernel) Config() string { return k.bootOrModDir("config") }

// Vmlinuz is the bzImage as the package ships it: boot/vmlinuz-RELEASE, or the module
// directory's vmlinuz in 7.x's merged-/usr packages (linux-binary-RELEASE).
func (k Kernel) Vmlinuz() string { return k.bootOrModDir("vmlinuz") }

// SystemMap is boot/System.map-RELEASE, or the module directory's System.map (7.x).
func (k Kernel) SystemMap() string { return k.bootOrModDir("System.map") }

func (k Kernel) bootOrModDir(name string) string {
	p := filepath.Join(k.Root, "boot", name+"-"+k.Release)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if q := filepath.Join(k.ModDir(), name); fileExists(q) {
		return q
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// MergedUsr reports whether the packages put the modules in usr/lib/modules (trixie's
// 6.12, 7.x) rather than lib/modules.
func (k Kernel) MergedUsr() bool {
	st, err := os.Lstat(filepath.Join(k.Root, "usr/lib/modules", k.Release))
	return err == nil && st.IsDir()
}

// Layout names how the packages lay the kernel's files out: "classic" (boot/ and
// lib/modules), "usr-modules" (boot/ and usr/lib/modules: trixie's 6.12) or
// "merged-usr" (everything in usr/lib/modules/REL: 7.x's split packages).
func (k Kernel) Layout() string {
	switch {
	case !k.MergedUsr():
		return "classic"
	case fileExists(filepath.Join(k.Root, "boot", "vmlinuz-"+k.Release)):
		return "usr-modules"
	}
	return "merged-usr"
}

// OnePerLayout keeps the oldest kernel of each Layout, in ks's order: for tests whose
// subject is how files are found and read (whole trees through check, modinfo, depmod's
// readers), where more kernels of one layout add minutes and no new case.
func OnePerLayout(ks []Kernel) []Kernel {
	seen := map[string]bool{}
	var out []Kernel
	for _, k := range ks {
		if l := k.Layout(); !seen[l] {
			seen[l] = true
			out = append(out, k)
		}
	}
	return out
}

// Version is an upstream kernel version, e.g. 6.1.192. It has kernel.Version's fields:
// kernel.Version(v) converts it (package testenv cannot import package kernel, whose
// dependencies' tests import testenv).
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// Line is the kernel line, major.minor: "5.10", "7.2".
func (v Version) Line() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Version is the upstream version the kernel is built from: the image package's version
// as versions.txt lists it (5.10.223-1 -> 5.10.223; 7.3~rc7-1~exp1 -> 7.3.0), else the
// release's leading numbers (6.12.118+deb12-amd64 -> 6.12.118; 6.1.0-57-amd64 -> 6.1.0).
func (k Kernel) Version() Version {
	if vs, err := k.Versions(); err == nil {
		for _, line := range strings.Split(vs, "\n") {
			if pkg, ver, ok := strings.Cut(strings.TrimSpace(line), " "); ok && pkg == "linux-image-"+k.Release {
				if _, v, ok := strings.Cut(ver, ":"); ok {
					ver = v // an epoch
				}
				return parseVersion(ver)
			}
		}
	}
	return parseVersion(k.Release)
}

// parseVersion reads the leading "A.B[.C]" of s.
func parseVersion(s string) Version {
	var n [3]int
	for i := 0; i < 3; i++ {
		end := 0
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		if end == 0 {
			break
		}
		n[i], _ = strconv.Atoi(s[:end])
		if end == len(s) || s[end] != '.' {
			break
		}
		s = s[end+1:]
	}
	return Version{n[0], n[1], n[2]}
}

// suiteOf is the suite recorded in root/suite, else the one Debian's release names imply
// (roots prepared before scripts/setup.sh recorded it).
func suiteOf(root, release string) string {
	if b, err := os.ReadFile(filepath.Join(root, "suite")); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	switch {
	case strings.Contains(release, "+deb12-"), strings.HasPrefix(release, "6.1.0-"):
		return "bookworm"
	case strings.Contains(release, "+deb13-"):
		return "trixie"
	case strings.HasPrefix(release, "5.10.0-"):
		return "bullseye"
	}
	return ""
}

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

// Kernels returns the prepared kernels, every line scripts/setup.sh prepared (5.10, 6.1,
// 6.12 of bookworm and of trixie, sid's 7.x, experimental's when newer, or exactly those
// GOKMOD_KERNELS pinned), oldest version first, as its list names them. Tests that want a
// particular line pick it by Version() or Suite, never by index or release string.
func Kernels() ([]Kernel, error) { return kernelsIn("kernels", ArchAmd64) }

// kernelsIn reads the list of the kernels of one architecture that scripts/setup.sh (or
// setup-arm64.sh) prepared in the cache's directory dir.
func kernelsIn(dir, arch string) ([]Kernel, error) {
	cache, err := Cache()
	if err != nil {
		return nil, err
	}
	list := filepath.Join(cache, dir, "list")
	f, err := os.Open(list)
	if err != nil {
		return nil, fmt.Errorf("no prepared %s kernels (%w): run scripts/setup.sh (make setup)", arch, err)
	}
	defer f.Close()
	var ks []Kernel
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rel := strings.TrimSpace(sc.Text())
		if rel == "" {
			continue
		}
		k := Kernel{Release: rel, Root: filepath.Join(cache, dir, rel), Arch: arch}
		k.Suite = suiteOf(k.Root, rel)
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

// Lines returns, for each line (major.minor such as "6.1" or "6.12"), the first of ks of
// that line (ks is oldest version first), in the order asked; a line none of ks is of is
// an error naming what there is. For code written for particular lines, which must not
// pick a kernel by its index in the list: the list holds every line, and GOKMOD_KERNELS
// may pin any set.
func Lines(ks []Kernel, lines ...string) ([]Kernel, error) {
	out := make([]Kernel, 0, len(lines))
	for _, line := range lines {
		found := false
		for _, k := range ks {
			if k.Version().Line() == line {
				out, found = append(out, k), true
				break
			}
		}
		if !found {
			var have []string
			for _, k := range ks {
				have = append(have, k.Release)
			}
			return nil, fmt.Errorf("no prepared kernel of line %s (prepared: %s): run scripts/setup.sh (make setup), or add one to GOKMOD_KERNELS", line, strings.Join(have, ", "))
		}
	}
	return out, nil
}

// RequireLines returns the prepared kernels of the lines asked for (Lines), in that
// order, or fails the test.
func RequireLines(tb testing.TB, lines ...string) []Kernel {
	tb.Helper()
	ks, err := Lines(RequireKernels(tb), lines...)
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

// RequireLine returns the prepared kernel of one line (Lines), or fails the test.
func RequireLine(tb testing.TB, line string) Kernel {
	tb.Helper()
	return RequireLines(tb, line)[0]
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
	appendReport(tb, fmt.Sprintf("%s: %s\n", tb.Name(), strings.TrimRight(line, "\n")))
}

// appendReport adds text to $GOKMOD_REPORT, when make test set it.
func appendReport(tb testing.TB, text string) {
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
	fmt.Fprint(f, text)
}

// Matrix records one cell of make test's closing table: the differential check what
// (modinfo, depmod, modprobe) was byte-identical to kmod release kmod ("30", "34.2") on the
// module tree of release tree, with detail saying how much was compared. Only passing
// checks are recorded, so an empty cell is a check that did not run or did not pass;
// scripts/matrix.sh prints the table from $GOKMOD_REPORT.
func Matrix(tb testing.TB, tree, kmod, what, detail string) {
	tb.Helper()
	if tb.Failed() {
		return
	}
	appendReport(tb, fmt.Sprintf("MATRIX\t%s\t%s\t%s\t%s\n", tree, strings.TrimPrefix(kmod, "kmod"), what, detail))
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

// DistroKmod is the kmod release the kernel's own Debian suite ships, which the guest
// tests run beside gokmod: kmod 34.2 on trixie, sid and experimental, kmod 30 on
// bookworm (and on bullseye, whose kmod 28 the project does not follow: its closest).
func DistroKmod(k Kernel) string {
	switch k.Suite {
	case "trixie", "sid", "unstable", "experimental", "forky":
		return "34.2"
	}
	return "30"
}

// Kmod34Root is the directory scripts/setup.sh unpacked trixie's kmod 34.2 and its
// glibc into (usr/bin/kmod, usr/lib/x86_64-linux-gnu/...).
func Kmod34Root() (string, error) {
	cache, err := Cache()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(cache, "kmod34", ".ready")); err != nil {
		return "", fmt.Errorf("kmod 34.2 is not prepared in %s: run scripts/setup.sh (make setup)", filepath.Join(cache, "kmod34"))
	}
	return filepath.Join(cache, "kmod34", "root"), nil
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

// Kmod34Direct returns the command that runs kmod 34.2's tool name without the shell
// wrapper Kmod34Tool returns: its glibc's dynamic loader, given the library path and
// argv[0], exactly what the wrapper scripts/setup.sh writes execs. Benchmarks use it,
// so that kmod 34.2 pays one exec, as an installed kmod does, not two.
func Kmod34Direct(name string) ([]string, error) {
	cache, err := Cache()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "kmod34")
	if _, err := os.Stat(filepath.Join(dir, ".ready")); err != nil {
		return nil, fmt.Errorf("kmod 34 is not prepared in %s: run scripts/setup.sh (make setup)", dir)
	}
	lib := filepath.Join(dir, "root/usr/lib/x86_64-linux-gnu")
	return []string{filepath.Join(lib, "ld-linux-x86-64.so.2"), "--library-path", lib, "--argv0", name,
		filepath.Join(dir, "root/usr/bin/kmod")}, nil
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
