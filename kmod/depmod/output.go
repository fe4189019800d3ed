package depmod

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"gokmod/kmod/compat"
	"gokmod/kmod/config"
	"gokmod/kmod/index"
)

func writeString(w io.Writer, s string) { io.WriteString(w, s) }

// outputFile is one entry of depmod_output's table. text files are produced by text,
// indexes by bin (skipped with -n).
type outputFile struct {
	name string
	text func(*depmod) []byte
	bin  func(*depmod) ([]byte, error)
	// stage is when it can be computed: afterRead (the modules read and ordered),
	// afterSymbols (their exports in the symbol table) or afterDeps (dependencies known).
	// The earlier ones run while the later stages are worked out.
	stage int
}

const (
	afterRead = iota
	afterSymbols
	afterDeps
)

// outputs30 lists the files kmod 30's depmod writes, in the order it writes them.
var outputs30 = []outputFile{
	{name: "modules.dep", text: (*depmod).depText, stage: afterDeps},
	{name: "modules.dep.bin", bin: (*depmod).depBin, stage: afterDeps},
	{name: "modules.alias", text: (*depmod).aliasText},
	{name: "modules.alias.bin", bin: (*depmod).aliasBin},
	{name: "modules.softdep", text: (*depmod).softdepText},
	{name: "modules.symbols", text: (*depmod).symbolsText, stage: afterSymbols},
	{name: "modules.symbols.bin", bin: (*depmod).symbolsBin, stage: afterSymbols},
	{name: "modules.builtin.bin", bin: (*depmod).builtinBin},
	{name: "modules.builtin.alias.bin", bin: (*depmod).builtinAliasBin},
	{name: "modules.devname", text: (*depmod).devnameText},
}

// outputs34 is kmod 34's table: modules.weakdep (kmod ≥ 33) follows modules.softdep.
var outputs34 = slices.Insert(slices.Clone(outputs30), 5,
	outputFile{name: "modules.weakdep", text: (*depmod).weakdepText})

// outputsFor is the output table of a kmod release.
func outputsFor(k compat.Kmod) []outputFile {
	if k == compat.Kmod30 {
		return outputs30
	}
	return outputs34
}

// Files lists the names of the files depmod writes as kmod 34.2, the default behaviour.
func Files() []string { return FilesFor(compat.Kmod34) }

// FilesFor lists the names of the files depmod writes as the given kmod release, in the
// order it writes them.
func FilesFor(k compat.Kmod) []string {
	var out []string
	for _, o := range outputsFor(k) {
		out = append(out, o.name)
	}
	return out
}

// output is depmod_output: with -n every text file goes to standard output in table
// order; otherwise each file is written to NAME.PID.USEC.SEC in the directory and renamed
// over NAME, so readers (and a crash) only ever see a whole old or a whole new file.
func (d *depmod) output(g *generation) error {
	d.startGenerating(g, afterDeps)
	g.wg.Wait()
	return d.write(g.gen)
}

// generated is one output file's contents and the messages its generation logged.
type generated struct {
	data []byte
	err  error
	log  bytes.Buffer
}

// generation is the output files being computed, each in its own goroutine; messages
// are kept per file so that they come out in kmod's order.
type generation struct {
	gen []*generated
	wg  sync.WaitGroup
}

// startGenerating starts computing the output files of a stage. The index files are
// skipped with -n, as kmod's callbacks return at once when writing to stdout.
func (d *depmod) startGenerating(g *generation, stage int) {
	if g.gen == nil {
		d.depL = &lazyLines{}
		g.gen = make([]*generated, len(d.outs))
		for i := range g.gen {
			g.gen[i] = &generated{}
		}
	}
	if stage == afterSymbols {
		// Ordered by the first of modules.symbols and its index to need it, beside
		// loadDependencies rather than before it.
		d.owned = sync.OnceValue(d.ownedSymbols)
	}
	for i, o := range d.outs {
		gi := g.gen[i]
		if o.stage != stage || d.o.DryRun && o.bin != nil {
			continue
		}
		dd := *d
		dd.log = &logger{w: &gi.log, prog: d.log.prog, priority: d.log.priority}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			t0 := time.Now()
			if o.text != nil {
				gi.data = o.text(&dd)
			} else {
				gi.data, gi.err = o.bin(&dd)
			}
			if trace {
				fmt.Fprintf(d.o.Stderr, "depmod: trace:   %-25s %v\n", o.name, time.Since(t0).Round(time.Millisecond/10))
			}
		}()
	}
}

// allDeps is mod_get_all_sorted_dependencies: every module m needs, directly or not,
// ordered by the topological index. epoch marks the modules seen in this call: callers
// pass a number no earlier call used (depLines, the only caller, runs in one goroutine).
func allDeps(m *module, epoch int, out []*module) []*module {
	out = out[:0]
	if len(m.deps) == 0 {
		return out
	}
	var fill func(*module)
	fill = func(x *module) {
		for _, dep := range x.deps {
			if dep.seen == epoch {
				continue
			}
			dep.seen = epoch
			out = append(out, dep)
			fill(dep)
		}
	}
	fill(m)
	slices.SortFunc(out, func(a, b *module) int { return a.depSortIdx - b.depSortIdx })
	return out
}

// depLines are every module's modules.dep line, in module order: computed once for
// modules.dep and modules.dep.bin, which are generated side by side. The lines are made
// in one buffer, which with their newlines is modules.dep itself, and cut from it.
func (d *depmod) depLines() []string {
	l := d.depL
	l.once.Do(func() {
		// Debian's modules.dep holds about 130 bytes a module.
		buf := make([]byte, 0, 160*len(d.mods))
		ends := make([]int, len(d.mods))
		var deps []*module
		for i, m := range d.mods {
			buf = append(append(buf, m.outPath()...), ':')
			deps = allDeps(m, i+1, deps)
			for _, dep := range deps {
				buf = append(append(buf, ' '), dep.outPath()...)
			}
			ends[i] = len(buf)
			buf = append(buf, '\n')
		}
		l.text, l.lines = buf, make([]string, len(d.mods))
		start := 0
		for i, end := range ends { // buf is not written again
			l.lines[i] = unsafe.String(&buf[start], end-start)
			start = end + 1
		}
	})
	return l.lines
}

// lazyLines are lines computed once by whichever goroutine needs them first.
type lazyLines struct {
	once  sync.Once
	lines []string
	text  []byte // the lines, each with its newline
}

func (d *depmod) depText() []byte {
	d.depLines()
	return d.depL.text
}

// indexOrder is the node layout of the kmod release's index writer.
func (d *depmod) indexOrder() index.Order {
	if d.kmod == compat.Kmod30 {
		return index.PostOrder
	}
	return index.PreOrder
}

// indexBuild collects the insertions of one index and the warnings kmod prints between
// them, then writes the index (in the release's node order) and replays the warnings —
// duplicates (with -w) at the insertions that caused them — in kmod's order.
type indexBuild struct {
	d       *depmod
	what    string
	entries []index.Entry
	notes   map[int][]string // warnings printed before entry i
	// dupIsValue: -w shows a duplicate as its value (modules.dep lines), not "key value".
	dupIsValue bool
}

func (d *depmod) newIndex(what string, size int) *indexBuild {
	return &indexBuild{d: d, what: what, entries: make([]index.Entry, 0, size)}
}

func (b *indexBuild) insert(key, value string, prio int) {
	b.entries = append(b.entries, index.Entry{Key: key, Value: value, Priority: uint32(prio)})
}

func (b *indexBuild) warn(format string, args ...any) {
	if b.notes == nil {
		b.notes = map[int][]string{}
	}
	b.notes[len(b.entries)] = append(b.notes[len(b.entries)], fmt.Sprintf(format, args...))
}

func (b *indexBuild) bytes() ([]byte, error) {
	data, dups, err := index.Build(b.entries, b.d.indexOrder())
	for i := 0; i <= len(b.entries); i++ {
		for _, n := range b.notes[i] {
			b.d.log.warn("%s", n)
		}
		if i < len(b.entries) && err == nil && dups[i] && b.d.o.WarnDups {
			e := b.entries[i]
			msg := e.Key + " " + e.Value
			if b.dupIsValue {
				msg = e.Value
			}
			b.d.log.warn("duplicate module %s:\n%s\n", b.what, msg)
		}
	}
	return data, err
}

func (d *depmod) depBin() ([]byte, error) {
	ix := d.newIndex("deps", len(d.mods))
	ix.dupIsValue = true
	lines := d.depLines()
	for i, m := range d.mods {
		ix.insert(m.name, lines[i], m.idx)
	}
	return ix.bytes()
}

func (d *depmod) aliasText() []byte {
	const head = "# Aliases extracted from modules themselves.\n"
	// The text files are sized before they are written: a buffer doubling its way to
	// modules.alias's 1.3 MB copies it twice over and faults in twice the pages.
	n := len(head)
	for _, m := range d.mods {
		for _, kv := range m.data.info {
			if kv.Key == "alias" {
				n += len("alias  \n") + len(kv.Value) + len(m.name)
			}
		}
	}
	b := append(make([]byte, 0, n), head...)
	for _, m := range d.mods {
		for _, kv := range m.data.info {
			if kv.Key == "alias" {
				b = append(append(append(append(append(b, "alias "...), cstr(kv.Value)...), ' '), m.name...), '\n')
			}
		}
	}
	return b
}

func (d *depmod) aliasBin() ([]byte, error) {
	n := 0
	for _, m := range d.mods {
		for _, kv := range m.data.info {
			if kv.Key == "alias" {
				n++
			}
		}
	}
	ix := d.newIndex("alias", n)
	for _, m := range d.mods {
		for _, kv := range m.data.info {
			if kv.Key != "alias" {
				continue
			}
			alias, err := config.AliasNormalize(kv.Value)
			if err != nil {
				ix.warn("Unmatched bracket in %s\n", cstr(kv.Value))
				continue
			}
			ix.insert(alias, m.name, m.idx)
		}
	}
	return ix.bytes()
}

func (d *depmod) softdepText() []byte {
	var b bytes.Buffer
	b.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, m := range d.mods {
		for _, kv := range m.data.info {
			if kv.Key == "softdep" {
				b.WriteString("softdep " + m.name + " " + cstr(kv.Value) + "\n")
			}
		}
	}
	return b.Bytes()
}

// weakdepText is kmod 34's output_weakdeps: each module's weakdep= entries in order.
func (d *depmod) weakdepText() []byte {
	var b bytes.Buffer
	b.WriteString("# Weak dependencies extracted from modules themselves.\n")
	for _, m := range d.mods {
		for _, kv := range m.data.info {
			if kv.Key == "weakdep" {
				b.WriteString("weakdep " + m.name + " " + cstr(kv.Value) + "\n")
			}
		}
	}
	return b.Bytes()
}

// ownedSymbols returns the symbols modules export, in kmod's hash-table order (2048
// buckets).
func (d *depmod) ownedSymbols() []*symbol {
	syms := make([]*symbol, 0, len(d.symbols))
	for _, s := range d.symbols {
		if s.owner != nil {
			syms = append(syms, s)
		}
	}
	hashOrder(syms, 2048, func(s *symbol) string { return s.name })
	return syms
}

func (d *depmod) symbolsText() []byte {
	const head = "# Aliases for symbols, used by symbol_request().\n"
	n := len(head)
	owned := d.owned()
	for _, s := range owned {
		n += len("alias symbol: \n") + len(s.name) + len(s.owner.name)
	}
	b := append(make([]byte, 0, n), head...)
	for _, s := range owned {
		b = append(append(append(append(append(b, "alias symbol:"...), s.name...), ' '), s.owner.name...), '\n')
	}
	return b
}

func (d *depmod) symbolsBin() ([]byte, error) {
	owned := d.owned()
	ix := d.newIndex("syms", len(owned))
	// The keys are made in one block rather than one string each.
	n := 0
	for _, s := range owned {
		n += len("symbol:") + len(s.name)
	}
	keys := make([]byte, 0, n)
	for _, s := range owned {
		start := len(keys)
		keys = append(append(keys, "symbol:"...), s.name...)
		ix.insert(unsafe.String(&keys[start], len(keys)-start), s.owner.name, s.owner.idx)
	}
	return ix.bytes()
}

// builtinBin is output_builtin_bin: modules.builtin's names (nil when the file is
// missing, which leaves any old index in place).
func (d *depmod) builtinBin() ([]byte, error) {
	data, err := d.builtin()
	if err != nil {
		// kmod has already created the file: it ends up empty.
		d.log.warn("could not open %s at %s: %s\n", "modules.builtin", d.dirname, strerror(err))
		return []byte{}, nil
	}
	var entries []index.Entry
	for _, e := range BuiltinEntries(data, func(line string) { d.log.err("Invalid modules.builtin line: %s\n", line) }) {
		entries = append(entries, index.Entry{Key: e})
	}
	out, _, err := index.Build(entries, d.indexOrder())
	return out, err
}

// BuiltinEntries returns the module names output_builtin_bin indexes from the contents
// of modules.builtin, in file order: path_to_modname of each line that starts with a
// letter (as fgets returns it, newline included). bad, if not nil, gets the others.
func BuiltinEntries(data []byte, bad func(line string)) []string {
	var out []string
	for _, line := range fgetsN(data, 4096) {
		if line == "" || !isAlpha(line[0]) {
			if bad != nil {
				bad(cstr(line))
			}
			continue
		}
		out = append(out, config.PathToModname(line))
	}
	return out
}

func isAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

func (d *depmod) builtinAliasBin() ([]byte, error) {
	data, err := d.builtinModinfo()
	if err != nil {
		d.log.warn("could not open %s at %s: %s\n", "modules.builtin.modinfo", d.dirname, strerror(err))
		return []byte{}, nil
	}
	var entries []index.Entry
	for _, e := range BuiltinAliases(data, d.log.warn) {
		entries = append(entries, index.Entry{Key: e.Alias, Value: e.Module})
	}
	out, _, err := index.Build(entries, d.indexOrder())
	return out, err
}

// BuiltinAlias is one alias of a built-in module.
type BuiltinAlias struct {
	Alias  string // normalized
	Module string
}

// BuiltinAliases ports output_builtin_alias_bin's stream parser of
// modules.builtin.modinfo ("modname.key=value\0" records), quirks included: a field cut
// short by NUL or EOF reads as empty, a non-alias key skips to the next NUL, fields are
// limited to PATH_MAX bytes. warn, if not nil, gets kmod's warnings (printf style).
func BuiltinAliases(data []byte, warn func(format string, args ...any)) []BuiltinAlias {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	pos := 0
	const eof = -1
	atEOF := false
	getc := func() int {
		if pos >= len(data) {
			atEOF = true
			return eof
		}
		c := int(data[pos])
		pos++
		return c
	}
	const dstSz = 4096
	flushTo := func(endchar int) string {
		var buf []byte
		c := getc()
		for ; c != eof && c != endchar && c != 0 && len(buf) < dstSz; c = getc() {
			buf = append(buf, byte(c))
		}
		i := len(buf)
		if i == dstSz {
			warn("Could not flush stream: %d. Partial content: %s\n", int(unix.ENOSPC), string(buf))
			i--
		}
		if c != endchar {
			return ""
		}
		return string(buf[:i])
	}
	flush := func(endchar int) {
		for c := getc(); c != eof && c != endchar && c != 0; c = getc() {
		}
	}
	var out []BuiltinAlias
	for !atEOF {
		modname := flushTo('.')
		if modname == "" {
			continue
		}
		if flushTo('=') != "alias" {
			flush(0)
			continue
		}
		value := flushTo(0)
		if value == "" {
			continue
		}
		alias, err := config.AliasNormalize(value)
		if err != nil {
			warn("Unmatched bracket in %s\n", value)
			continue
		}
		out = append(out, BuiltinAlias{alias, modname})
	}
	return out
}

// devnameText is output_devname.
func (d *depmod) devnameText() []byte {
	var b bytes.Buffer
	empty := true
	for _, m := range d.mods {
		devname, hasDev := "", false
		var typ byte
		var major, minor uint32
		for _, kv := range m.data.info {
			if kv.Key != "alias" {
				continue
			}
			v := cstr(kv.Value)
			if rest, ok := strings.CutPrefix(v, "devname:"); ok {
				devname, hasDev = rest, true
			} else if maj, min, ok := scanMajorMinor(v, "char-major-"); ok {
				typ, major, minor = 'c', maj, min
			} else if maj, min, ok := scanMajorMinor(v, "block-major-"); ok {
				typ, major, minor = 'b', maj, min
			}
			if typ != 0 && hasDev {
				break
			}
		}
		if !hasDev {
			continue
		}
		if typ == 0 {
			d.log.err("Module '%s' has devname (%s) but lacks major and minor information. Ignoring.\n", m.name, devname)
			continue
		}
		if empty {
			b.WriteString("# Device nodes to trigger on-demand module loading.\n")
			empty = false
		}
		fmt.Fprintf(&b, "%s %s %c%d:%d\n", m.name, devname, typ, major, minor)
	}
	return b.Bytes()
}

// scanMajorMinor is sscanf(s, PREFIX "%u-%u", &maj, &min) == 2.
func scanMajorMinor(s, prefix string) (uint32, uint32, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, 0, false
	}
	maj, n, ok := scanU(rest)
	if !ok {
		return 0, 0, false
	}
	rest = rest[n:]
	if rest == "" || rest[0] != '-' {
		return 0, 0, false
	}
	min, _, ok := scanU(rest[1:])
	if !ok {
		return 0, 0, false
	}
	return maj, min, true
}

// scanU is scanf's %u: optional white space and sign, then decimal digits, the value
// taken modulo 2^32 as strtoul then the assignment to unsigned int do.
func scanU(s string) (uint32, int, bool) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(s[start:i], 10, 64)
	if err != nil {
		v = ^uint64(0)
	}
	if neg {
		v = -v
	}
	return uint32(v), i, true
}
