package kernel

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The walk takes what depmod's search takes without a depmod.d configuration: every
// module file below the directory but build/ and source/, updates/ before the rest,
// and names with '-' as '_'. Nothing is opened.
func TestWalkModules(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		"kernel/fs/minix/minix.ko", "kernel/drivers/net/dummy.ko.xz", "kernel/a/snd-hda.ko.zst",
		"kernel/b/old.ko.gz", "updates/minix.ko", "extra/thing.ko", "build/skip.ko",
		"source/x/skip2.ko", "kernel/notes.txt", "kernel/c/.ko", "modules.dep.bin",
	} {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil { // empty: the walk must not read them
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../kernel/fs/minix/minix.ko", filepath.Join(dir, "extra", "linked.ko")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere.ko", filepath.Join(dir, "extra", "dangling.ko")); err != nil {
		t.Fatal(err)
	}
	got, err := walkModules(dir + "/") // an unclean path gives the same relative paths
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"minix": "updates/minix.ko", "dummy": "kernel/drivers/net/dummy.ko.xz",
		"snd_hda": "kernel/a/snd-hda.ko.zst", "old": "kernel/b/old.ko.gz", "thing": "extra/thing.ko",
		"linked": "extra/linked.ko"}
	if !maps.Equal(got, want) {
		t.Errorf("walked %v, want %v", got, want)
	}
	if _, err := walkModules(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing: listing the modules") {
		t.Errorf("missing directory: %v", err)
	}
	// None of these empty files gives sizeof(struct module): unknown, with the reason.
	n, _, _, _, err := moduleStructSize(dir, got)
	if n != 0 || err == nil || !strings.Contains(err.Error(), "none of 6 in-tree modules tried gives it") {
		t.Errorf("struct module size from empty files: %d, %v", n, err)
	}
	if _, _, _, _, err := moduleStructSize(dir, nil); err == nil || !strings.Contains(err.Error(), "no in-tree module found in "+dir) {
		t.Errorf("no modules: %v", err)
	}
}

// A machine without a module tree still gets a model (a module file can be explained),
// with every missing fact marked unknown and why, never silently empty.
func TestLoadWithoutModuleTree(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte("CONFIG_MODULES=y\nCONFIG_MODULE_SIG=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := Load(Files{Release: "6.1.0-0-test", Config: cfg, ModDir: filepath.Join(dir, "lib/modules/6.1.0-0-test"),
		Vmlinuz: filepath.Join(dir, "vmlinuz")})
	if err != nil {
		t.Fatal(err)
	}
	if m := k.Structs.Module; len(k.InTree) != 0 || m.Size != 0 || m.SizeErr == nil || m.InitExit {
		t.Errorf("in-tree %v, struct module %d (%v)", k.InTree, m.Size, m.SizeErr)
	}
	for _, s := range k.Sources.List() {
		if s.Fact == "struct layouts" {
			// The ABI's layouts stand in; sizeof(struct module) is unknown, and why.
			if want := abiDefault + " (no BTF: "; !strings.HasPrefix(s.From, want) || !strings.Contains(s.From, "struct module (size unknown: no BTF") {
				t.Errorf("%s from %q, want %q... and struct module's size unknown", s.Fact, s.From, want)
			}
			continue
		}
		if s.Fact != "config" && s.Fact != "version" && !strings.HasPrefix(s.From, "unknown: ") {
			t.Errorf("%s from %q, want unknown", s.Fact, s.From)
		}
	}
	// A kernel image that is there but broken is an error naming it.
	os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("MZ not a kernel"), 0o644)
	_, err = Load(Files{Release: "6.1.0-0-test", Config: cfg, ModDir: dir, Vmlinuz: filepath.Join(dir, "vmlinuz")})
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "vmlinuz")+": ") {
		t.Errorf("broken vmlinuz: %v", err)
	}
}
