package tool

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"gokmod/internal/report"
	"gokmod/kmod/modprobe"
)

// showGraph is modprobe --show-depends --graph NAME: the modules NAME stands for, what
// each depends on (modules.dep, solid) and its softdeps (pre and post, dashed), as an SVG
// picture with a layered layout.
func (p *mp) showGraph(name string) error {
	mods, err := p.s.Lookup(name)
	if len(mods) == 0 || err != nil {
		if e := p.LOG("Module %s not found in directory %s\n", name, p.s.Dirname()); e != nil {
			return e
		}
		return unix.ENOENT
	}
	g := &report.Graph{Title: "modprobe " + name + ": dependencies (solid: modules.dep; dashed: softdep)"}
	seen := map[string]bool{}
	var visit func(m *modprobe.Module, class string)
	visit = func(m *modprobe.Module, class string) {
		if seen[m.Name()] {
			return
		}
		seen[m.Name()] = true
		g.Nodes = append(g.Nodes, report.Node{ID: m.Name(), Label: m.Name(), Class: class, Note: m.Path()})
		for _, d := range m.Dependencies() {
			g.Edges = append(g.Edges, report.Edge{From: m.Name(), To: d.Name()})
			visit(d, "")
		}
		pre, post := m.Softdeps()
		for _, d := range pre {
			g.Edges = append(g.Edges, report.Edge{From: m.Name(), To: d.Name(), Class: "soft", Label: "pre"})
			visit(d, "")
		}
		for _, d := range post {
			g.Edges = append(g.Edges, report.Edge{From: m.Name(), To: d.Name(), Class: "soft", Label: "post"})
			visit(d, "")
		}
	}
	for _, m := range mods {
		visit(m, "self")
	}
	if _, err := io.WriteString(p.out, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+g.SVG()+"\n"); err != nil {
		return fmt.Errorf("modprobe: %w", err)
	}
	return p.out.Flush()
}
