package report

import (
	"fmt"
	"sort"
)

// Graph is a directed graph to draw with a plain layered layout: each node's layer is
// its longest path from a root, nodes are ordered within layers by the barycentre of
// their neighbours (a few sweeps down and up), and edges are curves between layers.
type Graph struct {
	Title string
	Nodes []Node
	Edges []Edge
}

// Node is a box in a Graph.
type Node struct {
	ID    string
	Label string
	Class string // extra CSS class: "self", "vmlinux", "fail"
	Note  string // tooltip
}

// Edge goes From a node To another; Class "soft" dashes it, "fail" marks it red.
type Edge struct {
	From, To string
	Class    string
	Label    string
}

// layers computes each node's layer: the longest path from a node without incoming
// edges (cycles are broken by ignoring edges back to a node being visited).
func (g *Graph) layers() map[string]int {
	out := map[string][]string{}
	in := map[string]int{}
	for _, e := range g.Edges {
		out[e.From] = append(out[e.From], e.To)
		in[e.To]++
	}
	layer := map[string]int{}
	visiting := map[string]bool{}
	var visit func(n string, d int)
	visit = func(n string, d int) {
		if visiting[n] || (layer[n] >= d && d > 0) {
			return
		}
		visiting[n] = true
		if d > layer[n] {
			layer[n] = d
		}
		for _, m := range out[n] {
			visit(m, d+1)
		}
		visiting[n] = false
	}
	for _, n := range g.Nodes {
		if in[n.ID] == 0 {
			visit(n.ID, 0)
		}
	}
	for _, n := range g.Nodes {
		if _, ok := layer[n.ID]; !ok {
			visit(n.ID, 0)
		}
	}
	return layer
}

// SVG draws the graph top to bottom.
func (g *Graph) SVG() string {
	const boxH, layerGap, nodeGap, charW = 26, 70, 24, 7
	layer := g.layers()
	byLayer := map[int][]string{}
	maxL := 0
	idx := map[string]int{}
	for i, n := range g.Nodes {
		idx[n.ID] = i
		l := layer[n.ID]
		byLayer[l] = append(byLayer[l], n.ID)
		maxL = max(maxL, l)
	}
	nbrs := map[string][]string{}
	for _, e := range g.Edges {
		nbrs[e.From] = append(nbrs[e.From], e.To)
		nbrs[e.To] = append(nbrs[e.To], e.From)
	}
	pos := map[string]float64{}
	for l := 0; l <= maxL; l++ {
		for i, n := range byLayer[l] {
			pos[n] = float64(i)
		}
	}
	// Barycentre sweeps: down using the layer above, then up using the layer below.
	for sweep := 0; sweep < 4; sweep++ {
		for step := 0; step <= maxL; step++ {
			l := step
			if sweep%2 == 1 {
				l = maxL - step
			}
			bary := map[string]float64{}
			for _, n := range byLayer[l] {
				sum, cnt := 0.0, 0
				for _, m := range nbrs[n] {
					if layer[m] == l-1+2*(sweep%2) {
						sum += pos[m]
						cnt++
					}
				}
				if cnt > 0 {
					bary[n] = sum / float64(cnt)
				} else {
					bary[n] = pos[n]
				}
			}
			ns := byLayer[l]
			sort.SliceStable(ns, func(i, j int) bool { return bary[ns[i]] < bary[ns[j]] })
			for i, n := range ns {
				pos[n] = float64(i)
			}
		}
	}
	width := map[string]int{}
	for _, n := range g.Nodes {
		width[n.ID] = len(n.Label)*charW + 16
	}
	x := map[string]int{}
	maxW := 0
	for l := 0; l <= maxL; l++ {
		cx := 10
		for _, n := range byLayer[l] {
			x[n] = cx
			cx += width[n] + nodeGap
		}
		maxW = max(maxW, cx)
	}
	// Centre each layer.
	for l := 0; l <= maxL; l++ {
		ns := byLayer[l]
		if len(ns) == 0 {
			continue
		}
		last := ns[len(ns)-1]
		used := x[last] + width[last] - 10
		shift := (maxW - 10 - used) / 2
		for _, n := range ns {
			x[n] += shift
		}
	}
	y := func(n string) int { return 40 + layer[n]*(boxH+layerGap) }
	s := &svg{w: max(maxW, 300), h: 40 + (maxL+1)*(boxH+layerGap)}
	s.b.WriteString(defs)
	s.text(10, 18, "title", g.Title)
	for _, e := range g.Edges {
		if _, ok := idx[e.From]; !ok {
			continue
		}
		if _, ok := idx[e.To]; !ok {
			continue
		}
		x1, y1 := x[e.From]+width[e.From]/2, y(e.From)+boxH
		x2, y2 := x[e.To]+width[e.To]/2, y(e.To)
		if layer[e.To] <= layer[e.From] { // a back edge: go round
			y1, y2 = y(e.From), y(e.To)+boxH
		}
		my := (y1 + y2) / 2
		s.f(`<path d="M%d,%d C%d,%d %d,%d %d,%d" class="edge %s" marker-end="url(#arr)"><title>%s</title></path>`,
			x1, y1, x1, my, x2, my, x2, y2, esc(e.Class), esc(e.From+" → "+e.To+" "+e.Label))
		if e.Label != "" {
			s.text((x1+x2)/2+4, my, "small muted", e.Label)
		}
	}
	for _, n := range g.Nodes {
		s.f(`<g class="gnode" data-id="%s"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="4" class="node %s"/>`,
			esc(n.ID), esc(n.Note), x[n.ID], y(n.ID), width[n.ID], boxH, esc(n.Class))
		s.text(x[n.ID]+8, y(n.ID)+17, "", n.Label)
		s.b.WriteString(`</g>`)
	}
	return s.String(g.Title)
}

// count formats "n word(s)".
func count(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
