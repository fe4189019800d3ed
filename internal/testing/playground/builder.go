package playground

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gokmod/internal/testing/testenv"
)

// Builder is where a kernel's playground is built: on this machine, or inside a chroot of
// the Debian suite that ships the compiler the kernel was built with (scripts/chroot.sh
// makes those).
//
// A kernel is built on the host when the compiler that built it (its headers'
// CONFIG_CC_VERSION_TEXT) is gcc of the host's major version or older, and its kbuild
// binaries (fixdep, modpost, objtool...) need no newer glibc than the host's. Otherwise it
// is built in a chroot whose compiler is gcc-N, N the kernel's gcc major. A kernel built
// with an older gcc than the host's is tried on the host first (with the host's gcc as CC),
// then in a chroot with its own gcc-N, when there is one.
//
// An arm64 kernel's playground is cross-built the same way, with Debian's cross compiler
// of that major, gcc-N-aarch64-linux-gnu (aarch64-linux-gnu-gcc-N), and the host's (amd64)
// kbuild of the kernel's version, which scripts/setup-arm64.sh unpacks beside its headers:
// on the host when it has that compiler, otherwise in the chroot with gcc-N, where
// scripts/chroot.sh --needed-arm64 installs it.
type Builder struct {
	// Chroot is the chroot's directory, "" for the host.
	Chroot string
	// Suite is the chroot's Debian suite ("" for the host).
	Suite string
	// CC, when set, is passed to make as CC=, replacing the compiler the headers name.
	CC string
	// GCC is the compiler package the build uses: gcc-N, or a cross compiler such as
	// gcc-N-aarch64-linux-gnu.
	GCC string
	// Cross is the CROSS_COMPILE prefix of a cross build (make also gets ARCH=, the
	// kernel's Debian architecture): "aarch64-linux-gnu-" for arm64, "" for amd64.
	Cross string
	// Version is the compiler's `--version` line less the program name, as it appears in
	// the modules' .comment after "GCC: ", e.g. "(Debian 16.2.0-4) 16.2.0".
	Version string
	// packages is the chroot's versions.txt (the packages debootstrap installed) or, for
	// a cross compiler, its versions-cross.txt (every package in it), for the cache key.
	packages string
}

// String names the builder for logs and the cache entry, e.g. "host gcc-12 (Debian
// 12.2.0-14+deb12u1) 12.2.0", "chroot sid gcc-16 (Debian 16.2.0-4) 16.2.0" or "chroot
// trixie gcc-14-aarch64-linux-gnu (Debian 14.2.0-19) 14.2.0".
func (b Builder) String() string {
	if b.Chroot == "" {
		return "host " + b.GCC + " " + b.Version
	}
	return "chroot " + b.Suite + " " + b.GCC + " " + b.Version
}

// key identifies the builder in the cache key: its name and, for a chroot, every package
// version in it.
func (b Builder) key() string { return b.String() + "\n" + b.packages }

// KernelGCC returns the major version of the gcc that built kernel k, from its headers'
// .config (CONFIG_CC_VERSION_TEXT, e.g. "x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4)
// 16.2.0") or, failing that, include/generated/compile.h (LINUX_COMPILER), and the text
// after the program name ("(Debian 16.2.0-4) 16.2.0").
func KernelGCC(k testenv.Kernel) (major int, version string, err error) {
	text := ""
	if b, err := os.ReadFile(filepath.Join(k.Headers(), ".config")); err == nil {
		if m := regexp.MustCompile(`(?m)^CONFIG_CC_VERSION_TEXT="([^"]*)"`).FindSubmatch(b); m != nil {
			text = string(m[1])
		}
	}
	if text == "" {
		if b, err := os.ReadFile(filepath.Join(k.Headers(), "include/generated/compile.h")); err == nil {
			if m := regexp.MustCompile(`LINUX_COMPILER\s+"([^,"]*)`).FindSubmatch(b); m != nil {
				text = string(m[1])
			}
		}
	}
	m := regexp.MustCompile(`^\S*gcc\S*\s+(\(.*\)\s+(\d+)\..*)$`).FindStringSubmatch(text)
	if m == nil {
		return 0, "", fmt.Errorf("playground: %s: no gcc in the headers' CONFIG_CC_VERSION_TEXT or compile.h (%q)", k.Release, text)
	}
	major, _ = strconv.Atoi(m[2])
	return major, m[1], nil
}

var (
	hostOnce    sync.Once
	hostMajor   int
	hostVersion string
	hostGlibc   [2]int
	hostErr     error
)

// host returns the host's gcc major, its version text and glibc's version.
func host() (int, string, [2]int, error) {
	hostOnce.Do(func() {
		out, err := exec.Command("gcc", "-dumpversion").Output()
		if err != nil {
			hostErr = fmt.Errorf("playground: gcc -dumpversion: %w", err)
			return
		}
		hostMajor, err = strconv.Atoi(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0])
		if err != nil {
			hostErr = fmt.Errorf("playground: gcc -dumpversion: %q", out)
			return
		}
		hostVersion, err = compilerVersion(exec.Command("gcc-"+strconv.Itoa(hostMajor), "--version"))
		if err != nil {
			hostErr = err
			return
		}
		out, err = exec.Command("getconf", "GNU_LIBC_VERSION").Output()
		if err != nil {
			hostErr = fmt.Errorf("playground: getconf GNU_LIBC_VERSION: %w", err)
			return
		}
		v, ok := parseGlibc(strings.TrimPrefix(strings.TrimSpace(string(out)), "glibc "))
		if !ok {
			hostErr = fmt.Errorf("playground: getconf GNU_LIBC_VERSION: %q", out)
			return
		}
		hostGlibc = v
	})
	return hostMajor, hostVersion, hostGlibc, hostErr
}

// compilerVersion runs cmd (a compiler's --version) and returns its first line less the
// program name.
func compilerVersion(cmd *exec.Cmd) (string, error) {
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("playground: %s: %w", strings.Join(cmd.Args, " "), err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	_, v, ok := strings.Cut(line, " ")
	if !ok {
		return "", fmt.Errorf("playground: %s: %q", strings.Join(cmd.Args, " "), line)
	}
	return v, nil
}

// parseGlibc parses "2.38" into {2, 38}.
func parseGlibc(s string) ([2]int, bool) {
	a, b, ok := strings.Cut(s, ".")
	if !ok {
		return [2]int{}, false
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	return [2]int{x, y}, err1 == nil && err2 == nil
}

// KbuildGlibc returns the newest glibc symbol version that the ELF programs of kernel k's
// kbuild (the headers' scripts/ and tools/) need, and one program that needs it.
func KbuildGlibc(k testenv.Kernel) (need [2]int, prog string, err error) {
	for _, sub := range []string{"scripts", "tools"} {
		root, err := filepath.EvalSymlinks(filepath.Join(k.Headers(), sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return need, "", err
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			if fi, err := d.Info(); err != nil || fi.Mode()&0o111 == 0 {
				return err
			}
			f, err := elf.Open(p)
			if err != nil {
				return nil // a script, not a program
			}
			defer f.Close()
			syms, _ := f.ImportedSymbols()
			for _, s := range syms {
				if v, ok := parseGlibc(strings.TrimPrefix(s.Version, "GLIBC_")); ok && strings.HasPrefix(s.Version, "GLIBC_") {
					if v[0] > need[0] || v[0] == need[0] && v[1] > need[1] {
						need, prog = v, p
					}
				}
			}
			return nil
		})
		if err != nil {
			return need, "", fmt.Errorf("playground: kbuild of %s: %w", k.Release, err)
		}
	}
	return need, prog, nil
}

// crossPrefix is the CROSS_COMPILE prefix of Debian's cross compilers for each kernel
// architecture this machine (amd64) cross-builds for.
var crossPrefix = map[string]string{testenv.ArchArm64: "aarch64-linux-gnu-"}

// compiler is the compiler package of gcc major for kernel k and the program it runs:
// gcc-N and gcc-N for amd64, gcc-N-aarch64-linux-gnu and aarch64-linux-gnu-gcc-N for
// arm64 (Debian's cross packages carry the GNU triplet after the name, their programs
// before it).
func compiler(k testenv.Kernel, major int) (pkg, prog string) {
	n := strconv.Itoa(major)
	if p := crossPrefix[k.Arch]; p != "" {
		return "gcc-" + n + "-" + strings.TrimSuffix(p, "-"), p + "gcc-" + n
	}
	return "gcc-" + n, "gcc-" + n
}

// Builders returns where kernel k's playground may be built, in the order to try: see
// Builder.
func Builders(k testenv.Kernel) ([]Builder, error) {
	major, _, err := KernelGCC(k)
	if err != nil {
		return nil, err
	}
	cross := k.Arch != "" && k.Arch != testenv.ArchAmd64
	if cross {
		if crossPrefix[k.Arch] == "" {
			return nil, fmt.Errorf("playground: %s: no cross compiler known for %s", k.Release, k.Arch)
		}
		// Without the host's kbuild the headers' scripts link leads nowhere, and make would
		// fail far from the cause.
		if _, err := os.Stat(filepath.Join(k.Headers(), "scripts/mod/modpost")); err != nil {
			return nil, fmt.Errorf("playground: %s: no kbuild behind the headers (%w): scripts/setup-arm64.sh (make setup-arm64) unpacks the host's", k.Release, err)
		}
	}
	hMajor, hVersion, hGlibc, err := host()
	if err != nil {
		return nil, err
	}
	need, prog, err := KbuildGlibc(k)
	if err != nil {
		return nil, err
	}
	runs := need[0] < hGlibc[0] || need[0] == hGlibc[0] && need[1] <= hGlibc[1]
	var bs []Builder
	why := ""
	switch {
	case major > hMajor:
		why = fmt.Sprintf("it was built with gcc-%d, newer than this machine's gcc-%d", major, hMajor)
	case !runs:
		why = fmt.Sprintf("its kbuild needs glibc %d.%d (%s), newer than this machine's %d.%d",
			need[0], need[1], prog, hGlibc[0], hGlibc[1])
	case cross:
		b, err := hostCross(k, hMajor)
		if err != nil {
			why = err.Error()
			break
		}
		bs = append(bs, b)
	default:
		b := Builder{GCC: "gcc-" + strconv.Itoa(hMajor), Version: hVersion}
		if major < hMajor {
			// The headers name the kernel's own gcc-N, which this machine lacks.
			b.CC = b.GCC
		}
		bs = append(bs, b)
	}
	c, err := chrootFor(k, major)
	if err != nil && len(bs) == 0 {
		return nil, fmt.Errorf("playground: %s must be built in a chroot: %s; %w", k.Release, why, err)
	}
	if err == nil {
		bs = append(bs, c)
	}
	return bs, nil
}

// hostCross returns the host builder of a kernel k of another architecture: the host's
// cross compiler of its own gcc major (scripts/chroot.sh --needed-arm64 installs it), as
// an amd64 kernel built with an older gcc is built with the host's gcc.
func hostCross(k testenv.Kernel, hMajor int) (Builder, error) {
	pkg, prog := compiler(k, hMajor)
	if _, err := exec.LookPath(prog); err != nil {
		return Builder{}, fmt.Errorf("this machine lacks %s (%s): install it with scripts/chroot.sh --needed-arm64 (make setup-arm64)", pkg, prog)
	}
	v, err := compilerVersion(exec.Command(prog, "--version"))
	if err != nil {
		return Builder{}, err
	}
	return Builder{GCC: pkg, CC: prog, Cross: crossPrefix[k.Arch], Version: v}, nil
}

var chroots sync.Map // compiler package -> Builder, once found

// chrootFor finds the ready chroot under <cache>/chroots with the compiler of gcc major
// for kernel k: for amd64, the one whose compiler is gcc-major; for a cross build, the one
// whose cross lists gcc-major's cross package (see scripts/chroot.sh).
func chrootFor(k testenv.Kernel, major int) (Builder, error) {
	pkg, prog := compiler(k, major)
	if b, ok := chroots.Load(pkg); ok {
		return b.(Builder), nil
	}
	cache, err := testenv.Cache()
	if err != nil {
		return Builder{}, err
	}
	cross := crossPrefix[k.Arch]
	listFile, versionsFile := "compiler", "versions.txt"
	if cross != "" {
		listFile, versionsFile = "cross", "versions-cross.txt"
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "chroots", "*", ".ready"))
	slices.Sort(dirs)
	for _, ready := range dirs {
		dir := filepath.Dir(ready)
		if c, err := os.ReadFile(filepath.Join(dir, listFile)); err != nil || !slices.Contains(strings.Fields(string(c)), pkg) {
			continue
		}
		pkgs, err := os.ReadFile(filepath.Join(dir, versionsFile))
		if err != nil {
			return Builder{}, fmt.Errorf("playground: chroot %s: %w", dir, err)
		}
		v, err := compilerVersion(exec.Command("chroot", dir, prog, "--version"))
		if err != nil {
			return Builder{}, err
		}
		b := Builder{Chroot: dir, Suite: filepath.Base(dir), GCC: pkg, Version: v, packages: string(pkgs)}
		if cross != "" {
			b.CC, b.Cross = prog, cross
		}
		chroots.Store(pkg, b)
		return b, nil
	}
	how := "scripts/chroot.sh --needed (or scripts/chroot.sh SUITE " + pkg + ")"
	if cross != "" {
		how = "scripts/chroot.sh --needed-arm64 (make setup-arm64)"
	}
	return Builder{}, fmt.Errorf("no chroot with %s in %s: make one with %s", pkg, filepath.Join(cache, "chroots"), how)
}

// chrootScript runs in a private mount namespace (unshare -m): it mounts /proc in the
// chroot (objtool reads it), bind-mounts each directory given before "--" at the same path
// inside, and runs the rest of its arguments there. The mounts die with the namespace when
// the command ends, however it ends; nothing shows outside it.
const chrootScript = `set -e
c=$1; shift
mount -t proc proc "$c/proc"
while [ "$1" != -- ]; do mkdir -p "$c$1"; mount --bind "$1" "$c$1"; shift; done
shift
exec chroot "$c" "$@"`

// command returns the command that runs argv with builder b, with the given directories
// visible at their own paths.
func (b Builder) command(ctx context.Context, binds []string, argv ...string) *exec.Cmd {
	if b.Chroot == "" {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = makeEnv()
		return cmd
	}
	args := []string{"-m", "--propagation", "private", "sh", "-c", chrootScript, "sh", b.Chroot}
	args = append(args, binds...)
	args = append(args, "--")
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	var env []string
	for _, kv := range makeEnv() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	return cmd
}

// binds returns the directories a chroot build of k in dir must see: the kernel's root
// (headers, their -common tree and kbuild, which the headers' Makefile names by absolute
// path), any other directory that Makefile includes from, and dir.
func binds(k testenv.Kernel, dir string) []string {
	ds := []string{k.Root}
	add := func(d string) {
		for _, have := range ds {
			if d == have || strings.HasPrefix(d, have+"/") {
				return
			}
		}
		ds = append(ds, d)
	}
	if f, err := os.Open(filepath.Join(k.Headers(), "Makefile")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "include "); ok && filepath.IsAbs(p) {
				add(filepath.Dir(filepath.Dir(filepath.Dir(p)))) // <root>/usr/src/<dir>/Makefile -> <root>/usr
			}
		}
		f.Close()
	}
	add(dir)
	return ds
}

// kbuildOutput returns the KBUILD_OUTPUT= the headers' Makefile sets when it names a
// directory other than the headers themselves (7.x's Makefile sets
// KBUILD_OUTPUT=/usr/src/linux-headers-REL, where the packages would be installed), or "".
func kbuildOutput(k testenv.Kernel) string {
	b, err := os.ReadFile(filepath.Join(k.Headers(), "Makefile"))
	if err != nil {
		return ""
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("KBUILD_OUTPUT")); ok {
			v = bytes.TrimLeft(v, " :?")
			if p, ok := bytes.CutPrefix(v, []byte("=")); ok && strings.TrimSpace(string(p)) != k.Headers() {
				return k.Headers()
			}
		}
	}
	return ""
}
