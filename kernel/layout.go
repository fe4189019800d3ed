package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Debian's kernel packages have put a release's files in three layouts, and a directory
// they were unpacked into (or a system they were installed on) may hold any of them:
//
//   - classic (5.10, bookworm's 6.1 and 6.12): boot/config-REL, boot/vmlinuz-REL,
//     lib/modules/REL;
//   - trixie's 6.12: boot/config-REL and boot/vmlinuz-REL, the modules in
//     usr/lib/modules/REL (merged-/usr, no lib/);
//   - 7.x, split into linux-image-REL (a metapackage), linux-binary-REL (vmlinuz),
//     linux-modules-REL (the .ko files) and linux-base-REL (config, System.map,
//     modules.builtin, modules.order): everything in usr/lib/modules/REL, with vmlinuz
//     and config inside it, and nothing in boot/ or lib/.
//
// On an installed merged-/usr system lib is a link to usr/lib, so both module paths
// name the same directory. The headers are in usr/src/linux-headers-REL in all three.

// moduleDirs are the places of a release's module directory, below a root, in the order
// they are tried.
var moduleDirs = []string{"lib/modules", "usr/lib/modules"}

// ModuleDirIn returns the module directory of release below root: lib/modules/REL, else
// usr/lib/modules/REL (merged-/usr), else lib/modules/REL as the place it is missing from.
func ModuleDirIn(root, release string) string {
	for _, d := range moduleDirs {
		p := filepath.Join(root, d, release)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
	}
	return filepath.Join(root, moduleDirs[0], release)
}

// ConfigIn returns the configuration of release below root: boot/config-REL, else the
// module directory's config (7.x's linux-base-REL), else boot/config-REL as the place it
// is missing from.
func ConfigIn(root, release string) string {
	return firstFile(filepath.Join(root, "boot", "config-"+release), filepath.Join(ModuleDirIn(root, release), "config"))
}

// VmlinuzIn returns the bzImage of release below root: boot/vmlinuz-REL, else the module
// directory's vmlinuz (7.x's linux-binary-REL), else boot/vmlinuz-REL as the place it is
// missing from.
func VmlinuzIn(root, release string) string {
	return firstFile(filepath.Join(root, "boot", "vmlinuz-"+release), filepath.Join(ModuleDirIn(root, release), "vmlinuz"))
}

// firstFile returns the first of paths that exists, else the first.
func firstFile(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}

// Releases lists the kernel releases whose module directories are below root, in
// lib/modules or usr/lib/modules, sorted and each once (on a merged-/usr system both name
// the same). A root with neither directory is an error wrapping fs.ErrNotExist.
func Releases(root string) ([]string, error) {
	seen := map[string]bool{}
	var errs []error
	found := false
	for _, d := range moduleDirs {
		ents, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found = true
		for _, e := range ents {
			if st, err := os.Stat(filepath.Join(root, d, e.Name())); err == nil && st.IsDir() {
				seen[e.Name()] = true
			}
		}
	}
	if !found {
		return nil, errors.Join(errs...)
	}
	rels := make([]string, 0, len(seen))
	for r := range seen {
		rels = append(rels, r)
	}
	sort.Strings(rels)
	return rels, nil
}

// FromDir describes the kernel in a directory of Debian's kernel packages unpacked
// together (dpkg -x of the image, or 7.x's binary, modules and base packages, and the
// headers), in any of the layouts above: release, or the only one the directory holds
// when release is "". The layout scripts/setup.sh prepares (one release and the
// decompressed vmlinux at the top) is read as FromDebianRoot does; any other as an
// installed system is (FromInstalled: the image from boot/, usr/lib/debug/boot/ or the
// module directory).
func FromDir(dir, release string) (*Kernel, error) {
	rels, err := Releases(dir)
	if err != nil {
		return nil, fmt.Errorf("not a directory of unpacked kernel packages: %w", err)
	}
	switch {
	case release != "":
		found := false
		for _, r := range rels {
			found = found || r == release
		}
		if !found {
			return nil, fmt.Errorf("no release %s (it holds %s): %w", release, strings.Join(rels, ", "), fs.ErrNotExist)
		}
	case len(rels) == 1:
		release = rels[0]
	case len(rels) == 0:
		return nil, fmt.Errorf("no kernel release in %s or %s: %w",
			filepath.Join(dir, moduleDirs[0]), filepath.Join(dir, moduleDirs[1]), fs.ErrNotExist)
	default:
		return nil, fmt.Errorf("holds %d releases (%s): choose one with --release", len(rels), strings.Join(rels, ", "))
	}
	if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err == nil && len(rels) == 1 {
		return FromDebianRoot(dir, release)
	}
	return FromInstalled(dir, release)
}
