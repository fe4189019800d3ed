// Package playground builds gokmod's test modules: the small kernel modules in
// testdata/playground, compiled at test time against the headers of each of Debian's kernels
// that scripts/setup.sh unpacked (see package testenv), for the QEMU tests to load.
//
// Each kernel's modules are built where its kbuild works (see Builder): on this machine when
// the kernel was built with this machine's gcc or an older one, otherwise in a chroot of the
// Debian suite that ships the kernel's compiler, made by scripts/chroot.sh. The arm64
// kernels' (testenv.KernelsArm64) are cross-built likewise, with Debian's
// gcc-N-aarch64-linux-gnu and the host's kbuild of the same version.
//
// Builds are cached in <cache>/playground/<release>/<hash>/, where hash covers the module
// sources, the kernel release, the exact Debian package versions of its headers, the builder
// (host or chroot, its compiler and, for a chroot, every package in it) and the build recipe
// in this file; a cache entry is complete or absent, never half-written. This package only
// builds modules: it never loads one.
package playground

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gokmod/internal/testing/testenv"
)

// The playground's modules, one per testdata/playground/<name>.c.
const (
	// NoDeps has no parameters and no dependencies: the baseline load and unload.
	NoDeps = "pg_nodeps"
	// Hello takes parameters count (int, 1), verbose (bool), name (charp, "world") and
	// values (int array); its init logs "pg_hello: count=%d name=%s nvalues=%d verbose=%d".
	Hello = "pg_hello"
	// Exporter exports pg_plain (EXPORT_SYMBOL), pg_gpl (EXPORT_SYMBOL_GPL) and pg_ns
	// (EXPORT_SYMBOL_NS in namespace PG_NS).
	Exporter = "pg_exporter"
	// UsePlain depends on Exporter for pg_plain.
	UsePlain = "pg_use_plain"
	// UseGPL is GPL and depends on Exporter for the GPL-only pg_gpl.
	UseGPL = "pg_use_gpl"
	// UseNS imports namespace PG_NS and depends on Exporter for pg_ns.
	UseNS = "pg_use_ns"
	// ENODEV's init returns -ENODEV, so loading it fails with ENODEV.
	ENODEV = "pg_enodev"
	// Proprietary has license "Proprietary" and uses the GPL-only pg_gpl: the kernel taints
	// itself and then refuses it (Unknown symbol pg_gpl, ENOENT).
	Proprietary = "pg_proprietary"
)

// recipe names this file's way of building: change it whenever the build steps change, so
// that entries cached by an older recipe are not reused.
const recipe = "gokmod-playground-4"

// buildTimeout bounds one make invocation.
const buildTimeout = 10 * time.Minute

// Set is the playground built for one kernel.
type Set struct {
	Release string   // the kernel release the modules were built for (their vermagic)
	Builder string   // where they were built: Builder.String(), e.g. "chroot sid gcc-16 (Debian 16.2.0-4) 16.2.0"
	Dir     string   // the cache entry: <name>.ko, the sources, Module.symvers and build.log
	Names   []string // module names, sorted: the basenames of the .ko files in Dir
	Cached  bool     // whether Build found Dir in the cache rather than building it
}

// Path returns the path of module name's .ko (name without ".ko"), or "" if the set has no
// such module.
func (s *Set) Path(name string) string {
	if !slices.Contains(s.Names, name) {
		return ""
	}
	return filepath.Join(s.Dir, name+".ko")
}

// SourceDir returns testdata/playground in the project root.
func SourceDir() (string, error) {
	root, err := testenv.Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "playground"), nil
}

// MustBuild is Build for tests: it fails tb on error.
func MustBuild(tb testing.TB, k testenv.Kernel) *Set {
	tb.Helper()
	s, err := Build(k)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Build returns the playground built for kernel k, from the cache when it holds a build of
// the same sources for the same headers, otherwise by running make against k.Headers().
// Concurrent Builds, in this process or others, are safe: each builds in a private temporary
// directory and renames it into place; the loser of a race uses the winner's entry.
func Build(k testenv.Kernel) (*Set, error) {
	src, err := SourceDir()
	if err != nil {
		return nil, err
	}
	cache, err := testenv.Cache()
	if err != nil {
		return nil, err
	}
	return build(k, src, filepath.Join(cache, "playground"))
}

// buildLocks serializes Builds of one cache entry within this process, so that concurrent
// callers wait for one make instead of each running their own.
var buildLocks sync.Map // <cache root>/<release> -> *sync.Mutex

// build is Build with the sources in src and the cache in cacheRoot.
func build(k testenv.Kernel, src, cacheRoot string) (*Set, error) {
	key := filepath.Join(cacheRoot, k.Release)
	mu, _ := buildLocks.LoadOrStore(key, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	return buildUnlocked(k, src, cacheRoot)
}

// buildUnlocked is build without the in-process lock: safe to call concurrently, as two
// processes do, only duplicating work.
func buildUnlocked(k testenv.Kernel, src, cacheRoot string) (*Set, error) {
	builders, err := Builders(k)
	if err != nil {
		return nil, err
	}
	return buildFirst(k, builders, src, cacheRoot)
}

// buildFirst builds with the first of builders that succeeds.
func buildFirst(k testenv.Kernel, builders []Builder, src, cacheRoot string) (*Set, error) {
	// A builder's cache entry is used if there is one, in the order of preference; else
	// each builder is tried in turn until one builds.
	for _, b := range builders {
		if s, err := buildWith(k, b, src, cacheRoot, true); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return s, err
		}
	}
	var errs []error
	for _, b := range builders {
		s, err := buildWith(k, b, src, cacheRoot, false)
		if err == nil {
			return s, nil
		}
		errs = append(errs, fmt.Errorf("with %s: %w", b, err))
	}
	return nil, errors.Join(errs...)
}

// buildWith returns the playground built for k by b: from the cache, or, unless
// cachedOnly (then an error wrapping fs.ErrNotExist says there is no entry), by building it.
func buildWith(k testenv.Kernel, b Builder, src, cacheRoot string, cachedOnly bool) (*Set, error) {
	files, err := sources(src)
	if err != nil {
		return nil, err
	}
	versions, err := k.Versions()
	if err != nil {
		return nil, fmt.Errorf("playground: headers of %s: %w", k.Release, err)
	}
	hash := digest(k.Release, versions, b.key(), files)
	parent := filepath.Join(cacheRoot, k.Release)
	final := filepath.Join(parent, hash)
	want := moduleNames(files)

	if s, err := load(k.Release, final, want); err == nil {
		s.Cached = true
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		// An entry that is there but wrong (say, a .ko deleted by hand): move it out of the
		// way, atomically, and build afresh. Another process may be doing the same; whoever
		// loses the rename has nothing left to do.
		stale := final + ".stale-" + strconv.Itoa(os.Getpid())
		if os.Rename(final, stale) == nil {
			os.RemoveAll(stale)
		}
	}
	if cachedOnly {
		return nil, fmt.Errorf("playground: no cache entry %s: %w", final, fs.ErrNotExist)
	}

	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("playground: %w", err)
	}
	removeAbandoned(parent)
	tmp, err := os.MkdirTemp(parent, ".tmp-"+hash+"-")
	if err != nil {
		return nil, fmt.Errorf("playground: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if err := makeModules(k, b, tmp, files, want); err != nil {
		return nil, err
	}
	if err := relocateSymvers(tmp, final); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("playground: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another process renamed its build into place first (rename(2) does not replace a
		// non-empty directory): use that one, provided it is complete.
		if s, lerr := load(k.Release, final, want); lerr == nil {
			return s, nil
		}
		return nil, fmt.Errorf("playground: %w", err)
	}
	return load(k.Release, final, want)
}

// load opens the cache entry dir, checking that it holds every wanted module. The error
// wraps fs.ErrNotExist when there is no entry at all.
func load(release, dir string, want []string) (*Set, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("playground: %s is not a directory", dir)
	}
	kos, err := filepath.Glob(filepath.Join(dir, "*.ko"))
	if err != nil {
		return nil, err
	}
	s := &Set{Release: release, Dir: dir}
	if b, err := os.ReadFile(filepath.Join(dir, builderFile)); err == nil {
		s.Builder = strings.TrimSpace(string(b))
	} else {
		return nil, fmt.Errorf("playground: %s has no %s", dir, builderFile)
	}
	for _, ko := range kos {
		s.Names = append(s.Names, strings.TrimSuffix(filepath.Base(ko), ".ko"))
	}
	slices.Sort(s.Names)
	for _, name := range want {
		if !slices.Contains(s.Names, name) {
			return nil, fmt.Errorf("playground: %s has no %s.ko", dir, name)
		}
	}
	return s, nil
}

// sourceFile is one file of testdata/playground.
type sourceFile struct {
	name string
	data []byte
}

// isSource reports whether a file of testdata/playground is part of the build: the Kbuild
// file, C sources and headers. Anything else there (such as objects left by building in
// place by hand) is neither hashed nor copied, so it cannot leak into a build.
func isSource(name string) bool {
	return name == "Kbuild" || strings.HasSuffix(name, ".c") || strings.HasSuffix(name, ".h")
}

// sources reads the playground's source files, sorted by name.
func sources(dir string) ([]sourceFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("playground: sources: %w", err)
	}
	var files []sourceFile
	for _, e := range entries {
		if !e.Type().IsRegular() || !isSource(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("playground: sources: %w", err)
		}
		files = append(files, sourceFile{e.Name(), data})
	}
	if !slices.ContainsFunc(files, func(f sourceFile) bool { return f.name == "Kbuild" }) {
		return nil, fmt.Errorf("playground: no Kbuild in %s", dir)
	}
	return files, nil
}

// moduleNames returns the modules the sources make: each .c file is one module.
func moduleNames(files []sourceFile) []string {
	var names []string
	for _, f := range files {
		if name, ok := strings.CutSuffix(f.name, ".c"); ok {
			names = append(names, name)
		}
	}
	return names
}

// digest identifies a build: the recipe, the kernel release, its headers' package versions,
// the builder and every source file, each field length-prefixed so that no two inputs collide.
func digest(release, versions, builder string, files []sourceFile) string {
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte(recipe))
	field([]byte(release))
	field([]byte(versions))
	field([]byte(builder))
	for _, f := range files {
		field([]byte(f.name))
		field(f.data)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// removeAbandoned deletes temporary build directories in parent left by builds that were
// killed: those untouched for an hour, far longer than a build takes.
func removeAbandoned(parent string) {
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") && !strings.Contains(e.Name(), ".stale-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// The kbuild files pass one hands to pass two, and the one that relabels its exports.
const (
	proprietaryDir    = "proprietary"
	relabelledSymvers = "relabelled.symvers"
	// builderFile in a cache entry names the builder: Builder.String().
	builderFile = "builder.txt"
)

// makeModules builds the sources in dir, in two make invocations (see Kbuild):
//
//  1. every module but pg_proprietary, together, so that modpost resolves the consumers'
//     imports against pg_exporter and records their CRCs and dependencies;
//  2. pg_proprietary alone, in dir/proprietary, with KBUILD_EXTRA_SYMBOLS pointing at a copy
//     of pass one's Module.symvers in which every EXPORT_SYMBOL_GPL reads EXPORT_SYMBOL.
//     modpost refuses a GPL-incompatible module using a GPL-only symbol, and
//     KBUILD_MODPOST_WARN=1 does not relax that check; with the export relabelled, modpost
//     builds the module as written (license "Proprietary", pg_gpl's real CRC in
//     __versions), and it is the kernel that refuses it at load time.
//
// Both passes set CONFIG_DEBUG_INFO_BTF_MODULES empty, which skips the BTF step: the 6.12
// headers ship a vmlinux, so kbuild would run pahole on every module (failing where pahole is
// not installed), while 6.1's headers have none and kbuild skips it anyway. BTF is optional
// for modules; leaving it out keeps both kernels' builds alike and free of pahole.
//
// Both run with builder b. Then dir keeps the sources, the .ko files, Module.symvers,
// build.log and builder.txt; the rest of
// kbuild's output is removed.
func makeModules(k testenv.Kernel, b Builder, dir string, files []sourceFile, want []string) error {
	prop := filepath.Join(dir, proprietaryDir)
	if err := os.Mkdir(prop, 0o755); err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	for _, d := range []string{dir, prop} {
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f.name), f.data, 0o644); err != nil {
				return fmt.Errorf("playground: %w", err)
			}
		}
	}
	var log bytes.Buffer
	defer func() { os.WriteFile(filepath.Join(dir, "build.log"), log.Bytes(), 0o644) }()
	if err := os.WriteFile(filepath.Join(dir, builderFile), []byte(b.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	fmt.Fprintf(&log, "# builder: %s\n", b)

	if err := runMake(k, b, &log, filepath.Dir(dir), dir); err != nil {
		return err
	}
	symvers, err := os.ReadFile(filepath.Join(dir, "Module.symvers"))
	if err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	relabelled := filepath.Join(prop, relabelledSymvers)
	if err := os.WriteFile(relabelled, relabelGPL(symvers), 0o644); err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	if err := runMake(k, b, &log, filepath.Dir(dir), prop, "PG_PROPRIETARY=1", "KBUILD_EXTRA_SYMBOLS="+relabelled); err != nil {
		return err
	}
	kos, err := filepath.Glob(filepath.Join(prop, "*.ko"))
	if err != nil {
		return err
	}
	for _, ko := range kos {
		if err := os.Rename(ko, filepath.Join(dir, filepath.Base(ko))); err != nil {
			return fmt.Errorf("playground: %w", err)
		}
	}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dir, name+".ko")); err != nil {
			return fmt.Errorf("playground: make built no %s.ko for %s:\n%s", name, k.Release, tail(log.Bytes()))
		}
	}
	return prune(dir, files)
}

// relabelGPL rewrites a Module.symvers so that its GPL-only exports read as plain ones.
// Each line is "CRC\tSYMBOL\tMODULE\tEXPORT_TYPE\tNAMESPACE".
func relabelGPL(symvers []byte) []byte {
	lines := strings.SplitAfter(string(symvers), "\n")
	for i, line := range lines {
		fields := strings.Split(line, "\t")
		if len(fields) >= 4 && fields[3] == "EXPORT_SYMBOL_GPL" {
			fields[3] = "EXPORT_SYMBOL"
			lines[i] = strings.Join(fields, "\t")
		}
	}
	return []byte(strings.Join(lines, ""))
}

// relocateSymvers rewrites the module paths in tmp/Module.symvers, which name the temporary
// build directory, to name final, where the entry is about to be renamed; so that the file
// can serve as another build's KBUILD_EXTRA_SYMBOLS.
func relocateSymvers(tmp, final string) error {
	p := filepath.Join(tmp, "Module.symvers")
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	b = bytes.ReplaceAll(b, []byte("\t"+tmp+"/"), []byte("\t"+final+"/"))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	return nil
}

// runMake runs make for the external modules in dir with builder b, appending its output to
// log. A chroot sees the kernel's root and cacheDir (dir's cache directory: the same for
// every build, so that the chroot gains one empty mount point, not one per build).
func runMake(k testenv.Kernel, b Builder, log *bytes.Buffer, cacheDir, dir string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	argv := []string{
		"make", "-C", k.Headers(), "M=" + dir,
		"-j" + strconv.Itoa(runtime.NumCPU()),
		"CONFIG_DEBUG_INFO_BTF_MODULES=",
	}
	if b.Cross != "" {
		argv = append(argv, "ARCH="+k.Arch, "CROSS_COMPILE="+b.Cross)
	}
	if b.CC != "" {
		argv = append(argv, "CC="+b.CC)
	}
	if o := kbuildOutput(k); o != "" {
		argv = append(argv, "KBUILD_OUTPUT="+o)
	}
	argv = append(argv, args...)
	argv = append(argv, "modules")
	cmd := b.command(ctx, binds(k, cacheDir), argv...)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.WaitDelay = 10 * time.Second
	where := ""
	if b.Chroot != "" {
		where = "[in " + b.Chroot + "] "
	}
	fmt.Fprintf(log, "$ %s%s\n", where, strings.Join(argv, " "))
	start := time.Now()
	err := cmd.Run()
	fmt.Fprintf(log, "# %v in %v\n", cmd.ProcessState, time.Since(start).Round(time.Millisecond))
	if err != nil {
		return fmt.Errorf("playground: building for %s with %s: %s: %v\n%s",
			k.Release, b, strings.Join(argv, " "), err, tail(log.Bytes()))
	}
	return nil
}

// makeEnv is the environment for make: the process's own, less the variables that would
// steer kbuild elsewhere (an output tree, another architecture, extra flags) or tie it to
// an enclosing make (its jobserver and flags), and with messages in English.
func makeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "KBUILD_"), strings.HasPrefix(name, "LC_"),
			name == "MAKEFLAGS", name == "MFLAGS", name == "MAKELEVEL", name == "MAKEFILES",
			name == "O", name == "M", name == "ARCH", name == "CROSS_COMPILE", name == "CC",
			name == "LD", name == "KCFLAGS", name == "KCPPFLAGS", name == "KAFLAGS",
			name == "LANG", name == "LANGUAGE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// tail returns the last lines of a build log, for error messages.
func tail(log []byte) string {
	const maxLines, maxBytes = 40, 4000
	s := strings.TrimRight(string(log), "\n")
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	if lines := strings.Split(s, "\n"); len(lines) > maxLines {
		s = strings.Join(lines[len(lines)-maxLines:], "\n")
	}
	return s
}

// prune removes kbuild's intermediate files from dir, keeping the sources, the .ko files,
// Module.symvers, build.log and builder.txt.
func prune(dir string, files []sourceFile) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("playground: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		keep := strings.HasSuffix(name, ".ko") || name == "Module.symvers" || name == "build.log" || name == builderFile ||
			slices.ContainsFunc(files, func(f sourceFile) bool { return f.name == name })
		if keep && e.Type().IsRegular() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("playground: %w", err)
		}
	}
	return nil
}
