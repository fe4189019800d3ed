package tool

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/ko"
)

// TestModinfoPartialSame: on every plain .ko of the trees, modinfo's fast path (the
// partial reader, both as the workers use it, with the size from their fstat and their
// reused memory, and as a lookup by name does, without) takes the file and gives the
// same entries and warning as the full reader (ko.OpenMapped and ko.Parse).
func TestModinfoPartialSame(t *testing.T) {
	n := 0
	for _, k := range testenv.RequireKernels(t) {
		tree := kmod.NewTree(k.ModDir(), nil)
		defer tree.Close()
		var r ko.PartialReader
		var mem workerMem
		for _, path := range treeModules(t, k) {
			if filepath.Ext(path) != ".ko" {
				continue
			}
			n++
			m := kmod.Module{Name: kmod.NameFromPath(path), Path: path}
			full, fwarn, err := moduleInfoWarn(nil, tree, m, compat.Kmod34)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			kvs, warn, ok := partialPath(&r, path)
			if !ok || warn != fwarn || !reflect.DeepEqual(kvs, full) {
				t.Errorf("%s: by path: ok %v, warning %q (full %q), same entries %v", path, ok, warn, fwarn, reflect.DeepEqual(kvs, full))
			}
			fd, size, isFile := openModuleFile(path)
			if fd < 0 || !isFile {
				t.Errorf("%s: openModuleFile = %d, %v", path, fd, isFile)
				continue
			}
			kvs, warn, ok = partialInfo(&r, fd, size, path)
			if !ok || warn != fwarn || !reflect.DeepEqual(kvs, full) {
				t.Errorf("%s: by fd: ok %v, warning %q (full %q), same entries %v", path, ok, warn, fwarn, reflect.DeepEqual(kvs, full))
			}
			// The workers' form, whose entries alias memory reused from file to file.
			kvs, warn, ok = mem.partialInfo(fd, size, path)
			unix.Close(fd)
			if !ok || warn != fwarn || !reflect.DeepEqual(kvs, full) {
				t.Errorf("%s: worker: ok %v, warning %q (full %q), same entries %v", path, ok, warn, fwarn, reflect.DeepEqual(kvs, full))
			}
		}
	}
	if n < 4000 {
		t.Errorf("only %d plain modules", n)
	}
}

// TestOpenModuleFile: what counts as a module file argument, as isModuleFilename says.
func TestOpenModuleFile(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "a.ko")
	os.WriteFile(reg, []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "d.ko"), 0o755)
	fifo := filepath.Join(dir, "p.ko")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("x"), 0o644)
	os.Symlink(reg, filepath.Join(dir, "l.ko"))
	unreadable := filepath.Join(dir, "u.ko")
	os.WriteFile(unreadable, []byte("x"), 0)
	for _, name := range []string{"a.ko", "d.ko", "p.ko", "b.txt", "l.ko", "u.ko", "missing.ko", "a"} {
		p := filepath.Join(dir, name)
		fd, size, isFile := openModuleFile(p)
		if fd >= 0 {
			unix.Close(fd)
			if size != 1 {
				t.Errorf("%s: size %d", name, size)
			}
		}
		if want := isModuleFilename(p); isFile != want {
			t.Errorf("%s: openModuleFile says %v, isModuleFilename %v", name, isFile, want)
		}
		if isFile && fd < 0 && name != "u.ko" {
			t.Errorf("%s: a readable file, not opened", name)
		}
	}
}
