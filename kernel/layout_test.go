package kernel_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
)

// TestLayouts: every layout Debian's kernel packages have used, as small synthetic trees
// (unpacked as they come, and installed), is read by FromDir and InstalledFiles: the
// release, the configuration, the module directory, the bzImage's place and the exports
// of Module.symvers through the module directory's build link.
func TestLayouts(t *testing.T) {
	const rel = "7.9.1+test-amd64"
	const cfg = "CONFIG_MODULES=y\nCONFIG_SMP=y\nCONFIG_MODVERSIONS=y\nCONFIG_MODULE_UNLOAD=y\n"
	const symvers = "0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x0badcafe\tgpl_thing\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"
	headers := "usr/src/linux-headers-" + rel
	for _, tc := range []struct {
		name          string
		files         map[string]string
		links         map[string]string // path -> link target
		config        string            // relative to the root
		modDir        string
		vmlinuz       string
		absoluteBuild bool // the build link is absolute (/usr/src/...), as before 7.x
	}{
		{
			name: "classic (5.10, 6.1, bookworm's 6.12)",
			files: map[string]string{
				"boot/config-" + rel:                              cfg,
				"boot/vmlinuz-" + rel:                             "MZ not a kernel",
				"lib/modules/" + rel + "/modules.builtin":         "kernel/fs/ext4/ext4.ko\n",
				"lib/modules/" + rel + "/kernel/fs/fat/fat.ko.xz": "",
			},
			links:         map[string]string{"lib/modules/" + rel + "/build": "/" + headers},
			config:        "boot/config-" + rel,
			modDir:        "lib/modules/" + rel,
			vmlinuz:       "boot/vmlinuz-" + rel,
			absoluteBuild: true,
		},
		{
			name: "trixie's 6.12: boot/, modules in usr/lib/modules",
			files: map[string]string{
				"boot/config-" + rel:                          cfg,
				"boot/vmlinuz-" + rel:                         "MZ not a kernel",
				"usr/lib/modules/" + rel + "/modules.builtin": "kernel/fs/ext4/ext4.ko\n",
			},
			links:   map[string]string{"usr/lib/modules/" + rel + "/build": "/" + headers},
			config:  "boot/config-" + rel,
			modDir:  "usr/lib/modules/" + rel,
			vmlinuz: "boot/vmlinuz-" + rel,
		},
		{
			name: "7.x split packages unpacked together: everything in usr/lib/modules/REL",
			files: map[string]string{
				"usr/lib/modules/" + rel + "/config":          cfg,
				"usr/lib/modules/" + rel + "/vmlinuz":         "MZ not a kernel",
				"usr/lib/modules/" + rel + "/System.map":      "ffffffff81000000 T _text\n",
				"usr/lib/modules/" + rel + "/modules.builtin": "kernel/fs/ext4/ext4.ko\n",
				"usr/lib/modules/" + rel + "/modules.order":   "kernel/fs/fat/fat.ko\n",
			},
			links:   map[string]string{"usr/lib/modules/" + rel + "/build": "../../../src/linux-headers-" + rel},
			config:  "usr/lib/modules/" + rel + "/config",
			modDir:  "usr/lib/modules/" + rel,
			vmlinuz: "usr/lib/modules/" + rel + "/vmlinuz",
		},
		{
			name: "7.x installed on a merged-/usr system: lib -> usr/lib",
			files: map[string]string{
				"usr/lib/modules/" + rel + "/config":          cfg,
				"usr/lib/modules/" + rel + "/vmlinuz":         "MZ not a kernel",
				"usr/lib/modules/" + rel + "/modules.builtin": "kernel/fs/ext4/ext4.ko\n",
			},
			links: map[string]string{
				"lib":                               "usr/lib",
				"usr/lib/modules/" + rel + "/build": "../../../src/linux-headers-" + rel,
			},
			config:  "lib/modules/" + rel + "/config",
			modDir:  "lib/modules/" + rel,
			vmlinuz: "lib/modules/" + rel + "/vmlinuz",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{headers + "/Module.symvers": symvers}
			for p, d := range tc.files {
				files[p] = d
			}
			testenv.WriteFiles(t, root, files)
			for p, target := range tc.links {
				if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
					t.Fatal(err)
				}
			}
			rels, err := kernel.Releases(root)
			if err != nil || !slices.Equal(rels, []string{rel}) {
				t.Fatalf("releases %q, %v", rels, err)
			}
			in := func(p string) string { return filepath.Join(root, p) }
			f := kernel.InstalledFiles(root, rel)
			if f.Config != in(tc.config) || f.ModDir != in(tc.modDir) || f.Vmlinuz != in(tc.vmlinuz) {
				t.Errorf("files: config %s, modules %s, vmlinuz %s; want %s, %s, %s", f.Config, f.ModDir, f.Vmlinuz, tc.config, tc.modDir, tc.vmlinuz)
			}
			if want := in(headers + "/Module.symvers"); f.Symvers != want {
				t.Errorf("Module.symvers %q, want %q (through the build link)", f.Symvers, want)
			}
			if got := kernel.ConfigIn(root, rel); got != in(tc.config) {
				t.Errorf("ConfigIn %s", got)
			}
			k, err := kernel.FromDir(root, "")
			if err != nil {
				t.Fatal(err)
			}
			if k.Release != rel || k.Version != (kernel.Version{Major: 7, Minor: 9, Patch: 1}) || !k.Config.Enabled("SMP") ||
				k.ModDir != in(tc.modDir) || !k.Builtin["ext4"] {
				t.Errorf("kernel %s %v, SMP %v, modules %s, built-in %v", k.Release, k.Version, k.Config.Enabled("SMP"), k.ModDir, k.Builtin)
			}
			if s, ok := k.Export("printk"); !ok || s.CRC != 0x12345678 {
				t.Errorf("printk: %+v %v", s, ok)
			}
			if s, ok := k.Export("gpl_thing"); !ok || !s.GPLOnly {
				t.Errorf("gpl_thing: %+v %v", s, ok)
			}
			// The fake bzImage is found, cannot be read, and the model says so.
			if len(k.Notes) == 0 || !strings.Contains(k.Notes[0], in(tc.vmlinuz)) {
				t.Errorf("notes %q, want the unreadable %s", k.Notes, tc.vmlinuz)
			}
		})
	}
}

// TestLayoutErrors: a directory without a module directory, and one with two releases.
func TestLayoutErrors(t *testing.T) {
	if _, err := kernel.FromDir(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "not a directory of unpacked kernel packages") {
		t.Errorf("empty directory: %v", err)
	}
	root := t.TempDir()
	testenv.WriteFiles(t, root, map[string]string{
		"lib/modules/6.1.0-1-amd64/modules.builtin":         "",
		"usr/lib/modules/7.2.1+deb14-amd64/modules.builtin": "",
	})
	_, err := kernel.FromDir(root, "")
	if err == nil || !strings.Contains(err.Error(), "holds 2 releases (6.1.0-1-amd64, 7.2.1+deb14-amd64): choose one with --release") {
		t.Errorf("two releases: %v", err)
	}
	if _, err := kernel.FromDir(root, "5.10.0-1-amd64"); err == nil || !strings.Contains(err.Error(), "no release 5.10.0-1-amd64") {
		t.Errorf("missing release: %v", err)
	}
}

// TestEveryLineRaw: every prepared line's packages, unpacked exactly as they come (no
// vmlinux, no modules.dep, no lib link: classic, trixie's merged modules, 7.x's split
// packages), are read by FromDir as `gokmod sim --kernel DIR` reads them: the release, the
// upstream version, the configuration, the exports and certificates from the bzImage, the
// in-tree modules and sizeof(struct module).
func TestEveryLineRaw(t *testing.T) {
	ks := testenv.RequireKernels(t)
	lines := map[string]bool{}
	for _, tk := range ks {
		t.Run(tk.Release, func(t *testing.T) {
			raw, err := tk.RawRoot()
			if err != nil {
				t.Fatal(err)
			}
			k, err := kernel.FromDir(raw, "")
			if err != nil {
				t.Fatal(err)
			}
			lines[tk.Version().Line()] = true
			want := kernel.Version(tk.Version())
			if k.Release != tk.Release || k.Version != want {
				t.Errorf("release %s, version %v (from %s); want %s, %v", k.Release, k.Version, k.Sources.Version, tk.Release, want)
			}
			// CONFIG_MODVERSIONS is not asserted: Debian's 7.x builds go without it.
			if !k.Config.Modules() || !k.Config.Enabled("MODULE_SIG") || k.Vermagic != kernel.ComposeVermagic(tk.Release, k.Config) {
				t.Errorf("configuration %s: modules %v, sig %v, vermagic %q", k.Sources.Config,
					k.Config.Modules(), k.Config.Enabled("MODULE_SIG"), k.Vermagic)
			}
			if _, ok := k.Export("printk"); !ok && !hasExport(k, "_printk") {
				t.Errorf("no printk/_printk export (exports from %s)", k.Sources.Exports)
			}
			// Not split by table: 7.x keeps every export in __ksymtab (its GPL flag moved
			// out of __ksymtab_gpl), which this model does not read yet.
			if len(k.Ksymtab)+len(k.KsymtabGPL) < 5000 || len(k.Certs) == 0 {
				t.Errorf("%d + %d exports, %d certificates (from %s)", len(k.Ksymtab), len(k.KsymtabGPL), len(k.Certs), k.Sources.Exports)
			}
			if len(k.InTree) < 1000 || k.Structs.Module.Size == 0 || len(k.Builtin) == 0 || len(k.Notes) != 0 {
				t.Errorf("%d in-tree modules, struct module %d (%v), %d built-in, notes %q",
					len(k.InTree), k.Structs.Module.Size, k.Structs.Module.SizeErr, len(k.Builtin), k.Notes)
			}
			if k.ModDir != kernel.ModuleDirIn(raw, tk.Release) || (tk.MergedUsr() != strings.Contains(k.ModDir, "/usr/lib/modules/")) {
				t.Errorf("module directory %s (merged-/usr %v)", k.ModDir, tk.MergedUsr())
			}
			testenv.Report(t, "%s (%s, %s): version %v, %d+%d exports (__ksymtab+__ksymtab_gpl), %d in-tree modules, struct module %d, modversions %v, config %s",
				tk.Release, tk.Suite, tk.Version().Line(), k.Version, len(k.Ksymtab), len(k.KsymtabGPL), len(k.InTree),
				k.Structs.Module.Size, k.Config.Modversions(), strings.TrimPrefix(k.Sources.Config, raw+"/"))
		})
	}
	t.Logf("lines: %v", lines)
}

func hasExport(k *kernel.Kernel, name string) bool { _, ok := k.Export(name); return ok }
