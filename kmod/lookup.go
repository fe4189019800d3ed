package kmod

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"gokmod/kmod/config"
	"gokmod/kmod/index"
)

// Tree is a kernel's module directory (/lib/modules/RELEASE) and the indexes depmod wrote
// there, opened on first use. It answers libkmod's lookups.
type Tree struct {
	Dir    string
	Config *config.Config // modprobe.d configuration; nil means none (as modinfo uses)

	mu      sync.Mutex
	indexes map[string]*index.Index
	errs    map[string]error     // why an index in indexes is nil
	bad     []*index.HeaderError // indexes refused by their header, not yet taken
}

// NewTree returns the tree at dir.
func NewTree(dir string, cfg *config.Config) *Tree { return &Tree{Dir: dir, Config: cfg} }

// Module is a module found by a lookup: loadable from Path, or built into the kernel.
type Module struct {
	Name    string
	Path    string   // absolute path of the file; "" for a built-in module
	Deps    []string // absolute paths of its dependencies, from modules.dep
	Builtin bool
}

// index opens NAME.bin once; nil when the tree has no usable such index (libkmod:
// -ENOSYS, and the lookup moves on, whether the file is missing or corrupt).
func (t *Tree) index(name string) *index.Index {
	ix, _ := t.open(name)
	return ix
}

func (t *Tree) open(name string) (*index.Index, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ix, ok := t.indexes[name]; ok {
		return ix, t.errs[name]
	}
	if t.indexes == nil {
		t.indexes, t.errs = map[string]*index.Index{}, map[string]error{}
	}
	ix, err := index.Open(filepath.Join(t.Dir, name+".bin"))
	if err != nil {
		ix = nil
		t.errs[name] = err
		var he *index.HeaderError
		if errors.As(err, &he) {
			t.bad = append(t.bad, he)
		}
	}
	t.indexes[name] = ix
	return ix, err
}

// Usable says whether NAME.bin (e.g. "modules.dep") opens with a valid header.
func (t *Tree) Usable(name string) bool { return t.index(name) != nil }

// OpenIndex opens NAME.bin (e.g. "modules.dep") now, as libkmod's kmod_load_resources
// does for every index before modprobe's work, and says why it cannot be used: nil, the
// open's *fs.PathError (a missing file), or an *index.HeaderError (a file refused by its
// header, which libkmod reports and then treats as missing).
func (t *Tree) OpenIndex(name string) error {
	_, err := t.open(name)
	return err
}

// BadIndexNote is gokmod's line (with its newline) for an index its header refuses:
// which file, what is wrong, and the remedy. kmod says at most "magic check fail". An
// empty file gets none (""): kmod's own depmod writes one (modules.builtin.alias.bin,
// for a tree without modules.builtin.modinfo), which libkmod takes for a missing index
// without a word, and running depmod would only write it again.
func BadIndexNote(he *index.HeaderError) string {
	if he.Size == 0 {
		return ""
	}
	return fmt.Sprintf("%s is damaged (%s) and is ignored: run depmod to rebuild it\n", he.Path, he.Reason())
}

// TakeBadIndexes returns the indexes refused by their header since the last call, each
// once: libkmod's lookups treat them as missing, so a tool that finds nothing can say
// which file is damaged.
func (t *Tree) TakeBadIndexes() []*index.HeaderError {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bad
	t.bad = nil
	return b
}

// Close releases the indexes.
func (t *Tree) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ix := range t.indexes {
		if ix != nil {
			ix.Close()
		}
	}
	t.indexes = nil
}

// Lookup resolves a name or alias as kmod_module_new_from_lookup does, stopping at the
// first source that knows it: configuration aliases, modules.dep, modules.symbols,
// install/remove commands, modules.alias, modules.builtin, modules.builtin.alias.
func (t *Tree) Lookup(alias string) ([]Module, error) {
	norm, err := config.AliasNormalize(alias)
	if err != nil {
		return nil, err
	}
	for _, f := range []func(string) ([]Module, error){
		t.fromConfigAliases, t.fromModdep, t.fromSymbols, t.fromCommands,
		t.fromAliasIndex("modules.alias", false), t.fromBuiltin, t.fromAliasIndex("modules.builtin.alias", true),
	} {
		mods, err := f(norm)
		if err != nil {
			return nil, err
		}
		if len(mods) > 0 {
			return mods, nil
		}
	}
	return nil, nil
}

// LookupName resolves a module name only (kmod_module_new_from_name_lookup): modules.dep,
// then the built-in indexes.
func (t *Tree) LookupName(name string) (*Module, error) {
	norm, err := config.AliasNormalize(name)
	if err != nil {
		return nil, err
	}
	for _, f := range []func(string) ([]Module, error){t.fromModdep, t.fromBuiltin, t.fromAliasIndex("modules.builtin.alias", true)} {
		mods, err := f(norm)
		if err != nil || len(mods) > 0 {
			if len(mods) == 0 {
				return nil, err
			}
			return &mods[0], err
		}
	}
	return nil, nil
}

// Module returns what the tree knows of a module by name: its file and dependencies from
// modules.dep, or that it is built in.
func (t *Tree) Module(name string) Module {
	m := Module{Name: name}
	if line, ok := t.moddep(name); ok {
		t.parseDepline(&m, line)
		return m
	}
	m.Builtin = t.IsBuiltin(name)
	return m
}

// IsBuiltin looks the name up in modules.builtin.bin (lookup_builtin_file).
func (t *Tree) IsBuiltin(name string) bool {
	ix := t.index("modules.builtin")
	if ix == nil {
		return false
	}
	v, err := ix.Lookup(name)
	return err == nil && len(v) > 0
}

func (t *Tree) moddep(name string) (string, bool) {
	ix := t.index("modules.dep")
	if ix == nil {
		return "", false
	}
	v, err := ix.Lookup(name)
	if err != nil || len(v) == 0 {
		return "", false
	}
	return v[0].Value, true
}

// parseDepline reads "path: dep dep ..." (kmod_module_parse_depline); relative paths are
// under the tree.
func (t *Tree) parseDepline(m *Module, line string) {
	p, deps, _ := strings.Cut(line, ":")
	m.Path = t.abs(strings.TrimSpace(p))
	for _, d := range strings.Fields(deps) {
		m.Deps = append(m.Deps, t.abs(d))
	}
}

func (t *Tree) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return t.Dir + "/" + p
}

func (t *Tree) fromModdep(name string) ([]Module, error) {
	if strings.Contains(name, ":") { // module names never contain ':'
		return nil, nil
	}
	line, ok := t.moddep(name)
	if !ok {
		return nil, nil
	}
	m := Module{Name: name}
	t.parseDepline(&m, line)
	return []Module{m}, nil
}

func (t *Tree) fromSymbols(name string) ([]Module, error) {
	if !strings.HasPrefix(name, "symbol:") {
		return nil, nil
	}
	return t.fromAliasIndex("modules.symbols", false)(name)
}

func (t *Tree) fromAliasIndex(file string, builtin bool) func(string) ([]Module, error) {
	return func(name string) ([]Module, error) {
		ix := t.index(file)
		if ix == nil {
			return nil, nil
		}
		vals, err := ix.SearchWildcard(name)
		if err != nil {
			return nil, err
		}
		var mods []Module
		for _, v := range vals {
			m := t.Module(v.Value)
			m.Builtin = m.Builtin || builtin
			mods = append(mods, m)
		}
		return mods, nil
	}
}

func (t *Tree) fromBuiltin(name string) ([]Module, error) {
	if !t.IsBuiltin(name) {
		return nil, nil
	}
	return []Module{{Name: name, Builtin: true}}, nil
}

func (t *Tree) fromConfigAliases(name string) ([]Module, error) {
	if t.Config == nil {
		return nil, nil
	}
	var mods []Module
	for _, a := range t.Config.LookupAlias(name) {
		mods = append(mods, t.Module(a.Module))
	}
	return mods, nil
}

func (t *Tree) fromCommands(name string) ([]Module, error) {
	if t.Config == nil {
		return nil, nil
	}
	if _, _, ok := t.Config.CommandModule(name); ok {
		return []Module{t.Module(name)}, nil
	}
	return nil, nil
}

// BuiltinModinfo returns a built-in module's modules.builtin.modinfo entries ("key=value",
// file order), which libkmod shows instead of a file's .modinfo (kmod_builtin_get_modinfo).
// As libkmod's get_strings, it takes only the module's first run of records: 7.x's file
// lists the built-in aliases again in a later block, which kmod does not show. A record
// without a "modname." prefix before the run ends is libkmod's EINVAL. os.ErrNotExist
// when the file is missing.
func (t *Tree) BuiltinModinfo(name string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(t.Dir, "modules.builtin.modinfo"))
	if err != nil {
		return nil, err
	}
	prefix := []byte(name + ".")
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), len(b)+1)
	sc.Split(splitNUL)
	for sc.Scan() {
		s := sc.Bytes()
		if bytes.IndexByte(s, '.') < 0 {
			return nil, fmt.Errorf("%s/modules.builtin.modinfo: unexpected string without modname prefix: %w", t.Dir, syscall.EINVAL)
		}
		if bytes.HasPrefix(s, prefix) {
			out = append(out, string(s[len(prefix):]))
		} else if len(out) > 0 {
			break // the module's run has ended: libkmod reads no further
		}
	}
	if err := sc.Err(); err != nil {
		return nil, errors.Join(errors.New(t.Dir+"/modules.builtin.modinfo"), err)
	}
	return out, nil
}

func splitNUL(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// ModdepLine returns modules.dep.bin's value for a module name, "path: dep dep ..."
// (kmod_search_moddep); ok is false when the name is not there or the index is missing.
func (t *Tree) ModdepLine(name string) (line string, ok bool) { return t.moddep(name) }

// SearchAlias looks name up in an alias-style index — "modules.alias",
// "modules.symbols" or "modules.builtin.alias" — as libkmod's index_searchwild does, and
// returns the module names in its order. ok is false when the index cannot be opened
// (libkmod's -ENOSYS, which makes the lookup chain move on).
func (t *Tree) SearchAlias(file, name string) (mods []string, ok bool, err error) {
	ix := t.index(file)
	if ix == nil {
		return nil, false, nil
	}
	vals, err := ix.SearchWildcard(name)
	if err != nil {
		return nil, true, err
	}
	for _, v := range vals {
		mods = append(mods, v.Value)
	}
	return mods, true, nil
}
