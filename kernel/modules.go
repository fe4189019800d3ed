package kernel

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
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
