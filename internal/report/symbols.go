package report

import (
	"fmt"
	"sort"
	"strings"

	"gokmod/load"
)

// maxDrawnSymbols is how many undefined symbols the graph draws one by one; beyond it,
// those vmlinux provides with a matching CRC are one summary line (the table lists all).
const maxDrawnSymbols = 60

// SymbolOK tells whether a symbol resolved without complaint.
func SymbolOK(u load.SymbolUse) bool {
	return u.Owner != "" && !strings.Contains(u.Verdict, "disagrees") && !strings.Contains(u.Verdict, "no symbol version") &&
		!strings.Contains(u.Verdict, "mismatch")
}

// SymbolsSVG draws the module, its undefined symbols and their providers (vmlinux,
// other modules, or nowhere), left to right.
func SymbolsSVG(name string, uses []load.SymbolUse) string {
	const rowH, colSym, colProv, charW = 18, 190, 620, 6.6
	owner := func(u load.SymbolUse) string {
		if u.Owner == "" {
			return "(not found)"
		}
		return u.Owner
	}
	drawn := uses
	hidden := 0
	if len(uses) > maxDrawnSymbols {
		drawn = nil
		for _, u := range uses {
			if u.Owner == "vmlinux" && SymbolOK(u) && u.Namespace == "" {
				hidden++
				continue
			}
			drawn = append(drawn, u)
		}
	}
	drawn = append([]load.SymbolUse(nil), drawn...)
	provOrder := func(o string) int {
		switch o {
		case "(not found)":
			return 2
		case "vmlinux":
			return 1
		}
		return 0
	}
	sort.SliceStable(drawn, func(i, j int) bool {
		a, b := owner(drawn[i]), owner(drawn[j])
		if provOrder(a) != provOrder(b) {
			return provOrder(a) < provOrder(b)
		}
		return a < b
	})
	var provs []string
	rows := map[string][]int{}
	for i, u := range drawn {
		o := owner(u)
		if rows[o] == nil {
			provs = append(provs, o)
		}
		rows[o] = append(rows[o], i)
	}
	if hidden > 0 && rows["vmlinux"] == nil {
		provs = append(provs, "vmlinux")
	}
	n := len(drawn)
	if hidden > 0 {
		n++
	}
	top := 40
	s := &svg{w: 860, h: top + max(n, 1)*rowH + 40}
	s.b.WriteString(defs)
	s.text(10, 18, "title", fmt.Sprintf("%s needs %s; providers on the right", name, count(len(uses), "undefined symbol")))
	midY := top + max(n, 1)*rowH/2
	s.f(`<g class="gnode"><rect x="10" y="%d" width="%d" height="26" rx="4" class="node self"/>`, midY-13, int(float64(len(name))*charW)+16)
	s.text(18, midY+4, "", name)
	s.b.WriteString(`</g>`)
	rowY := func(i int) int { return top + i*rowH + rowH/2 }
	provY := map[string]int{}
	for _, p := range provs {
		sum, c := 0, 0
		for _, i := range rows[p] {
			sum += rowY(i)
			c++
		}
		if p == "vmlinux" && hidden > 0 {
			sum += rowY(n - 1)
			c++
		}
		provY[p] = sum / max(c, 1)
	}
	// Keep provider boxes from overlapping.
	last := -100
	for _, p := range provs {
		if provY[p] < last+30 {
			provY[p] = last + 30
		}
		last = provY[p]
		s.h = max(s.h, last+40)
	}
	symRow := func(i int, label, cls, tip, prov string) {
		y := rowY(i)
		s.f(`<g class="sym %s"><title>%s</title>`, cls, esc(tip))
		s.f(`<path d="M%d,%d C%d,%d %d,%d %d,%d" class="edge %s"/>`, 90, midY, 140, midY, 140, y, colSym-4, y, cls)
		s.text(colSym, y+4, "mono "+cls, label)
		s.f(`<path d="M%d,%d C%d,%d %d,%d %d,%d" class="edge %s" marker-end="url(#arr)"/>`, colSym+300, y, colSym+360, y, colProv-60, provY[prov], colProv-2, provY[prov], cls)
		s.b.WriteString(`</g>`)
	}
	for i, u := range drawn {
		cls := ""
		if !SymbolOK(u) {
			cls = "fail bad"
		}
		label := u.Name
		if len(label) > 38 {
			label = label[:37] + "…"
		}
		label = crcMark(u) + " " + label
		var tags []string
		if u.GPLOnly {
			tags = append(tags, "GPL")
		}
		if u.Namespace != "" {
			tags = append(tags, "ns "+u.Namespace)
		}
		if len(tags) > 0 {
			label += " [" + strings.Join(tags, ", ") + "]"
		}
		symRow(i, label, cls, fmt.Sprintf("%s → %s: %s", u.Name, owner(u), u.Verdict), owner(u))
	}
	if hidden > 0 {
		symRow(n-1, fmt.Sprintf("… and %d more from vmlinux, all resolved (see the table)", hidden), "muted", "listed in the table below", "vmlinux")
	}
	s.text(10, s.h-8, "small muted", "✓ CRC matches · – not checked (no CRC or no modversions) · ✗ not found, CRC mismatch or no version · [GPL] GPL-only export · [ns X] namespace X")
	for _, p := range provs {
		cls := "vmlinux"
		switch {
		case p == "(not found)":
			cls = "fail"
		case p != "vmlinux":
			cls = ""
		}
		c := len(rows[p])
		if p == "vmlinux" {
			c += hidden
		}
		label := fmt.Sprintf("%s (%d)", p, c)
		s.f(`<g class="gnode provider" data-provider="%s"><rect x="%d" y="%d" width="%d" height="26" rx="4" class="node %s"/>`, esc(p), colProv, provY[p]-13, int(float64(len(label))*charW)+16, cls)
		s.text(colProv+8, provY[p]+4, "", label)
		s.b.WriteString(`</g>`)
	}
	return s.String("symbols of " + name)
}

// crcMark is the symbol's CRC verdict as one character: ✓ matches, – not checked,
// ✗ failed (not found, mismatch, no version).
func crcMark(u load.SymbolUse) string {
	switch {
	case !SymbolOK(u):
		return "✗"
	case strings.Contains(u.Verdict, "matches"):
		return "✓"
	}
	return "–"
}
