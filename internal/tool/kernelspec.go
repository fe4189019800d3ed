package tool

import (
	"fmt"
	"os"
	"path/filepath"

	"gokmod/kernel"
)

// loadKernel resolves --kernel SPEC for the model's tools: "host" (or "") is the running
// system; a directory is Debian's kernel packages unpacked into one root (as
// scripts/setup.sh makes them); a kernel release names such a root in gokmod's cache.
func loadKernel(spec, cmdline string) (*kernel.Kernel, error) {
	var k *kernel.Kernel
	var err error
	switch {
	case spec == "" || spec == "host":
		k, err = kernel.FromHost()
	default:
		root := spec
		if st, serr := os.Stat(root); serr != nil || !st.IsDir() {
			root = filepath.Join(cacheDir(), "kernels", spec)
			if _, serr := os.Stat(root); serr != nil {
				return nil, fmt.Errorf("kernel %q: neither a directory nor a prepared kernel in %s", spec, filepath.Dir(root))
			}
		}
		var rel string
		if rel, err = onlyRelease(root); err == nil {
			k, err = kernel.FromDebianRoot(root, rel)
		}
	}
	if err != nil {
		return nil, err
	}
	if cmdline != "" {
		k.CmdLine = cmdline
	}
	return k, nil
}

// onlyRelease finds the single kernel release under root/lib/modules.
func onlyRelease(root string) (string, error) {
	ents, err := os.ReadDir(filepath.Join(root, "lib/modules"))
	if err != nil {
		return "", fmt.Errorf("%s: not an unpacked kernel: %w", root, err)
	}
	var rels []string
	for _, e := range ents {
		if e.IsDir() {
			rels = append(rels, e.Name())
		}
	}
	if len(rels) != 1 {
		return "", fmt.Errorf("%s/lib/modules holds %d kernel releases, want exactly one", root, len(rels))
	}
	return rels[0], nil
}

// cacheDir is where scripts/setup.sh unpacks kernels: $GOKMOD_CACHE, else ./.cache.
func cacheDir() string {
	if c := os.Getenv("GOKMOD_CACHE"); c != "" {
		return c
	}
	return ".cache"
}
