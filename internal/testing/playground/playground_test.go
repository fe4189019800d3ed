package playground

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gokmod/internal/testing/testenv"
)

// allModules is every module the playground must build.
var allModules = []string{ENODEV, Exporter, Hello, NoDeps, Proprietary, UseGPL, UseNS, UsePlain}

// modinfo returns the key=value strings of a module's .modinfo section, in order.
func modinfo(t *testing.T, path string) [][2]string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		t.Fatalf("%s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var kvs [][2]string
	for _, s := range bytes.Split(data, []byte{0}) {
		if len(s) == 0 {
			continue // padding between entries
		}
		k, v, ok := strings.Cut(string(s), "=")
		if !ok {
			t.Fatalf("%s: .modinfo entry %q has no '='", path, s)
		}
		kvs = append(kvs, [2]string{k, v})
	}
	return kvs
}

// get returns every value of key in kvs.
func get(kvs [][2]string, key string) []string {
	var vs []string
	for _, kv := range kvs {
		if kv[0] == key {
			vs = append(vs, kv[1])
		}
	}
	return vs
}

// hostModinfo runs the host's (Debian's kmod) modinfo -F field on path: read-only.
func hostModinfo(t *testing.T, field, path string) string {
	t.Helper()
	out, err := exec.Command("/usr/sbin/modinfo", "-F", field, path).Output()
	if err != nil {
		t.Fatalf("modinfo -F %s %s: %v", field, path, err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// inTreeVermagic is the vermagic of a module Debian built with the kernel itself.
func inTreeVermagic(t *testing.T, k testenv.Kernel) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(k.ModDir(), "kernel/fs/minix/minix.ko*"))
	if len(matches) == 0 {
		t.Fatalf("no minix.ko in %s", k.ModDir())
	}
	return hostModinfo(t, "vermagic", matches[0])
}

func TestBuild(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		t.Run(k.Release, func(t *testing.T) { testBuild(t, k) })
	}
}

// TestBuildArm64 cross-builds the playground for every prepared arm64 kernel (issue 14):
// every module must be an AArch64 ELF whose vermagic is the kernel's, ending in "aarch64".
// A prepared line that cannot be built fails: scripts/setup-arm64.sh prepares what each
// one needs.
func TestBuildArm64(t *testing.T) {
	for _, k := range testenv.RequireKernelsArm64(t) {
		t.Run(k.Release, func(t *testing.T) {
			s := testBuild(t, k)
			for _, name := range allModules {
				f, err := elf.Open(s.Path(name))
				if err != nil {
					t.Fatal(err)
				}
				if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
					t.Errorf("%s: %v %v %v, want EM_AARCH64 ELFCLASS64 ELFDATA2LSB", name, f.Machine, f.Class, f.Data)
				}
				f.Close()
				if v := get(modinfo(t, s.Path(name)), "vermagic"); len(v) != 1 || !strings.HasSuffix(v[0], " aarch64") {
					t.Errorf("%s: vermagic %q, want one ending in aarch64", name, v)
				}
			}
		})
	}
}

// testBuild builds k's playground twice (cold or from the cache, then certainly from the
// cache) and checks every module against what Debian built with the kernel.
func testBuild(t *testing.T, k testenv.Kernel) *Set {
	t.Helper()
	start := time.Now()
	s := MustBuild(t, k)
	cold := time.Since(start)
	t.Logf("first Build: %v (cached=%v) -> %s", cold.Round(time.Millisecond), s.Cached, s.Dir)
	b := checkBuilder(t, k, s)
	testenv.Report(t, "%s: built with %s in %v (cached=%v)", k.Release, b, cold.Round(time.Millisecond), s.Cached)

	if !slices.Equal(s.Names, allModules) {
		t.Errorf("Names = %v, want %v", s.Names, allModules)
	}
	if s.Path("no_such_module") != "" {
		t.Errorf("Path(no_such_module) = %q, want empty", s.Path("no_such_module"))
	}

	// The vermagic of a module Debian built with the kernel: what the kernel checks
	// (5.10's lacks "preempt"; Debian's 7.x, built without CONFIG_MODVERSIONS, lacks
	// "modversions").
	want := inTreeVermagic(t, k)
	if !strings.HasPrefix(want, k.Release+" SMP ") || !strings.Contains(want, " mod_unload ") {
		t.Fatalf("Debian's minix.ko has vermagic %q, want %q SMP ... mod_unload ...", want, k.Release)
	}
	modversions := strings.Contains(want, " modversions ")
	for _, name := range allModules {
		p := s.Path(name)
		if p != filepath.Join(s.Dir, name+".ko") {
			t.Errorf("Path(%s) = %q", name, p)
			continue
		}
		info := modinfo(t, p)
		if got := get(info, "vermagic"); !slices.Equal(got, []string{want}) {
			t.Errorf("%s: vermagic %q, want %q", name, got, want)
		}
		if got := get(info, "name"); !slices.Equal(got, []string{name}) {
			t.Errorf("%s: name %q", name, got)
		}
		if got := hostModinfo(t, "vermagic", p); got != want {
			t.Errorf("%s: modinfo -F vermagic = %q, want %q", name, got, want)
		}
		// Every object in it was compiled by the builder's compiler, and none by another.
		if got, wantC := comments(t, p), []string{"GCC: " + b.Version}; !slices.Equal(got, wantC) {
			t.Errorf("%s: .comment %q, want %q (built with %s)", name, got, wantC, b)
		}
		license := get(info, "license")
		wantLicense := "GPL"
		if name == Proprietary {
			wantLicense = "Proprietary"
		}
		if !slices.Equal(license, []string{wantLicense}) {
			t.Errorf("%s: license %q, want %q", name, license, wantLicense)
		}
	}

	// What the QEMU tests rely on, as modinfo sees it.
	for name, deps := range map[string]string{
		NoDeps: "", Hello: "", Exporter: "", ENODEV: "",
		UsePlain: Exporter, UseGPL: Exporter, UseNS: Exporter, Proprietary: Exporter,
	} {
		if got := get(modinfo(t, s.Path(name)), "depends"); !slices.Equal(got, []string{deps}) {
			t.Errorf("%s: depends %q, want %q", name, got, deps)
		}
	}
	if got := get(modinfo(t, s.Path(UseNS)), "import_ns"); !slices.Equal(got, []string{"PG_NS"}) {
		t.Errorf("%s: import_ns %q, want PG_NS", UseNS, got)
	}
	parms := get(modinfo(t, s.Path(Hello)), "parmtype")
	slices.Sort(parms)
	if wantParms := []string{"count:int", "name:charp", "values:array of int", "verbose:bool"}; !slices.Equal(parms, wantParms) {
		t.Errorf("%s: parmtype %q, want %q", Hello, parms, wantParms)
	}
	if got := get(modinfo(t, s.Path(Hello)), "version"); !slices.Equal(got, []string{"1.0"}) {
		t.Errorf("%s: version %q", Hello, got)
	}
	// pg_proprietary must carry pg_gpl's real CRC, as pg_use_gpl does, so that it is
	// the license check, not modversions, that makes the kernel refuse it. Without
	// CONFIG_MODVERSIONS no module has a __versions table.
	if modversions {
		if a, b := versions(t, s.Path(Proprietary))["pg_gpl"], versions(t, s.Path(UseGPL))["pg_gpl"]; a == 0 || a != b {
			t.Errorf("pg_gpl's CRC: %#x in %s, %#x in %s", a, Proprietary, b, UseGPL)
		}
	} else {
		for _, name := range allModules {
			if hasSection(t, s.Path(name), "__versions") {
				t.Errorf("%s has __versions, but %s was built without CONFIG_MODVERSIONS", name, k.Release)
			}
		}
	}
	symvers, err := os.ReadFile(filepath.Join(s.Dir, "Module.symvers"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"\tpg_plain\t", "\tEXPORT_SYMBOL_GPL\t", "\tPG_NS"} {
		if !bytes.Contains(symvers, []byte(line)) {
			t.Errorf("Module.symvers lacks %q:\n%s", line, symvers)
		}
	}
	// The exporting module: its path in the entry (the 5.10-6.12 kbuilds), or its path
	// relative to M= (7.x's).
	if !bytes.Contains(symvers, []byte("\t"+s.Dir+"/pg_exporter\t")) && !bytes.Contains(symvers, []byte("\tpg_exporter\t")) {
		t.Errorf("Module.symvers names pg_exporter neither as %s/pg_exporter nor relative to it:\n%s", s.Dir, symvers)
	}

	start = time.Now()
	again := MustBuild(t, k)
	warm := time.Since(start)
	t.Logf("second Build: %v", warm)
	if !again.Cached || again.Dir != s.Dir || !slices.Equal(again.Names, s.Names) {
		t.Errorf("second Build = %+v, want a cache hit on %s", again, s.Dir)
	}
	if warm > time.Second {
		t.Errorf("second Build took %v: not a cache hit", warm)
	}
	return s
}

// checkBuilder checks that s was built where Builder says k must be: on the host when the
// kernel was built with this machine's gcc major or an older one and its kbuild runs here
// (an older kernel may fall back to a chroot with its own gcc), otherwise in a chroot with
// the kernel's own gcc major. It returns that builder.
func checkBuilder(t *testing.T, k testenv.Kernel, s *Set) Builder {
	t.Helper()
	major, kversion, err := KernelGCC(k)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := Builders(k)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(bs, func(b Builder) bool { return b.String() == s.Builder })
	if i < 0 {
		t.Fatalf("built with %q, not one of the builders %v", s.Builder, bs)
	}
	b := bs[i]
	hMajor, _, hGlibc, err := host()
	if err != nil {
		t.Fatal(err)
	}
	need, prog, err := KbuildGlibc(k)
	if err != nil {
		t.Fatal(err)
	}
	onHost := major <= hMajor && (need[0] < hGlibc[0] || need[0] == hGlibc[0] && need[1] <= hGlibc[1])
	t.Logf("kernel built with gcc %s (gcc-%d); kbuild needs glibc %d.%d (%s), host has gcc-%d, glibc %d.%d: built with %s",
		kversion, major, need[0], need[1], prog, hMajor, hGlibc[0], hGlibc[1], b)
	switch {
	case b.Chroot == "" && !onHost:
		t.Errorf("built on the host, but %s's kbuild cannot work here", k.Release)
	case b.Chroot == "" && !k.IsArm64() && major < hMajor && b.CC != b.GCC:
		t.Errorf("built on the host for a gcc-%d kernel without CC=%s", major, b.GCC)
	case b.Chroot != "" && !k.IsArm64() && b.GCC != "gcc-"+strconv.Itoa(major):
		t.Errorf("built in chroot %s with %s, but the kernel was built with gcc-%d", b.Chroot, b.GCC, major)
	case k.IsArm64() && b.Chroot == "" && (b.GCC != "gcc-"+strconv.Itoa(hMajor)+"-aarch64-linux-gnu" || b.CC != "aarch64-linux-gnu-gcc-"+strconv.Itoa(hMajor)):
		t.Errorf("cross-built on the host with %s, CC=%s; want the host's gcc-%d-aarch64-linux-gnu", b.GCC, b.CC, hMajor)
	case k.IsArm64() && b.Chroot != "" && (b.GCC != "gcc-"+strconv.Itoa(major)+"-aarch64-linux-gnu" || b.CC != "aarch64-linux-gnu-gcc-"+strconv.Itoa(major)):
		t.Errorf("cross-built in chroot %s with %s, CC=%s, but the kernel was built with gcc-%d", b.Chroot, b.GCC, b.CC, major)
	case k.IsArm64() && b.Cross != "aarch64-linux-gnu-":
		t.Errorf("built for arm64 with CROSS_COMPILE=%q", b.Cross)
	case !k.IsArm64() && b.Cross != "":
		t.Errorf("built for amd64 with CROSS_COMPILE=%q", b.Cross)
	case b.Chroot != "" && onHost && i == 0:
		t.Errorf("built in chroot %s, but the host comes first for %s", b.Chroot, k.Release)
	}
	if b.Chroot != "" && b.Version != kversion {
		// Same major, another build of it (the suite's gcc moved on): worth knowing, no error.
		t.Logf("note: the chroot's compiler is %s, the kernel's %s", b.Version, kversion)
	}
	return b
}

// hasSection reports whether the ELF file at path has a section named name.
func hasSection(t *testing.T, path, name string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.Section(name) != nil
}

// comments returns the distinct strings of a module's .comment section.
func comments(t *testing.T, path string) []string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(".comment")
	if sec == nil {
		t.Fatalf("%s: no .comment section", path)
	}
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	var cs []string
	for _, c := range bytes.Split(data, []byte{0}) {
		if len(c) > 0 && !slices.Contains(cs, string(c)) {
			cs = append(cs, string(c))
		}
	}
	return cs
}

// versions returns a module's __versions table: symbol -> CRC.
func versions(t *testing.T, path string) map[string]uint32 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section("__versions")
	if sec == nil {
		t.Fatalf("%s: no __versions", path)
	}
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	// struct modversion_info { unsigned long crc; char name[64 - sizeof(unsigned long)]; }
	m := map[string]uint32{}
	for ; len(data) >= 64; data = data[64:] {
		name, _, _ := bytes.Cut(data[8:64], []byte{0})
		m[string(name)] = f.ByteOrder.Uint32(data[:4])
	}
	return m
}

// TestConcurrentBuild races two cold builds of one kernel into an empty cache: both must
// succeed with the same complete entry, and no temporary directory may remain.
func TestConcurrentBuild(t *testing.T) {
	k := testenv.RequireKernels(t)[0]
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	var wg sync.WaitGroup
	sets := make([]*Set, 2)
	errs := make([]error, 2)
	for i := range sets {
		wg.Go(func() {
			// Distinct buildLocks keys are impossible (same entry), so bypass them to race
			// the way two test binaries do.
			sets[i], errs[i] = buildUnlocked(k, src, cache)
		})
	}
	wg.Wait()
	for i := range sets {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	if sets[0].Dir != sets[1].Dir || !slices.Equal(sets[0].Names, allModules) || !slices.Equal(sets[1].Names, allModules) {
		t.Fatalf("concurrent builds disagree: %+v, %+v", sets[0], sets[1])
	}
	entries, err := os.ReadDir(filepath.Join(cache, k.Release))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(sets[0].Dir) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("cache holds %v, want only %s", names, filepath.Base(sets[0].Dir))
	}

	// A damaged entry is rebuilt, not returned.
	if err := os.Remove(sets[0].Path(Hello)); err != nil {
		t.Fatal(err)
	}
	s, err := build(k, src, cache)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cached || s.Path(Hello) == "" {
		t.Fatalf("damaged entry not rebuilt: %+v", s)
	}
}

// TestFallback builds with a list of builders whose first fails, as the host's gcc might on
// an old kernel: the next one builds, and its entry is the one used from then on.
func TestFallback(t *testing.T) {
	k := testenv.RequireKernels(t)[0]
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	bs, err := Builders(k)
	if err != nil {
		t.Fatal(err)
	}
	broken := bs[0]
	broken.CC, broken.Version = "false", "(broken) 0"
	cache := t.TempDir()
	s, err := buildFirst(k, []Builder{broken, bs[0]}, src, cache)
	if err != nil {
		t.Fatal(err)
	}
	if s.Builder != bs[0].String() || s.Cached {
		t.Fatalf("built with %q (cached=%v), want a fresh build with %q", s.Builder, s.Cached, bs[0])
	}
	again, err := buildFirst(k, []Builder{broken, bs[0]}, src, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Dir != s.Dir {
		t.Fatalf("second build %+v, want the cached %s", again, s.Dir)
	}
	entries, _ := os.ReadDir(filepath.Join(cache, k.Release))
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1 (the failed build leaves none)", len(entries))
	}
}

func TestRelabelGPL(t *testing.T) {
	in := "0x1\tpg_plain\t/d/pg_exporter\tEXPORT_SYMBOL\t\n" +
		"0x2\tpg_gpl\t/d/pg_exporter\tEXPORT_SYMBOL_GPL\t\n" +
		"0x3\tpg_ns\t/d/pg_exporter\tEXPORT_SYMBOL_GPL\tPG_NS\n"
	want := "0x1\tpg_plain\t/d/pg_exporter\tEXPORT_SYMBOL\t\n" +
		"0x2\tpg_gpl\t/d/pg_exporter\tEXPORT_SYMBOL\t\n" +
		"0x3\tpg_ns\t/d/pg_exporter\tEXPORT_SYMBOL\tPG_NS\n"
	if got := string(relabelGPL([]byte(in))); got != want {
		t.Errorf("relabelGPL:\n%s\nwant:\n%s", got, want)
	}
}

// TestBuildersArm64WithoutKbuild: an arm64 kernel whose host kbuild was never unpacked is
// refused with the reason and the fix, before make could fail far from the cause.
func TestBuildersArm64WithoutKbuild(t *testing.T) {
	const rel = "6.12.0-1-arm64"
	k := testenv.Kernel{Release: rel, Root: t.TempDir(), Arch: testenv.ArchArm64}
	if err := os.MkdirAll(k.Headers(), 0o755); err != nil {
		t.Fatal(err)
	}
	config := `CONFIG_CC_VERSION_TEXT="aarch64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"` + "\n"
	if err := os.WriteFile(filepath.Join(k.Headers(), ".config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../lib/linux-kbuild-6.12/scripts", filepath.Join(k.Headers(), "scripts")); err != nil {
		t.Fatal(err)
	}
	_, err := Builders(k)
	if err == nil || !strings.Contains(err.Error(), rel) || !strings.Contains(err.Error(), "no kbuild") || !strings.Contains(err.Error(), "setup-arm64") {
		t.Fatalf("Builders = %v, want an error naming %s, the missing kbuild and setup-arm64", err, rel)
	}
}
