package report

import (
	"fmt"

	"gokmod/load"
)

// ListSVG draws the kernel's module list (the list_head "modules", newest first) before
// and after the load: next/prev links around the circular list, each module's refcount,
// and an arrow from each holder to the module it uses (source_list/target_list).
func ListSVG(name string, before, after []*load.ModuleState) string {
	const boxW, boxH, gap, left = 150, 44, 46, 10
	n := max(len(before), len(after)) + 1
	s := &svg{w: max(left*2+n*(boxW+gap)+40, 760)}
	s.b.WriteString(defs)
	y := 20
	row := func(title string, mods []*load.ModuleState) {
		s.text(left, y, "title", title)
		y += 14
		top := y
		xOf := func(i int) int { return left + i*(boxW+gap) }
		idx := map[string]int{}
		// The list head, then the modules in list order.
		s.f(`<g class="gnode"><rect x="%d" y="%d" width="%d" height="%d" rx="4" class="node vmlinux"/>`, xOf(0), top, boxW, boxH)
		s.text(xOf(0)+8, top+18, "mono", "modules (list head)")
		s.text(xOf(0)+8, top+34, "small muted", "kernel/module/main.c")
		s.b.WriteString(`</g>`)
		for i, m := range mods {
			idx[m.Name] = i + 1
			x := xOf(i + 1)
			cls := ""
			if m.Name == name {
				cls = "self"
			}
			s.f(`<g class="gnode listmod" data-name="%s"><title>%s: refcnt %d, holders %v, %s</title><rect x="%d" y="%d" width="%d" height="%d" rx="4" class="node %s"/>`,
				esc(m.Name), esc(m.Name), m.RefCount, m.Holders, esc(m.State), x, top, boxW, boxH, cls)
			s.text(x+8, top+18, "mono", m.Name)
			s.text(x+8, top+34, "small", fmt.Sprintf("refcnt %d, %s, %d B", m.RefCount, m.State, m.Size))
			s.b.WriteString(`</g>`)
		}
		last := len(mods)
		for i := 0; i <= last; i++ {
			j := i + 1
			x1 := xOf(i) + boxW
			if i == last { // back to the head: the list is circular
				x2 := xOf(0)
				s.f(`<path d="M%d,%d C%d,%d %d,%d %d,%d" class="edge" marker-end="url(#arr)"/>`, x1, top+10, x1+30, top-12, x2-30, top-12, x2+20, top)
				s.text(x1+4, top-2, "small muted", "next")
				continue
			}
			x2 := xOf(j)
			s.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" class="edge" marker-end="url(#arr)"/>`, x1, top+14, x2, top+14)
			s.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" class="edge" marker-end="url(#arr)"/>`, x2, top+30, x1, top+30)
			s.text(x1+6, top+11, "small muted", "next")
			s.text(x1+6, top+43, "small muted", "prev")
		}
		// Holders: from the user (source_list entry) to the module it uses.
		depth := 0
		for _, m := range mods {
			for _, h := range m.Holders {
				hi, ok := idx[h]
				if !ok {
					continue
				}
				depth++
				x1, x2 := xOf(hi)+boxW/2, xOf(idx[m.Name])+boxW/2
				yb := top + boxH + 14 + depth*12
				s.f(`<path d="M%d,%d C%d,%d %d,%d %d,%d" class="edge holder" marker-end="url(#arr)"><title>%s uses %s: in %s's source_list, %s in %s's target_list</title></path>`,
					x1, top+boxH, x1, yb, x2, yb, x2, top+boxH, esc(h), esc(m.Name), esc(m.Name), esc(m.Name), esc(h))
				s.text((x1+x2)/2-30, yb-2, "small", h+" uses "+m.Name)
			}
		}
		y = top + boxH + 30 + depth*12 + 20
	}
	row("Before the load", before)
	row("After the load", after)
	s.text(left, y, "small muted", "The list is circular: the last module's next and the head's prev close it.")
	y += 14
	s.text(left, y, "small muted", "Arrows below the boxes: holder → module used (the holder is on the used module's source_list,")
	y += 14
	s.text(left, y, "small muted", "the used module on the holder's target_list); refcnt counts the holders.")
	s.h = y + 12
	return s.String("module list")
}
