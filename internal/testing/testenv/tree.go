package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
)

// LinkTree makes dst a copy of the module directory src for depmod to write into:
// directories made, files hard-linked (copied across file systems), symbolic links
// ("build", "source") left out, and the entries named in skip (paths relative to src,
// such as the files depmod writes) left out too.
func LinkTree(src, dst string, skip []string) error {
	omit := map[string]bool{"build": true, "source": true}
	for _, s := range skip {
		omit[s] = true
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		if r != "." && omit[r] {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		t := filepath.Join(dst, r)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if err := os.Link(p, t); err != nil {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(t, b, 0o644)
		}
		return nil
	})
}
