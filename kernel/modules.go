package kernel

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"gokmod/kmod/config"
	"gokmod/ko"
)

// ModuleName turns a module file path or name into the kernel's module name: the base
// name without .ko and compression suffixes, with '-' replaced by '_' (as modpost names
// KBUILD_MODNAME).
func ModuleName(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".gz", ".xz", ".zst"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.TrimSuffix(base, ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// readModulesDep reads depmod's modules.dep ("path: dep dep...") into the map of in-tree
// module names to their paths relative to the modules directory.
func readModulesDep(path string) (map[string]string, map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	paths := map[string]string{}
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := ModuleName(mod)
		paths[name] = mod
		for _, d := range strings.Fields(rest) {
			deps[name] = append(deps[name], ModuleName(d))
		}
	}
	return paths, deps, sc.Err()
}

// readNameList reads a file of module paths, one per line (modules.builtin,
// modules.order), as a set of module names. A missing file is an empty set.
func readNameList(path string) (map[string]bool, error) {
	out := map[string]bool{}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out[ModuleName(line)] = true
		}
	}
	return out, nil
}

// moduleExts are the file name endings of module files the tree walk takes: depmod's
// (.ko, .ko.xz, .ko.zst) and .ko.gz, which kmod built with zlib also reads.
var moduleExts = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// walkModules finds the modules under modDir as depmod's search does when the tree has
// no modules.dep (as Debian's packages ship it, before their postinst runs depmod):
// every module file below the directory, "build" and "source" left out, and of two
// files with one module name the one depmod keeps with no depmod.d configuration
// (updates/ first, else the first found in lexical order). Only names are read: no
// module is opened. Paths are relative to modDir, as in modules.dep. Unlike depmod the
// walk does not enter symbolic links to directories.
func walkModules(modDir string) (map[string]string, error) {
	cfg := &config.DepmodConfig{Search: []string{"updates"}}
	out := map[string]string{}
	err := filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == modDir {
				return err
			}
			return nil // depmod logs an unreadable subdirectory and goes on
		}
		if p == modDir {
			return nil
		}
		if cfg.Excluded(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		ok := false
		for _, e := range moduleExts {
			ok = ok || len(d.Name()) > len(e) && strings.HasSuffix(d.Name(), e)
		}
		if !ok {
			return nil
		}
		if !d.Type().IsRegular() {
			// depmod stats what is not a plain file: a symbolic link to a module
			// counts, anything else is skipped (with a message, there).
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		}
		rel, err := filepath.Rel(modDir, p)
		if err != nil {
			return nil
		}
		name := ModuleName(rel)
		if old, dup := out[name]; dup && cfg.Prefers(modDir, modDir+"/"+old, modDir+"/"+rel) {
			return nil
		}
		out[name] = rel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: listing the modules: %w", modDir, err)
	}
	return out, nil
}

// moduleDepends reads the depends= list of a module file's .modinfo.
func moduleDepends(path string) ([]string, error) {
	f, err := ko.OpenMapped(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, _ := f.ModInfoValue("depends")
	var out []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, ModuleName(d))
		}
	}
	return out, nil
}

// ModuleDeps returns the in-tree modules name depends on. With modules.dep (Deps) it
// is depmod's list: every dependency, transitively. Without it (a tree as the packages
// ship it) it is the depends= field of the module's own .modinfo, read on first use:
// its direct dependencies only, so callers that load dependencies first must recurse
// (which also works on depmod's list). A module that cannot be read has none.
func (k *Kernel) ModuleDeps(name string) []string {
	if k.Deps != nil {
		return k.Deps[name]
	}
	p, ok := k.InTree[name]
	if !ok {
		return nil
	}
	c := k.depCache
	if c == nil { // a Kernel not made by Load
		d, _ := moduleDepends(filepath.Join(k.ModDir, p))
		return d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.m[name]; ok {
		return d
	}
	d, _ := moduleDepends(filepath.Join(k.ModDir, p))
	c.m[name] = d
	return d
}

// depCache holds the depends= lists ModuleDeps has read.
type depCache struct {
	mu sync.Mutex
	m  map[string][]string
}

// maxStructSizeTries bounds how many in-tree modules moduleStructSize opens when the
// first ones cannot be read (each may be a decompression).
const maxStructSizeTries = 8

// moduleStructSize reads sizeof(struct module) from the .gnu.linkonce.this_module
// section of an in-tree module (all agree): small common modules first, then others in
// name order. It returns the size, the offsets of init and exit (where the section's
// relocations against init_module and cleanup_module are; -1 when the module has none)
// and the file it came from, or an error saying why the size is unknown.
func moduleStructSize(modDir string, inTree map[string]string) (size uint64, init, exit int64, from string, err error) {
	if len(inTree) == 0 {
		return 0, -1, -1, "", fmt.Errorf("no in-tree module found in %s", modDir)
	}
	names := []string{"minix", "llc", "dummy", "loop"}
	rest := make([]string, 0, len(inTree))
	for n := range inTree {
		rest = append(rest, n)
	}
	sort.Strings(rest)
	names = append(names, rest...)
	tried := 0
	var last error
	seen := map[string]bool{}
	for _, name := range names {
		p, ok := inTree[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		if tried == maxStructSizeTries {
			break
		}
		tried++
		path := filepath.Join(modDir, p)
		f, err := ko.Open(path)
		if err != nil {
			last = err
			continue
		}
		tm, err := f.ThisModule()
		switch {
		case err != nil:
			last = fmt.Errorf("%s: %w", path, err)
		case tm == nil:
			last = fmt.Errorf("%s: no .gnu.linkonce.this_module section", path)
		case tm.Size == 0:
			last = fmt.Errorf("%s: empty .gnu.linkonce.this_module section", path)
		default:
			init, exit = -1, -1
			for _, r := range tm.Refs {
				switch r.Symbol {
				case "init_module":
					init = int64(r.Offset)
				case "cleanup_module":
					exit = int64(r.Offset)
				}
			}
			return tm.Size, init, exit, path, nil
		}
	}
	return 0, -1, -1, "", fmt.Errorf("none of %d in-tree modules tried gives it (last: %w)", tried, last)
}
