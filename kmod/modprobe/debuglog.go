package modprobe

import (
	"fmt"

	"gokmod/kmod/compat"
)

// libkmod's DEBUG messages (DBG()), which Debian's kmod 30 prints at -vvv because it is
// built with --enable-debug (kmod 34.2 is not: its modprobe prints none). Each DBG call
// sits in this package where libkmod v30 has it, naming libkmod's file, line and
// function, so that `modprobe -vvv` under compat.Kmod30 prints the same sequence. The
// pool's lines ("get module", "add", "del", "released") follow libkmod's reference
// counting, which Module.refs mirrors on the tool's paths.

// setPriority is kmod_set_log_priority; debug caches whether DBG lines are printed, so
// that the many DBG call sites cost one test (and box no argument) when they are not.
func (s *Session) setPriority(p int) {
	s.prio = p
	s.debug = s.opts.Kmod == compat.Kmod30 && s.opts.Log != nil && p >= LogDebug
}

// dbg is libkmod's DBG(): callers test s.debug first.
func (s *Session) dbg(file string, line int, fn, format string, args ...any) {
	s.opts.Log(LogDebug, Source{file, line, fn}, fmt.Sprintf(format, args...))
}

// ptr is glibc's %p of a module: "(nil)" for none.
func ptr(m *Module) string {
	if m == nil {
		return "(nil)"
	}
	return fmt.Sprintf("%p", m)
}

// cstr is glibc's %s of a string that may be NULL.
func cstr(s string, ok bool) string {
	if !ok {
		return "(null)"
	}
	return s
}

// poolGet is kmod_pool_get_module (libkmod.c).
func (s *Session) poolGet(key string) *Module {
	m := s.pool[key]
	if s.debug {
		s.dbg("libkmod.c", 405, "kmod_pool_get_module", "get module name='%s' found=%s\n", key, ptr(m))
	}
	return m
}

// poolAdd is kmod_pool_add_module (libkmod.c).
func (s *Session) poolAdd(m *Module) {
	if s.debug {
		s.dbg("libkmod.c", 413, "kmod_pool_add_module", "add %p key='%s'\n", m, m.key)
	}
	s.pool[m.key] = m
}

// ref is kmod_module_ref.
func (m *Module) ref() *Module {
	m.refs++
	return m
}

// unref is kmod_module_unref: the last reference releases the module from the pool (a
// later lookup makes a new one, which learns everything again) and drops the references
// it held on its dependencies, in its list's order.
func (m *Module) unref() {
	if m.refs--; m.refs > 0 {
		return
	}
	s := m.s
	if s.debug {
		s.dbg("libkmod-module.c", 469, "kmod_module_unref", "kmod_module %p released\n", m)
		s.dbg("libkmod.c", 421, "kmod_pool_del_module", "del %p key='%s'\n", m, m.key)
	}
	if s.pool[m.key] == m {
		delete(s.pool, m.key)
	}
	unrefList(m.deps)
}

// unrefList is kmod_module_unref_list.
func unrefList(l []*Module) {
	for _, m := range l {
		m.unref()
	}
}

// Release drops the caller's reference on each module, as kmod_module_unref_list does
// with the list kmod_module_new_from_lookup returned.
func Release(mods []*Module) { unrefList(mods) }

// mmapped says whether kmod_load_resources left the index mapped (ctx->indexes[i]):
// libkmod's lookups then say "use mmaped index", else they open the file each time.
func (s *Session) mmapped(name string) bool { return s.loaded[name] }

// searchModdep is kmod_search_moddep (libkmod.c): modules.dep's line for name.
func (s *Session) searchModdep(name string) (string, bool) {
	if s.debug {
		if s.mmapped("modules.dep") {
			s.dbg("libkmod.c", 597, "kmod_search_moddep", "use mmaped index '%s' modname=%s\n", "modules.dep", name)
		} else {
			fn := s.dirname + "/modules.dep.bin"
			s.dbg("libkmod.c", 606, "kmod_search_moddep", "file=%s modname=%s\n", fn, name)
			if !s.tree.Usable("modules.dep") {
				s.dbg("libkmod.c", 610, "kmod_search_moddep", "could not open moddep file '%s'\n", fn)
			}
		}
	}
	return s.tree.ModdepLine(name)
}

// lookupBuiltinFile is lookup_builtin_file (libkmod.c): whether modules.builtin names
// the module.
func (s *Session) lookupBuiltinFile(name string) bool {
	if s.debug {
		if s.mmapped("modules.builtin") {
			s.dbg("libkmod.c", 502, "lookup_builtin_file", "use mmaped index '%s' modname=%s\n", "modules.builtin", name)
		} else {
			fn := s.dirname + "/modules.builtin.bin"
			s.dbg("libkmod.c", 513, "lookup_builtin_file", "file=%s modname=%s\n", fn, name)
			if !s.tree.Usable("modules.builtin") {
				s.dbg("libkmod.c", 517, "lookup_builtin_file", "could not open builtin file '%s'\n", fn)
			}
		}
	}
	return s.tree.IsBuiltin(name)
}

// searchAliasBin is the index half of kmod_lookup_alias_from_alias_bin (libkmod.c).
func (s *Session) searchAliasBin(file, name string) ([]string, bool, error) {
	if s.debug {
		if s.mmapped(file) {
			s.dbg("libkmod.c", 436, "kmod_lookup_alias_from_alias_bin", "use mmaped index '%s' for name=%s\n", file, name)
		} else {
			s.dbg("libkmod.c", 446, "kmod_lookup_alias_from_alias_bin", "file=%s name=%s\n", s.dirname+"/"+file+".bin", name)
		}
	}
	return s.tree.SearchAlias(file, name)
}
