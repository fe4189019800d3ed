package tool

import (
	"errors"
	"path"
	"path/filepath"
	"strings"

	"gokmod/kernel"
	"gokmod/ko"
	"gokmod/load"
)

// The model's tools load modules into one model the way modprobe would load them: every
// module after the modules it needs. In-tree modules have modules.dep; files named on the
// command line (check's operands, explain's --loaded files) need not be in it, so their
// needs come from their own undefined symbols: each is satisfied by vmlinux, by another
// file named with it, or by the in-tree module Module.symvers says exports it. Named files
// thus provide symbols to one another whatever the order they were given in.

// isCompressedName says whether path is a compressed module by its name, as the tools
// pass MODULE_INIT_COMPRESSED_FILE (kmod decides by the name too).
func isCompressedName(p string) bool {
	return strings.HasSuffix(p, ".xz") || strings.HasSuffix(p, ".zst") || strings.HasSuffix(p, ".gz")
}

// modelFinit runs finit_module in the model on the file at path, read as the kernel reads
// it (ko.ReadFile: never blocking, bounded): a FIFO, a device or a directory gets the
// kernel's EINVAL from kernel_read_file. err is a problem user space meets before any
// system call (no such file, a symbolic link loop, a socket, no permission): not a
// verdict of the kernel's.
func modelFinit(m *load.Model, path, params string, flags load.Flags) (*load.Result, error) {
	img, err := ko.ReadFile(path)
	var nr *ko.NotRegularError
	switch {
	case errors.As(err, &nr):
		return m.FinitModuleNotRegular(nr.Kind, flags), nil
	case err != nil:
		return nil, err
	}
	return m.FinitModule(img, params, flags), nil
}

// moduleName is the module name a file's name implies: "snd-hda.ko.xz" is snd_hda.
func moduleName(p string) string { return kernel.ModuleName(p) }

// namedFile is a module file named on the command line.
type namedFile struct {
	path string
	name string // struct module's name, else the one its file name implies
	// inTree: path is the in-tree module's own file, whose needs modules.dep lists.
	inTree bool
	// syms are the symbols the module needs; exports those it exports (other files only).
	syms, exports []string

	deps   []dep
	done   bool // loaded (or tried) in the model
	active bool // on the current dependency path: a cycle stops here
}

// dep is what a named file needs: another named file, or an in-tree module by name.
type dep struct {
	file   *namedFile
	inTree string
}

// modelLoader loads named files and in-tree modules into one model in dependency order.
type modelLoader struct {
	k        *kernel.Kernel
	m        *load.Model
	files    []*namedFile          // in argument order
	byPath   map[string]*namedFile // cleaned path
	byName   map[string]*namedFile // first file of each module name
	exporter map[string]*namedFile // symbol -> first named file exporting it
	inTree   map[string]bool       // in-tree modules loaded (or tried), or being loaded
	resolved bool
	before   load.Taints // the kernel's taints before the load being reported

	// onFile and onInTree report each load: r is the model's verdict, err a problem
	// reading the file before any system call.
	onFile   func(f *namedFile, r *load.Result, err error)
	onInTree func(name, path string, r *load.Result, err error)
	// loadPath, when set, loads a file in place of finit_module (check: as insmod does).
	loadPath func(path string) (*load.Result, error)
}

func newModelLoader(k *kernel.Kernel, m *load.Model) *modelLoader {
	return &modelLoader{k: k, m: m, byPath: map[string]*namedFile{}, byName: map[string]*namedFile{},
		exporter: map[string]*namedFile{}, inTree: map[string]bool{}}
}

// add names a file; naming the same path twice names it once. Files are read here for
// their symbols only: a file that cannot be read or parsed keeps its place, and its load
// says why.
func (l *modelLoader) add(p string) *namedFile {
	clean := filepath.Clean(p)
	if f, ok := l.byPath[clean]; ok {
		return f
	}
	f := l.scan(p)
	l.byPath[clean] = f
	l.files = append(l.files, f)
	if _, ok := l.byName[f.name]; !ok {
		l.byName[f.name] = f
	}
	for _, s := range f.exports {
		if _, ok := l.exporter[s]; !ok {
			l.exporter[s] = f
		}
	}
	l.resolved = false
	return f
}

// scan reads the file at p for its name and symbols, unless it is the in-tree module's
// own file (modules.dep then has its needs).
func (l *modelLoader) scan(p string) *namedFile {
	f := &namedFile{path: p, name: moduleName(p)}
	if rel, ok := l.k.InTree[f.name]; ok && filepath.Clean(p) == filepath.Clean(filepath.Join(l.k.ModDir, rel)) {
		f.inTree = true
		return f
	}
	mf, err := ko.Open(p)
	if err != nil {
		return f
	}
	if tm, err := mf.ThisModule(); err == nil && tm != nil && tm.Name != "" {
		f.name = tm.Name
	}
	if us, err := mf.UndefinedSymbols(); err == nil {
		for _, s := range us {
			f.syms = append(f.syms, s.Name)
		}
	}
	if ex, err := mf.Exports(); err == nil {
		for _, e := range ex {
			f.exports = append(f.exports, e.Name)
		}
	}
	return f
}

// resolve computes every named file's needs, once all are named.
func (l *modelLoader) resolve() {
	if l.resolved {
		return
	}
	l.resolved = true
	for _, f := range l.files {
		f.deps = l.depsOf(f)
	}
}

// depsOf is what f needs: kernel.ModuleDeps (modules.dep's list, or depends=) for an
// in-tree file; otherwise, for each symbol vmlinux does not export, the named file
// exporting it (not f itself), else the in-tree module Module.symvers names. A symbol nobody exports is left to the model.
func (l *modelLoader) depsOf(f *namedFile) []dep {
	var deps []dep
	if f.inTree {
		for _, d := range l.k.ModuleDeps(f.name) {
			deps = append(deps, l.byModuleName(d))
		}
		return deps
	}
	seen := map[dep]bool{}
	for _, s := range f.syms {
		var d dep
		if _, ok := l.k.Export(s); ok {
			continue // find_symbol looks in vmlinux first
		} else if g := l.exporter[s]; g != nil {
			if g == f || g.name == f.name {
				continue
			}
			d = dep{file: g}
		} else if sym, ok := l.k.ModuleExports[s]; ok {
			d = l.byModuleName(moduleName(path.Base(sym.Owner)))
			if d.file == f || d.inTree == f.name {
				continue
			}
		} else {
			continue
		}
		if !seen[d] {
			seen[d] = true
			deps = append(deps, d)
		}
	}
	return deps
}

// byModuleName is the named file of that module name if there is one (it replaces the
// in-tree module), else the in-tree module.
func (l *modelLoader) byModuleName(name string) dep {
	if f := l.byName[name]; f != nil {
		return dep{file: f}
	}
	return dep{inTree: name}
}

// loadFile loads f after what it needs.
func (l *modelLoader) loadFile(f *namedFile) {
	l.resolve()
	if f.done || f.active {
		return
	}
	f.active = true
	for _, d := range f.deps {
		l.loadDep(d)
	}
	f.active = false
	f.done = true
	var flags load.Flags
	if isCompressedName(f.path) {
		flags = load.CompressedFile
	}
	l.before = l.m.Taint()
	r, err := l.load(f.path, flags)
	if l.onFile != nil {
		l.onFile(f, r, err)
	}
}

// load loads the file at path: loadPath, or finit_module with flags.
func (l *modelLoader) load(path string, flags load.Flags) (*load.Result, error) {
	if l.loadPath != nil {
		return l.loadPath(path)
	}
	return modelFinit(l.m, path, "", flags)
}

// loadDeps loads what f needs, but not f: explain --with-deps. f may be a file not
// added (scan), which no other module then depends on.
func (l *modelLoader) loadDeps(f *namedFile) {
	l.resolve()
	if _, added := l.byPath[filepath.Clean(f.path)]; !added {
		f.deps = l.depsOf(f)
	}
	f.active = true
	for _, d := range f.deps {
		l.loadDep(d)
	}
	f.active = false
}

func (l *modelLoader) loadDep(d dep) {
	if d.file != nil {
		l.loadFile(d.file)
	} else {
		l.loadInTree(d.inTree)
	}
}

// loadInTree loads an in-tree module after its modules.dep dependencies (a named file
// of the same name stands in for it). It reports false for a name not in the tree.
func (l *modelLoader) loadInTree(name string) bool {
	l.resolve()
	if f := l.byName[name]; f != nil {
		l.loadFile(f)
		return true
	}
	rel, ok := l.k.InTree[name]
	if !ok {
		return false
	}
	if l.inTree[name] {
		return true
	}
	l.inTree[name] = true
	for _, d := range l.k.ModuleDeps(name) {
		l.loadDep(l.byModuleName(d))
	}
	p := filepath.Join(l.k.ModDir, rel)
	var flags load.Flags
	if isCompressedName(p) {
		flags = load.CompressedFile
	}
	l.before = l.m.Taint()
	r, err := l.load(p, flags)
	if l.onInTree != nil {
		l.onInTree(name, p, r, err)
	}
	return true
}
