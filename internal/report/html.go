package report

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"gokmod/load"
)

//go:embed assets/page.html.tmpl assets/style.css
var assets embed.FS

// page is the parsed template, parsed at its first use: parsing it costs about 0.3 ms
// and 1500 allocations, which every run of every tool in the binary (modprobe's
// start-up included) paid at package initialization when it was a package variable.
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
		"hex": func(v any) string {
			switch n := v.(type) {
			case uint32:
				return hex(uint64(n))
			case uint64:
				return hex(n)
			}
			return fmt.Sprint(v)
		},
		"bytes": func(b []byte) string { return fmt.Sprintf("% x", b) },
		"symok": SymbolOK,
	}).ParseFS(assets, "assets/page.html.tmpl"))
})

// step is one <li> of the story.
type step struct {
	Name, Func, Note, Errno, URL, Why string
}

// relocCount is one row of the relocation counts.
type relocCount struct {
	Type  string
	Count int
}

// pageData is what the template reads.
type pageData struct {
	*Run
	CSS                                template.CSS
	Release, Gen, Version              string
	OK                                 bool
	Result, Strerror, FailStage, Taint string
	CoreSize, InitFreed                uint32
	Steps                              []step
	Log, Assumed                       []string
	Memory, Symbols, List              template.HTML
	MemoryIntro                        string
	Boxes                              []Box
	SymbolUses                         []load.SymbolUse
	ReachedSymbols, ReachedRelocs      bool
	Relocs                             []relocCount
	Samples                            []load.RelocSample
	Added, Changed                     []string
	Taints                             []Taint
}

// HTML writes the whole page.
func HTML(w io.Writer, r *Run) error {
	css, err := assets.ReadFile("assets/style.css")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	res := r.Result
	d := &pageData{Run: r, CSS: template.CSS(css), Release: r.Kernel.Release, Gen: r.Kernel.ModelFit().ModelVersion,
		Version: r.Kernel.Version.String(), OK: res.Err == nil, Result: "ok", Taint: res.Taint.String(),
		InitFreed: r.InitFreed(), Assumed: res.Uncertain, SymbolUses: res.Symbols, Samples: res.RelocSamples,
		Taints: r.Taints()}
	for _, l := range res.Log {
		d.Log = append(d.Log, fmt.Sprintf("<%d>%s", l.Level, strings.ToValidUTF8(strings.ReplaceAll(l.Text, "\x7f", `\x7f`), "?")))
	}
	var errno unix.Errno
	if errors.As(res.Err, &errno) {
		d.Result, d.Strerror = unix.ErrnoName(errno), errno.Error()
	} else if res.Err != nil {
		d.Result, d.Strerror = res.Err.Error(), res.Err.Error()
	}
	for _, s := range r.Stages {
		d.Steps = append(d.Steps, step{Name: s.Stage, Func: s.Func, Note: s.Note, Errno: s.Errno, URL: SourceURL(r.Kernel, s.Func), Why: Why(s.Func)})
		if s.Errno != "" && d.FailStage == "" {
			d.FailStage = s.Stage + " (" + s.Func + ")"
		}
		switch s.Func {
		case "simplify_symbols":
			d.ReachedSymbols = true
		case "apply_relocations":
			d.ReachedRelocs = true
		}
	}
	if d.FailStage == "" && !d.OK {
		d.FailStage = "the last stage"
	}
	if l := res.Layout; l != nil {
		d.CoreSize = l.CoreSize()
		d.Memory = template.HTML(MemorySVG(l, l.CoreSize(), l.InitSize()))
		for _, bs := range Boxes(l) {
			d.Boxes = append(d.Boxes, bs...)
		}
		d.MemoryIntro = memoryIntro(l, r.Failed())
	}
	if len(res.Symbols) > 0 {
		d.Symbols = template.HTML(SymbolsSVG(r.Name(), res.Symbols))
	}
	for t, n := range res.Relocs {
		d.Relocs = append(d.Relocs, relocCount{t, n})
	}
	sort.Slice(d.Relocs, func(i, j int) bool { return d.Relocs[i].Type < d.Relocs[j].Type })
	sort.SliceStable(d.Samples, func(i, j int) bool { return d.Samples[i].Type < d.Samples[j].Type })
	d.List = template.HTML(ListSVG(r.Name(), r.Before, r.After))
	d.Added, d.Changed = r.LsmodChanges()
	if d.Call == "" {
		d.Call = "insmod"
	}
	if err := page().Execute(w, d); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// memoryIntro says in words what the map shows.
func memoryIntro(l *load.Layout, failed bool) string {
	var b strings.Builder
	if !l.ModuleMemory {
		b.WriteString("Before 6.4 Linux lays a module out in two allocations, core_layout and init_layout; with CONFIG_STRICT_MODULE_RWX each permission starts on its own page (text RX, then read-only, then ro_after_init, then data RW). ")
	} else {
		b.WriteString("Since 6.4 a module's memory is mod->mem[]: one allocation per type (text, data, rodata, ro_after_init, and the init_* types), each rounded to whole pages. ")
	}
	fmt.Fprintf(&b, "Core memory (coresize %d) stays while the module lives; init memory (%d bytes) ", l.CoreSize(), l.InitSize())
	if failed {
		b.WriteString("would be freed after init, but this load fails and all of it is freed.")
	} else {
		b.WriteString("is freed once the module's init returns, so /sys/module/NAME/initsize then reads 0.")
	}
	b.WriteString(" Addresses are the model's (module area from 0xffffffffc0000000, one guard page between allocations); the real ones are randomised.")
	return b.String()
}

// SVG writes one picture alone: "memory", "symbols" or "list".
func SVG(w io.Writer, r *Run, which string) error {
	var s string
	switch which {
	case "memory":
		l := r.Result.Layout
		if l == nil {
			return errors.New("report: the load fails before any module memory is laid out: no memory map to draw")
		}
		s = MemorySVG(l, l.CoreSize(), l.InitSize())
	case "symbols":
		s = SymbolsSVG(r.Name(), r.Result.Symbols)
	case "list":
		s = ListSVG(r.Name(), r.Before, r.After)
	default:
		return fmt.Errorf("report: unknown picture %q (memory, symbols or list)", which)
	}
	_, err := io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+s+"\n")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
