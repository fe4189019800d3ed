package modprobe

import (
	"errors"
	"io/fs"
	"iter"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kmod/config"
	"gokmod/kmod/index"
)

type tristate uint8

const (
	unknown tristate = iota
	no
	yes
)

// Module is libkmod's struct kmod_module: a module name, possibly the alias it was found
// through, and what the indexes and configuration say about it, each learnt on first
// use and cached, as libkmod does.
type Module struct {
	s       *Session
	key     string // the pool's key: "name" or "name\alias"
	refs    int    // libkmod's refcount: the last unref releases the module from the pool
	name    string
	alias   string // set when created from an alias lookup
	isAlias bool

	path     string
	hasPath  bool
	depInit  bool
	deps     []*Module // load order: modules.dep's list reversed, as libkmod prepends
	options  string
	hasOpts  bool
	optsInit bool
	install  *string
	instInit bool
	remove   *string
	remInit  bool
	builtin  tristate

	visited, ignorecmd, required bool
}

// Name is the module's normalized name.
func (m *Module) Name() string { return m.name }

// Alias is the alias the module was found through ("" if by name).
func (m *Module) Alias() string { return m.alias }

// newModule is kmod_module_new: the pooled module for key ("name" or "name\alias") with
// one more reference, or a new one holding the first.
func (s *Session) newModule(key, name, alias string, isAlias bool) *Module {
	if m := s.poolGet(key); m != nil {
		return m.ref()
	}
	m := &Module{s: s, key: key, refs: 1, name: name, alias: alias, isAlias: isAlias}
	s.poolAdd(m)
	return m
}

// ModuleFromName is kmod_module_new_from_name: no lookup, just the object.
func (s *Session) ModuleFromName(name string) *Module {
	n := config.ModnameNormalize(name)
	return s.newModule(n, n, "", false)
}

func (s *Session) moduleFromAlias(alias, name string) *Module {
	return s.newModule(name+"\\"+alias, name, alias, true)
}

// ModuleFromPath is kmod_module_new_from_path: the file must exist.
func (s *Session) ModuleFromPath(path string) (*Module, error) {
	abs := path
	if !strings.HasPrefix(abs, "/") {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		abs = cwd + "/" + path
	}
	if _, err := stat(s.real(abs)); err != nil {
		if s.debug {
			s.dbg("libkmod-module.c", 410, "kmod_module_new_from_path", "stat %s: %s\n", path, strerrorText(errnoOf(err)))
		}
		return nil, errnoOf(err)
	}
	name := config.PathToModname(path)
	if name == "" {
		if s.debug {
			s.dbg("libkmod-module.c", 416, "kmod_module_new_from_path", "could not get modname from path %s\n", path)
		}
		return nil, unix.ENOENT
	}
	if m := s.poolGet(name); m != nil {
		switch {
		case !m.hasPath:
			m.path, m.hasPath = abs, true
		case m.path != abs:
			s.logf(LogErr, "kmod_module_new_from_path", 428, "kmod_module '%s' already exists with different path: new-path='%s' old-path='%s'\n", name, abs, m.path)
			return nil, unix.EEXIST
		}
		m.builtin = no
		return m.ref(), nil
	}
	m := s.newModule(name, name, "", false)
	m.path, m.hasPath = abs, true
	m.builtin = no
	return m, nil
}

func errnoOf(err error) error {
	// The common case, the file helpers' *fs.PathError, without errors.As's reflection.
	if pe, ok := err.(*fs.PathError); ok {
		if errno, ok := pe.Err.(unix.Errno); ok {
			return errno
		}
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// Path is kmod_module_get_path: the module file (logical path), or "" for a built-in
// module or one modules.dep does not know.
func (m *Module) Path() string {
	if m.s.debug {
		m.s.dbg("libkmod-module.c", 802, "kmod_module_get_path", "name='%s' path='%s'\n", m.name, cstr(m.path, m.hasPath))
	}
	if m.hasPath {
		return m.path
	}
	if m.depInit {
		return ""
	}
	if line, ok := m.s.searchModdep(m.name); ok {
		m.parseDepline(line)
	}
	return m.path
}

// RealPath is Path below the session's root: where the file really is.
func (m *Module) RealPath() string {
	if p := m.Path(); p != "" {
		return m.s.real(p)
	}
	return ""
}

// parseDepline is kmod_module_parse_depline.
func (m *Module) parseDepline(line string) error {
	if m.depInit {
		return nil
	}
	m.depInit = true
	p, rest, ok := strings.Cut(line, ":")
	if !ok {
		return nil
	}
	dir := m.s.dirname + "/"
	join := func(x string) string {
		if strings.HasPrefix(x, "/") {
			return x
		}
		return dir + x
	}
	if !m.hasPath {
		m.path, m.hasPath = join(p), true
	}
	var deps []*Module
	for tok := range strtok(rest) {
		path := join(tok)
		dep, err := m.s.ModuleFromPath(path)
		if err != nil {
			// kmod prints the context pointer here; so much cannot be byte-identical.
			m.s.logf(LogErr, "kmod_module_parse_depline", 191, "ctx=%p path=%s error=%s\n", m.s, path, strerrorText(err))
			m.depInit = false
			unrefList(deps)
			return err
		}
		if m.s.debug {
			m.s.dbg("libkmod-module.c", 196, "kmod_module_parse_depline", "add dep: %s\n", path)
		}
		deps = append(deps, dep)
	}
	if m.s.debug {
		m.s.dbg("libkmod-module.c", 202, "kmod_module_parse_depline", "%d dependencies for %s\n", len(deps), m.name)
	}
	slices.Reverse(deps) // libkmod prepends each dependency to its list
	m.deps = deps
	return nil
}

// strtok yields the tokens of s between spaces and tabs, as strtok_r(s, " \t") does.
func strtok(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(s); {
			if s[i] == ' ' || s[i] == '\t' {
				i++
				continue
			}
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			if !yield(s[i:j]) {
				return
			}
			i = j
		}
	}
}

// Dependencies is kmod_module_get_dependencies: the modules this one needs, from
// modules.dep, in load order.
func (m *Module) Dependencies() []*Module {
	if !m.depInit {
		line, ok := m.s.searchModdep(m.name)
		if !ok {
			return nil
		}
		m.parseDepline(line)
		if !m.depInit {
			return nil
		}
	}
	return m.deps
}

// Options is kmod_module_get_options: every "options" entry for the module's name or
// its alias, in configuration order, joined by spaces; ok is false when there is none
// (NULL in libkmod).
func (m *Module) Options() (string, bool) {
	if !m.optsInit {
		var parts []string
		for _, o := range m.s.cfg.Options {
			if m.s.debug {
				m.s.dbg("libkmod-module.c", 1461, "kmod_module_get_options", "modname=%s mod->name=%s mod->alias=%s\n", o.Module, m.name, cstr(m.alias, m.isAlias))
			}
			if o.Module != m.name && !(m.isAlias && o.Module == m.alias) {
				continue
			}
			if m.s.debug {
				m.s.dbg("libkmod-module.c", 1466, "kmod_module_get_options", "passed = modname=%s mod->name=%s mod->alias=%s\n", o.Module, m.name, cstr(m.alias, m.isAlias))
			}
			if o.Options == "" {
				continue
			}
			parts = append(parts, o.Options)
		}
		m.optsInit = true
		m.options, m.hasOpts = strings.Join(parts, " "), len(parts) > 0
	}
	return m.options, m.hasOpts
}

// InstallCommand is kmod_module_get_install_commands: the first install line whose
// pattern matches the name.
func (m *Module) InstallCommand() (string, bool) {
	if !m.instInit {
		m.instInit = true
		if cmd, ok := m.s.cfg.InstallCommand(m.name); ok {
			m.install = &cmd
		}
	}
	if m.install == nil {
		return "", false
	}
	return *m.install, true
}

// RemoveCommand is kmod_module_get_remove_commands.
func (m *Module) RemoveCommand() (string, bool) {
	if !m.remInit {
		m.remInit = true
		if cmd, ok := m.s.cfg.RemoveCommand(m.name); ok {
			m.remove = &cmd
		}
	}
	if m.remove == nil {
		return "", false
	}
	return *m.remove, true
}

// Softdeps is kmod_module_get_softdeps: the first softdep line whose pattern matches
// the name (kmod 30 ignores the others), each listed name resolved by a full lookup.
// Names that resolve to nothing are skipped silently.
func (m *Module) Softdeps() (pre, post []*Module) {
	d, ok := m.s.cfg.SoftdepOf(m.name)
	if !ok {
		return nil, nil
	}
	return m.s.lookupSoftdep(d.Pre), m.s.lookupSoftdep(d.Post)
}

func (s *Session) lookupSoftdep(names []string) []*Module {
	var out []*Module
	for _, n := range names {
		mods, err := s.Lookup(n)
		if err != nil {
			s.logf(LogErr, "lookup_softdep", 1567, "failed to lookup soft dependency '%s', continuing anyway.\n", n)
			continue
		}
		out = append(out, mods...)
	}
	return out
}

// IsBuiltin is kmod_module_is_builtin: modules.builtin.bin names it (learnt once).
func (m *Module) IsBuiltin() bool {
	if m.builtin == unknown {
		m.builtin = no
		if m.s.lookupBuiltinFile(m.name) {
			m.builtin = yes
		}
	}
	return m.builtin == yes
}

// InitState is a module's state in the kernel (kmod_module_get_initstate).
type InitState int

// The states kmod_module_get_initstate reports.
const (
	StateBuiltin InitState = iota + 1
	StateLive
	StateComing
	StateGoing
)

// InitState reads /sys/module/NAME/initstate; built-in modules are StateBuiltin and a
// module directory without the file is StateComing. An error (ENOENT) means the module
// is not in the kernel.
func (m *Module) InitState() (InitState, error) {
	if m.IsBuiltin() {
		return StateBuiltin, nil
	}
	dir := "/sys/module/" + m.name
	p := dir + "/initstate"
	b, err := readFile(m.s.real(p))
	if err != nil {
		if m.s.debug {
			m.s.dbg("libkmod-module.c", 1817, "kmod_module_get_initstate", "could not open '%s': %s\n", p, strerrorText(errnoOf(err)))
		}
		if st, serr := stat(m.s.real(dir)); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return StateComing, nil
		}
		if m.s.debug {
			m.s.dbg("libkmod-module.c", 1827, "kmod_module_get_initstate", "could not open '%s': %s\n", dir, strerrorText(errnoOf(err)))
		}
		return 0, errnoOf(err)
	}
	switch string(b) {
	case "live\n":
		return StateLive, nil
	case "coming\n":
		return StateComing, nil
	case "going\n":
		return StateGoing, nil
	}
	m.s.logf(LogErr, "kmod_module_get_initstate", 1847, "unknown %s: '%s'\n", p, b)
	return 0, unix.EINVAL
}

// inKernel is module_is_inkernel: live or built in.
func (m *Module) inKernel() bool {
	st, err := m.InitState()
	return err == nil && (st == StateLive || st == StateBuiltin)
}

// RefCount reads /sys/module/NAME/refcnt (kmod_module_get_refcnt).
func (m *Module) RefCount() (int, error) {
	n, err := m.s.host.RefCount(m.name)
	var pe *fs.PathError
	if err != nil && m.s.debug && errors.As(err, &pe) { // the open failed
		m.s.dbg("libkmod-module.c", 1959, "kmod_module_get_refcnt", "could not open '%s': %s\n", "/sys/module/"+m.name+"/refcnt", strerrorText(errnoOf(err)))
	}
	return n, err
}

// Holders lists the modules holding this one (kmod_module_get_holders), in directory
// order.
func (m *Module) Holders() []*Module {
	names, err := m.s.host.Holders(m.name)
	if err != nil {
		m.s.logf(LogErr, "kmod_module_get_holders", 1998, "could not open '%s': %s\n", "/sys/module/"+m.name+"/holders", strerrorText(err))
		return nil
	}
	var out []*Module
	for _, n := range names {
		out = append(out, m.s.ModuleFromName(n))
	}
	return out
}

// isBlacklisted is module_is_blacklisted: an exact name match.
func (m *Module) isBlacklisted() bool { return m.s.cfg.IsBlacklisted(m.name) }

// Lookup is kmod_module_new_from_lookup: the modules a name or alias stands for, from
// the first source that knows it. An alias with an unmatched bracket is EINVAL.
// The caller holds a reference on each module returned (Release drops them).
func (s *Session) Lookup(given string) ([]*Module, error) {
	alias, err := config.AliasNormalize(given)
	if err != nil {
		if s.debug {
			s.dbg("libkmod-module.c", 575, "kmod_module_new_from_lookup", "invalid alias: %s\n", given)
		}
		return nil, unix.EINVAL
	}
	if s.debug {
		s.dbg("libkmod-module.c", 579, "kmod_module_new_from_lookup", "input alias=%s, normalized=%s\n", given, alias)
	}
	mods, err := s.lookupChain(alias, s.fromConfig, s.fromModdep, s.fromSymbols, s.fromCommands,
		s.fromAliasIndex("modules.alias", false), s.fromBuiltin, s.fromAliasIndex("modules.builtin.alias", true))
	if s.debug {
		s.dbg("libkmod-module.c", 584, "kmod_module_new_from_lookup", "lookup=%s found=%d\n", alias, b2i(err == nil && len(mods) > 0))
	}
	return mods, err
}

// lookupChain is __kmod_module_new_from_lookup: the first source that knows name.
func (s *Session) lookupChain(name string, sources ...func(string) ([]*Module, error)) ([]*Module, error) {
	for _, f := range sources {
		mods, err := f(name)
		if err != nil {
			return nil, err
		}
		if len(mods) > 0 {
			return mods, nil
		}
	}
	return nil, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LookupName is kmod_module_new_from_name_lookup: modules.dep, then the built-in
// indexes; no aliases.
func (s *Session) LookupName(name string) (*Module, error) {
	n := config.ModnameNormalize(name)
	if s.debug {
		s.dbg("libkmod-module.c", 636, "kmod_module_new_from_name_lookup", "input modname=%s, normalized=%s\n", name, n)
	}
	mods, err := s.lookupChain(n, s.fromModdep, s.fromBuiltin, s.fromAliasIndex("modules.builtin.alias", true))
	if s.debug {
		s.dbg("libkmod-module.c", 641, "kmod_module_new_from_name_lookup", "lookup=%s found=%d\n", n, b2i(err == nil && len(mods) > 0))
	}
	if err != nil || len(mods) == 0 {
		return nil, err
	}
	return mods[0], nil
}

func (s *Session) fromConfig(name string) ([]*Module, error) {
	var out []*Module
	for _, a := range s.cfg.Aliases {
		if index.Fnmatch(a.Pattern, name) {
			out = append(out, s.moduleFromAlias(a.Pattern, a.Module))
		}
	}
	return out, nil
}

func (s *Session) fromModdep(name string) ([]*Module, error) {
	if strings.Contains(name, ":") {
		return nil, nil
	}
	line, ok := s.searchModdep(name)
	if !ok {
		return nil, nil
	}
	m := s.ModuleFromName(name)
	m.parseDepline(line)
	return []*Module{m}, nil
}

func (s *Session) fromSymbols(name string) ([]*Module, error) {
	if !strings.HasPrefix(name, "symbol:") {
		return nil, nil
	}
	return s.fromAliasIndex("modules.symbols", false)(name)
}

func (s *Session) fromCommands(name string) ([]*Module, error) {
	for _, c := range s.cfg.Install {
		if c.Module == name {
			m := s.ModuleFromName(c.Module)
			cmd := c.Command
			m.install, m.instInit = &cmd, true
			return []*Module{m}, nil
		}
	}
	for _, c := range s.cfg.Remove {
		if c.Module == name {
			m := s.ModuleFromName(c.Module)
			cmd := c.Command
			m.remove, m.remInit = &cmd, true
			return []*Module{m}, nil
		}
	}
	return nil, nil
}

func (s *Session) fromAliasIndex(file string, builtin bool) func(string) ([]*Module, error) {
	return func(name string) ([]*Module, error) {
		names, ok, err := s.searchAliasBin(file, name)
		if !ok || err != nil {
			return nil, nil
		}
		var out []*Module
		for _, n := range names {
			m := s.moduleFromAlias(name, n)
			if builtin {
				m.builtin = yes
			}
			out = append(out, m)
		}
		return out, nil
	}
}

func (s *Session) fromBuiltin(name string) ([]*Module, error) {
	if !s.lookupBuiltinFile(name) {
		return nil, nil
	}
	m := s.ModuleFromName(name)
	m.builtin = yes
	return []*Module{m}, nil
}

// resetProbeState is kmod_set_modules_visited(false) and kmod_set_modules_required(false).
func (s *Session) resetProbeState() {
	for _, m := range s.pool {
		m.visited, m.required = false, false
	}
}

// strerrorText is glibc's strerror for an error's errno.
func strerrorText(err error) string {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	t := errno.Error()
	if strings.HasPrefix(t, "errno ") {
		return "Unknown error " + t[len("errno "):]
	}
	return strings.ToUpper(t[:1]) + t[1:]
}
