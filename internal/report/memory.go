package report

import (
	"fmt"
	"sort"

	"gokmod/load"
)

// Box is one rectangle of the memory map: a section, a layout_symtab block or padding.
type Box struct {
	Name   string
	Region string
	Init   bool
	Offset uint32
	Size   uint32
	Addr   uint64
	Perm   string // RX, RO, RO-after-init, RW; "pad" for alignment padding
}

// Boxes cuts every region of the layout into boxes that cover it exactly: the sum of a
// region's boxes is its size (coresize and initsize add up).
func Boxes(l *load.Layout) [][]Box {
	var out [][]Box
	for _, r := range l.Regions() {
		if l.Size[r] == 0 {
			continue
		}
		var ps []load.Placement
		for _, p := range l.Sections {
			if p.Region == r {
				ps = append(ps, p)
			}
		}
		for _, p := range l.Detail.Blocks {
			if p.Region == r {
				ps = append(ps, p)
			}
		}
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Offset < ps[j].Offset })
		name, init := l.RegionName(r), l.IsInit(r)
		var bs []Box
		pos := uint32(0)
		pad := func(to uint32) {
			if to > pos {
				bs = append(bs, Box{Name: "padding", Region: name, Init: init, Offset: pos, Size: to - pos, Addr: l.Base[r] + uint64(pos), Perm: "pad"})
				pos = to
			}
		}
		for _, p := range ps {
			pad(p.Offset)
			start := max(p.Offset, pos) // never overlap a previous box
			end := max(uint32(uint64(p.Offset)+p.Size), start)
			end = min(end, l.Size[r])
			bs = append(bs, Box{Name: p.Name, Region: name, Init: init, Offset: start, Size: end - start, Addr: l.Base[r] + uint64(start), Perm: l.Perm(r, p.Offset)})
			pos = end
		}
		pad(l.Size[r])
		out = append(out, bs)
	}
	return out
}

// MemorySVG draws each region to scale, one row per run of pages, with page
// boundaries, padding hatched and sections coloured by permission.
func MemorySVG(l *load.Layout, coreSize, initSize uint32) string {
	const width, left, rowH, rowGap, maxRows = 980, 10, 26, 6, 16
	s := &svg{w: width + 2*left}
	s.b.WriteString(defs)
	y := 18
	s.text(left, y, "title", fmt.Sprintf("Module memory: coresize %d, initsize %d (init is freed after init)", coreSize, initSize))
	y += 10
	for _, bs := range Boxes(l) {
		if len(bs) == 0 {
			continue
		}
		size := bs[len(bs)-1].Offset + bs[len(bs)-1].Size
		pages := (size + 4095) / 4096
		perRow := (pages + maxRows - 1) / maxRows
		rowBytes := perRow * 4096
		rows := int((size + rowBytes - 1) / rowBytes)
		scale := float64(width) / float64(rowBytes)
		y += 20
		what := "core: kept while the module lives"
		if bs[0].Init {
			what = "init: freed after init returns"
		}
		s.text(left, y, "title", fmt.Sprintf("%s at %#x — %d bytes, %d page(s), %d page(s) per row — %s", bs[0].Region, bs[0].Addr-uint64(bs[0].Offset), size, pages, perRow, what))
		y += 6
		top := y
		var labels svg // written after the page ticks, so that they stay readable
		for _, b := range bs {
			cls := b.Perm + " sec"
			if b.Perm == "pad" {
				cls = "pad sec"
			}
			init := 0
			if b.Init {
				init = 1
			}
			s.f(`<g class="box" data-region="%s" data-init="%d" data-size="%d" data-perm="%s">`, esc(b.Region), init, b.Size, esc(b.Perm))
			s.f(`<title>%s: offset %#x, size %#x (%d), %s, address %#x</title>`, esc(b.Name), b.Offset, b.Size, b.Size, esc(b.Perm), b.Addr)
			labelled := false
			for off := b.Offset; off < b.Offset+b.Size; {
				row := off / rowBytes
				end := min(b.Offset+b.Size, (row+1)*rowBytes)
				x0 := float64(left) + float64(off-row*rowBytes)*scale
				w := float64(end-off) * scale
				ry := top + int(row)*(rowH+rowGap)
				s.f(`<rect x="%.2f" y="%d" width="%.2f" height="%d" class="%s"/>`, x0, ry, w, rowH, cls)
				if !labelled && b.Perm != "pad" {
					label := fmt.Sprintf("%s +%#x %#x", b.Name, b.Offset, b.Size)
					if w > float64(len(label))*6.2+4 {
						labels.text(int(x0)+3, ry+16, "small", label)
						labelled = true
					} else if w > float64(len(b.Name))*6.2+4 {
						labels.text(int(x0)+3, ry+16, "small", b.Name)
						labelled = true
					}
				}
				off = end
			}
			s.b.WriteString(`</g>`)
		}
		for row := 0; row < rows; row++ {
			ry := top + row*(rowH+rowGap)
			rowEnd := min(size, uint32(row+1)*rowBytes) - uint32(row)*rowBytes
			for p := uint32(4096); p < rowEnd; p += 4096 {
				x := float64(left) + float64(p)*scale
				s.f(`<line x1="%.2f" y1="%d" x2="%.2f" y2="%d" class="page"/>`, x, ry, x, ry+rowH)
			}
			cls := "region"
			if bs[0].Init {
				cls += " initr"
			}
			s.f(`<rect x="%d" y="%d" width="%.2f" height="%d" class="%s"/>`, left, ry, float64(rowEnd)*scale, rowH, cls)
		}
		s.b.WriteString(labels.b.String())
		y = top + rows*(rowH+rowGap)
	}
	y += 14
	x := left
	for _, p := range []string{"RX", "RO", "RO-after-init", "RW", "pad"} {
		s.f(`<rect x="%d" y="%d" width="14" height="12" class="%s sec"/>`, x, y-10, p)
		label := p
		if p == "pad" {
			label = "alignment padding"
		}
		s.text(x+18, y, "small", label)
		x += 130
	}
	s.text(x, y, "small", "white ticks: page boundaries (4 KiB); dashed outline: init memory")
	s.h = y + 10
	return s.String("memory map")
}
