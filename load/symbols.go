package load

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
)

// bsearch mirrors lib/bsearch.c over a table of n names; an unsorted table finds what
// the kernel's search would find, not necessarily every entry.
func bsearch(key string, n int, name func(int) string) int {
	base := 0
	for n > 0 {
		pivot := base + n>>1
		switch k := name(pivot); {
		case key == k:
			return pivot
		case key > k:
			base = pivot + 1
			n--
		}
		n >>= 1
	}
	return -1
}

// found is struct find_symbol_arg's output.
type found struct {
	owner     *module // nil: vmlinux
	crc       *uint32
	gplOnly   bool
	namespace string
	addr      uint64
}

// findSymbol mirrors find_symbol: vmlinux's __ksymtab, then __ksymtab_gpl (if gplok),
// then every formed module in list order, each module's plain then GPL table.
func (m *Model) findSymbol(name string, gplok bool) (found, bool) {
	k := m.K
	tables := []struct {
		t   []kernel.Symbol
		gpl bool
	}{{k.Ksymtab, false}, {k.KsymtabGPL, true}}
	for ti, t := range tables {
		if t.gpl && !gplok {
			continue
		}
		if i := bsearch(name, len(t.t), func(i int) string { return t.t[i].Name }); i >= 0 {
			s := t.t[i]
			f := found{gplOnly: t.gpl, namespace: s.Namespace, addr: s.Addr}
			if f.addr == 0 {
				f.addr = syntheticKernelAddr(m.space.kernelText, ti, i)
			}
			if s.HasCRC {
				crc := s.CRC
				f.crc = &crc
			}
			return f, true
		}
	}
	// Then the formed modules. The kernel walks the list; exports are unique among formed
	// modules (verify_exported_symbols refuses duplicates), so an index finds the same one.
	for _, ref := range m.exportIdx[name] {
		mod := ref.mod
		if mod.state == stateUnformed || (ref.gpl && !gplok) {
			continue
		}
		tab, hasCRC := mod.syms, mod.hasCRCs
		if ref.gpl {
			tab, hasCRC = mod.gplSyms, mod.hasGPLCRCs
		}
		e := tab[ref.i]
		f := found{owner: mod, gplOnly: ref.gpl, namespace: e.namespace, addr: e.addr}
		if hasCRC {
			crc := e.crc
			f.crc = &crc
		}
		return f, true
	}
	return found{}, false
}

// exportRef locates one export of a module in the model's index.
type exportRef struct {
	mod *module
	gpl bool
	i   int
}

// indexExports adds a module's exports, once read from its relocated tables.
func (m *Model) indexExports(mod *module) {
	if m.exportIdx == nil {
		m.exportIdx = map[string][]exportRef{}
	}
	for i, e := range mod.syms {
		m.exportIdx[e.name] = append(m.exportIdx[e.name], exportRef{mod, false, i})
	}
	for i, e := range mod.gplSyms {
		m.exportIdx[e.name] = append(m.exportIdx[e.name], exportRef{mod, true, i})
	}
}

// unindexExports drops a module's exports when it leaves the list.
func (m *Model) unindexExports(mod *module) {
	for _, tab := range [][]export{mod.syms, mod.gplSyms} {
		for _, e := range tab {
			refs := m.exportIdx[e.name]
			kept := refs[:0]
			for _, r := range refs {
				if r.mod != mod {
					kept = append(kept, r)
				}
			}
			if len(kept) == 0 {
				delete(m.exportIdx, e.name)
			} else {
				m.exportIdx[e.name] = kept
			}
		}
	}
}

// syntheticKernelAddr gives vmlinux exports without a known address a distinct place in
// kernel text (kernel.Kernel built from Module.symvers only).
func syntheticKernelAddr(text uint64, table, i int) uint64 {
	return text + uint64(table)<<24 + uint64(i)*16
}

// inheritTaint mirrors inherit_taint: symbols from a proprietary module.
func (c *call) inheritTaint(mod *module, owner *module, name string) bool {
	if owner == nil || !owner.taints.Has(TaintProprietaryModule) {
		return true
	}
	named := c.m.Has(InheritTaintNamesSymbol)
	if mod.usingGPLOnlySymbols {
		if named {
			c.log(LevelErr, "%s: module using GPL-only symbols uses symbols %s from proprietary module %s.", mod.Name, name, owner.Name)
		} else {
			c.log(LevelErr, "%s: module using GPL-only symbols uses symbols from proprietary module %s.", mod.Name, owner.Name)
		}
		return false
	}
	if !mod.taints.Has(TaintProprietaryModule) {
		if named {
			c.log(LevelWarn, "%s: module uses symbols %s from proprietary module %s, inheriting taint.", mod.Name, name, owner.Name)
		} else {
			c.log(LevelWarn, "%s: module uses symbols from proprietary module %s, inheriting taint.", mod.Name, owner.Name)
		}
		mod.taints |= 1 << TaintProprietaryModule
	}
	return true
}

// verifyNamespaceIsImported mirrors verify_namespace_is_imported.
func (c *call) verifyNamespaceIsImported(info *loadInfo, mod *module, f found, name string) unix.Errno {
	if f.namespace == "" {
		return 0
	}
	if c.m.Has(ModuleNamespaces) && verifyModuleNamespace(f.namespace, mod.Name) {
		return 0
	}
	for _, ns := range info.getModinfoAll("import_ns") {
		if ns == f.namespace {
			return 0
		}
	}
	if c.m.K.Config.AllowMissingNamespaceImports() {
		c.log(LevelWarn, "%s: module uses symbol (%s) from namespace %s, but does not import it.", mod.Name, name, f.namespace)
		return 0
	}
	c.log(LevelErr, "%s: module uses symbol (%s) from namespace %s, but does not import it.", mod.Name, name, f.namespace)
	return unix.EINVAL
}

// verifyModuleNamespace mirrors verify_module_namespace: a "module:" namespace lists
// module names, each compared as mod_strncmp does ('-' and '_' alike), a trailing '*'
// making it a prefix.
func verifyModuleNamespace(ns, modname string) bool {
	rest, ok := strings.CutPrefix(ns, "module:")
	if !ok {
		return false
	}
	norm := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	for _, pat := range strings.Split(rest, ",") {
		if pat == "" {
			continue
		}
		if p, glob := strings.CutSuffix(pat, "*"); glob {
			if strings.HasPrefix(norm(modname), norm(p)) {
				return true
			}
		} else if norm(pat) == norm(modname) {
			return true
		}
	}
	return false
}

// resolveSymbol mirrors resolve_symbol (and resolve_symbol_wait, whose 30-second wait
// for a COMING owner cannot happen in the model). It returns the symbol's address, or
// notFound (NULL), or an errno (ERR_PTR).
func (c *call) resolveSymbol(info *loadInfo, mod *module, name string) (uint64, bool, unix.Errno) {
	gplok := !mod.taints.Has(TaintProprietaryModule)
	f, ok := c.m.findSymbol(name, gplok)
	use := SymbolUse{Name: name}
	defer func() { c.res.Symbols = append(c.res.Symbols, use) }()
	if !ok {
		use.Verdict = "not found"
		if !gplok {
			if _, gpl := c.m.findSymbol(name, true); gpl {
				use.Verdict = "GPL-only export, unavailable to a module whose license is not GPL-compatible"
			}
		}
		return 0, false, 0
	}
	use.Owner, use.GPLOnly, use.Namespace = "vmlinux", f.gplOnly, f.namespace
	if f.owner != nil {
		use.Owner = f.owner.Name
	}
	use.Verdict = c.versionVerdict(info, name, f.crc)
	if f.gplOnly {
		mod.usingGPLOnlySymbols = true
	}
	if !c.inheritTaint(mod, f.owner, name) {
		return 0, false, 0
	}
	if !c.checkVersion(info, mod, name, f.crc) {
		return 0, true, unix.EINVAL
	}
	if e := c.verifyNamespaceIsImported(info, mod, f, name); e != 0 {
		return 0, true, e
	}
	if e := refModule(mod, f.owner); e != 0 {
		if e == unix.EBUSY {
			c.log(LevelWarn, "%s: gave up waiting for init of module %s.", mod.Name, f.owner.Name)
		}
		return 0, true, e
	}
	return f.addr, true, 0
}

// simplifySymbols mirrors simplify_symbols: every symbol after the null one, in table
// order, without stopping at errors; the last error is returned.
func (c *call) simplifySymbols(info *loadInfo, mod *module) unix.Errno {
	const fn = "simplify_symbols"
	var ret unix.Errno
	resolved, unknown := 0, 0
	for i := 1; i < len(info.syms); i++ {
		s := &info.syms[i]
		name := info.symName(*s)
		switch s.shndx {
		case shnCommon:
			if len(name) >= 9 && name[:9] == "__gnu_lto" {
				break
			}
			c.log(LevelWarn, "%s: please compile with -fno-common", mod.Name)
			ret = unix.ENOEXEC
		case shnAbs:
		case shnLivepatch:
			c.uncertain("symbol %s is resolved by livepatch, which is not modelled", name)
		case shnUndef:
			addr, ok, e := c.resolveSymbol(info, mod, name)
			if ok && e == 0 {
				s.value = addr
				resolved++
				break
			}
			if !ok && (s.info>>4 == stbWeak || name == "_GLOBAL_OFFSET_TABLE_") {
				break
			}
			if e == 0 {
				e = unix.ENOENT
			}
			ret = e
			unknown++
			c.log(LevelWarn, "%s: Unknown symbol %s (err %d)", mod.Name, name, -int(e))
		default:
			if int(s.shndx) >= len(info.sechdrs) && !c.m.Has(ShndxCheck) {
				// Without the check the kernel reads past the section table: what
				// follows is not knowable.
				c.uncertain("%s: symbol %s has section index %d past the section table; this kernel does not check it and reads past the table", mod.Name, name, s.shndx)
				continue
			}
			if int(s.shndx) >= len(info.sechdrs) {
				c.log(LevelErr, "%s: Symbol %s has an invalid section index %d (max %d)", mod.Name, name, s.shndx, len(info.sechdrs)-1)
				ret = unix.ENOEXEC
				break
			}
			if int(s.shndx) == info.index.pcpu {
				s.value += mod.percpu
			} else {
				s.value += info.sechdrs[s.shndx].addr
			}
		}
	}
	c.step(fn, ret, "%s", pluralSyms(resolved, unknown))
	return ret
}

func pluralSyms(resolved, unknown int) string {
	return fmt.Sprintf("%d undefined symbols resolved, %d failed", resolved, unknown)
}
