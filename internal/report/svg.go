package report

import (
	"fmt"
	"html"
	"strings"
)

// svg accumulates one SVG picture. Every text goes through esc: the pictures are
// embedded in HTML as they are, so nothing from a module file may become markup.
type svg struct {
	b    strings.Builder
	w, h int
}

func esc(s string) string { return html.EscapeString(s) }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// text writes a text element; class picks its style.
func (s *svg) text(x, y int, class, t string) {
	s.f(`<text x="%d" y="%d" class="%s">%s</text>`, x, y, class, esc(t))
}

// String returns the finished picture with its size and the shared style, so that a
// picture written alone looks as it does in the page.
func (s *svg) String(title string) string {
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s"><style>%s</style><title>%s</title>%s</svg>`,
		s.w, s.h, s.w, s.h, esc(title), svgStyle, esc(title), s.b.String())
}

// svgStyle styles every picture (inside the SVG so that --svg files stand alone).
const svgStyle = `text{font:12px sans-serif;fill:#222}.small{font-size:10px}.title{font-weight:bold;font-size:13px}` +
	`.mono{font-family:monospace;font-size:11px}.bad{fill:#b00020}.muted{fill:#777}` +
	`.RX{fill:#f6b3a8}.RO{fill:#a9c9f2}.RO-after-init{fill:#c9b3f2}.RW{fill:#b2e6b8}.pad{fill:url(#hatch)}` +
	`.sec{stroke:#333;stroke-width:.5}.region{fill:none;stroke:#333}.initr{stroke-dasharray:5 3}` +
	`.page{stroke:#fff;stroke-width:1;opacity:.8}.node{fill:#fff;stroke:#333}.node.fail{stroke:#b00020;fill:#fde7ea}` +
	`.node.vmlinux{fill:#eef3fb}.node.self{fill:#fff6d5}.edge{fill:none;stroke:#666}.edge.fail{stroke:#b00020;stroke-dasharray:4 3}` +
	`.edge.soft{stroke-dasharray:6 4}.edge.holder{stroke:#8a5a00}.arrow{fill:#666}`

// defs are the hatch pattern and the arrow head the pictures use.
const defs = `<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
	`<rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern>` +
	`<marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">` +
	`<path d="M0,0L10,5L0,10z" class="arrow"/></marker></defs>`

// hex formats a number as the text trace does.
func hex(v uint64) string { return fmt.Sprintf("%#x", v) }
