package config

import (
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/sysfile"
)

// confFile is one configuration file to parse: logical is the path kmod would open
// (and name in messages), name the base name that orders and masks files.
type confFile struct {
	name    string
	logical string
}

// confList is kmod's sorted, de-duplicated list of configuration files
// (conf_files_insert_sorted in libkmod-config.c, cfg_files_insert_sorted in depmod.c):
// files are ordered by base name across all directories, and a base name already in
// the list masks later ones, so an earlier directory wins.
type confList []confFile

func (l *confList) insert(name, logical string) {
	i := sort.Search(len(*l), func(i int) bool { return (*l)[i].name >= name })
	if i < len(*l) && (*l)[i].name == name {
		return // "Ignoring duplicate config file"
	}
	*l = append(*l, confFile{})
	copy((*l)[i+1:], (*l)[i:])
	(*l)[i] = confFile{name: name, logical: logical}
}

// fsys maps the logical paths kmod uses onto the file system below Root.
type fsys struct{ root string }

// real returns where a logical path lives: absolute paths move below the root, relative
// ones stay relative to the working directory, as with kmod's test-suite path remapping.
func (f fsys) real(logical string) string {
	if f.root != "" && filepath.IsAbs(logical) {
		return filepath.Join(f.root, logical)
	}
	return logical
}

// readFile reads a file by its logical path, reusing buf's storage (sysfile.ReadFile).
func (f fsys) readFile(logical string, buf []byte) ([]byte, error) {
	return sysfile.ReadFile(f.real(logical), buf, 0)
}

// listConfigs adds the files of one configuration path: a regular file by its base
// name, or the directory's entries that accept() keeps. Directories among them are
// skipped with a warning from nested. A path that does not exist is skipped silently.
func (f fsys) listConfigs(l *confList, path string, accept func(name string) bool, nested func(dir, name string)) bool {
	st, err := sysfile.Stat(f.real(path))
	if err != nil {
		return false
	}
	if !isDir(st) {
		l.insert(baseName(path), path)
		return true
	}
	names, err := sysfile.ReadDirNames(f.real(path))
	if err != nil {
		return false
	}
	for _, name := range names {
		if !accept(name) {
			continue
		}
		if est, err := sysfile.Stat(filepath.Join(f.real(path), name)); err == nil && isDir(est) {
			nested(path, name)
			continue
		}
		l.insert(name, path+"/"+name)
	}
	return true
}

// baseName is GNU basename(3): the text after the last '/', empty for a trailing '/'.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// modprobeAccepts is libkmod's conf_files_filter_out inverted: no dot files, and names
// of at least six bytes ending in ".conf" or ".alias" (kmod 30 still reads the latter).
func modprobeAccepts(name string) bool {
	if name == "" || name[0] == '.' || len(name) < 6 {
		return false
	}
	return strings.HasSuffix(name, ".conf") || strings.HasSuffix(name, ".alias")
}

// depmodAccepts is depmod's cfg_files_filter_out inverted: no dot files, and names of
// at least six bytes ending in ".conf".
func depmodAccepts(name string) bool {
	return name != "" && name[0] != '.' && len(name) >= 6 && strings.HasSuffix(name, ".conf")
}

func isDir(st unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
