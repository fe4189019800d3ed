package depmod

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gokmod/internal/cli"
	"gokmod/internal/sysfile"
	"gokmod/ko"
)

// symbol is depmod's struct symbol; owner nil means the kernel itself (or a fake).
type symbol struct {
	name  string
	owner *module
	crc   uint64
}

// addSymbol is depmod_symbol_add: a symbol added again replaces the earlier entry
// (hash_add), so the last module exporting it owns it.
func (d *depmod) addSymbol(name string, prefixSkipped bool, crc uint64, owner *module) {
	if !prefixSkipped && name != "" && name[0] == d.o.SymPrefix {
		name = name[1:]
	}
	if len(d.symSlab) < cap(d.symSlab) {
		d.symSlab = append(d.symSlab, symbol{name: name, owner: owner, crc: crc})
		d.symbols[name] = &d.symSlab[len(d.symSlab)-1]
		return
	}
	d.symbols[name] = &symbol{name: name, owner: owner, crc: crc}
}

// findSymbol is depmod_symbol_find.
func (d *depmod) findSymbol(name string) *symbol {
	if name != "" && name[0] == '.' { // PPC64: .foo == foo
		name = name[1:]
	}
	if name != "" && name[0] == d.o.SymPrefix {
		name = name[1:]
	}
	return d.symbols[name]
}

// addFakeSymbols is depmod_add_fake_syms.
func (d *depmod) addFakeSymbols() {
	d.addSymbol("__this_module", true, 0, nil)
	d.addSymbol("_GLOBAL_OFFSET_TABLE_", true, 0, nil)
	if d.findSymbol("TOC.") == nil {
		d.addSymbol("TOC.", true, 0, nil)
	}
}

// loadSymvers is depmod_load_symvers: vmlinux's lines of a Module.symvers.
func (d *depmod) loadSymvers(path string) error {
	data, err := sysfile.ReadFile(path, nil, 0)
	if err != nil {
		return err
	}
	for i, line := range fgetsN(data, 10240) {
		toks := strtok(line, " \t", 3)
		if len(toks) < 3 || toks[2] != "vmlinux" {
			continue
		}
		ver := toks[0]
		crc, ok := cli.Strtoul(ver, 16)
		if !ok {
			d.log.err("%s:%d Invalid symbol version %s: %s\n", path, i+1, ver, "Success")
			continue
		}
		d.addSymbol(toks[1], false, crc, nil)
	}
	d.addFakeSymbols()
	return nil
}

// loadSystemMap is depmod_load_system_map: the __ksymtab_ symbols of a System.map.
func (d *depmod) loadSystemMap(path string) error {
	data, err := sysfile.ReadFile(path, nil, 0)
	if err != nil {
		return err
	}
	const ksym = "__ksymtab_"
	for i, line := range fgetsN(data, 10240) {
		line = cstr(line)
		p := strings.IndexByte(line, ' ')
		q := -1
		if p >= 0 {
			q = strings.IndexByte(line[p+1:], ' ')
		}
		if p < 0 || q < 0 {
			d.log.err("%s:%d: invalid line: %s\n", path, i+1, line)
			continue
		}
		s := line[p+1+q+1:]
		if s != "" && s[0] == d.o.SymPrefix {
			s = s[1:]
		}
		if !strings.HasPrefix(s, ksym) {
			continue
		}
		if j := strings.IndexByte(s, '\n'); j >= 0 {
			s = s[:j]
		}
		d.addSymbol(s[len(ksym):], true, 0, nil)
	}
	d.addFakeSymbols()
	return nil
}

// fgetsN splits data as fgets with a buffer of size n does.
func fgetsN(data []byte, n int) []string {
	var out []string
	for len(data) > 0 {
		k := bytes.IndexByte(data, '\n') + 1
		if k == 0 {
			k = len(data)
		}
		if k > n-1 {
			k = n - 1
		}
		out = append(out, string(data[:k]))
		data = data[k:]
	}
	return out
}

// strtok returns up to max tokens of s split at any byte of delims, as successive
// strtok calls would (C string semantics: s ends at a NUL).
func strtok(s, delims string, max int) []string {
	s = cstr(s)
	var out []string
	for len(out) < max {
		s = strings.TrimLeft(s, delims)
		if s == "" {
			break
		}
		end := strings.IndexAny(s, delims)
		if end < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:end])
		s = s[end+1:]
	}
	return out
}

// loadDependencies is depmod_load_dependencies, with its -e warnings in kmod's order.
//
// The symbol lookups (189,000 of them for Debian's 6.1 tree) are spread over the cores:
// each module's dependencies are found by one goroutine, which reads the symbol table
// and writes only that module's list. The use counts and every message then follow in
// module order, as kmod makes them. Modules from the cache name their needs by index in
// its table of needed symbols, each of which is looked up once, beforehand.
func (d *depmod) loadDependencies(checkSymvers, printUnknown bool) {
	var names []neededSym
	var resolved []*symbol
	if d.cache != nil {
		names = d.cache.names
		resolved = make([]*symbol, len(names))
		d.forEach(len(names), func(i int) { resolved[i] = d.findSymbol(names[i].name) })
	}
	notes := make([][]depNote, len(d.mods))
	show := d.o.Verbose > 0
	d.forEach(len(d.mods), func(i int) {
		m := d.mods[i]
		if !m.data.hasDepSym {
			return
		}
		need := func(name string, crc uint64, bind byte, sym *symbol) {
			weak := bind == ko.BindWeak
			if sym == nil {
				if printUnknown && !weak {
					notes[i] = append(notes[i], depNote{true, m.path + " needs unknown symbol " + name + "\n"})
				}
				return
			}
			if checkSymvers && sym.crc != crc && !weak && printUnknown {
				notes[i] = append(notes[i], depNote{true, m.path + " disagrees about version of symbol " + name + "\n"})
			}
			if sym.owner == nil || slices.Contains(m.deps, sym.owner) {
				return
			}
			m.deps = append(m.deps, sym.owner)
			if show {
				notes[i] = append(notes[i], depNote{false, m.path + " needs \"" + sym.name + "\": " + sym.owner.path + "\n"})
			}
		}
		for _, ds := range m.data.depSyms {
			need(ds.Name, ds.CRC, ds.Bind, d.findSymbol(ds.Name))
		}
		m.data.eachNeed(func(k int) { need(names[k].name, names[k].crc, names[k].bind, resolved[k]) })
		m.data.depSyms, m.data.needRaw = nil, nil
	})
	for i, m := range d.mods {
		for _, n := range notes[i] {
			if n.warn {
				d.log.warn("%s", n.text)
			} else {
				writeString(d.stdout, n.text)
			}
		}
		for _, dep := range m.deps {
			dep.users++
		}
	}
}

// depNote is a message loadDependencies prints: a -e warning or a -v line.
type depNote struct {
	warn bool
	text string
}

// forEach calls f for every index below n, on jobs goroutines taking 64 at a time.
func (d *depmod) forEach(n int, f func(i int)) { parallelFor(n, jobs(d.o.Jobs), 64, f) }

// parallelFor calls f for every index below n, on workers goroutines taking chunk
// indexes at a time.
func parallelFor(n, workers, chunk int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := workers; w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(int64(chunk))) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					f(i)
				}
			}
		}()
	}
	wg.Wait()
}

// calculateDependencies is depmod_calculate_dependencies: a topological sort that numbers
// modules users-first (dep_sort_idx), reporting cycles when there are any.
func (d *depmod) calculateDependencies() bool {
	n := len(d.mods)
	users := make([]int, n)
	roots := make([]int, 0, n)
	for i, m := range d.mods {
		users[i] = m.users
		if users[i] == 0 {
			roots = append(roots, i)
		}
	}
	sorted := 0
	for len(roots) > 0 {
		src := d.mods[roots[len(roots)-1]]
		roots = roots[:len(roots)-1]
		src.depSortIdx = sorted
		sorted++
		for _, dst := range src.deps {
			users[dst.idx]--
			if users[dst.idx] == 0 {
				roots = append(roots, dst.idx)
			}
		}
	}
	if sorted < n {
		d.reportCycles(users)
		return false
	}
	for _, m := range d.mods {
		if len(m.deps) > 1 {
			slices.SortFunc(m.deps, func(a, b *module) int { return a.depSortIdx - b.depSortIdx })
		}
	}
	return true
}

type vertex struct {
	parent *vertex
	mod    *module
}

// reportCycles is depmod_report_cycles: the same walk, so the same cycles in the same
// words and order.
func (d *depmod) reportCycles(users []int) {
	var roots []*module
	for i, m := range d.mods {
		if users[i] > 0 {
			roots = append(roots, m)
		}
	}
	stackSize := len(roots)
	loopSet := map[string]bool{}
	// kmod_list_remove_data: the list is circular and the call returns the node after
	// the removed one as the new head, which rotates the order roots are taken in.
	remove := func(m *module) {
		if i := slices.Index(roots, m); i >= 0 {
			roots = append(slices.Clone(roots[i+1:]), roots[:i]...)
		}
	}
	for len(roots) > 0 {
		root := roots[0]
		roots = roots[1:]
		stack := []*vertex{{mod: root}}
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			m := v.mod
			if m.visited && m == root {
				var chain []*module
				for p := v.parent; p != nil; p = p.parent {
					chain = append(chain, p.mod)
					loopSet[p.mod.name] = true
				}
				var b strings.Builder
				for i := len(chain) - 1; i >= 0; i-- {
					b.WriteString(chain[i].name)
					b.WriteString(" -> ")
					remove(chain[i])
				}
				b.WriteString(v.mod.name)
				d.log.err("Cycle detected: %s\n", b.String())
				continue
			}
			m.visited = true
			if len(m.deps) == 0 {
				remove(m)
				continue
			}
			for _, dep := range m.deps {
				if len(stack) >= stackSize {
					// kmod asserts here; stop instead of walking forever.
					stack = nil
					break
				}
				stack = append(stack, &vertex{parent: v, mod: dep})
			}
		}
	}
	d.log.err("Found %d modules in dependency cycles!\n", len(loopSet))
}
