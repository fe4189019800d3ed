package config

import (
	"bytes"
	"strings"
)

// lineReader is kmod's freadline_wrapped (shared/util.c) over a file's bytes: lines end
// at '\n'; a backslash before a newline joins the next line; a backslash before any
// other byte is dropped and the byte kept; a backslash at end of file becomes byte 0xff
// (C's EOF stored in a char) in kmod 30, and is dropped in kmod 34 (dropEOFBackslash).
// The line number counts physical lines, so a message
// about a continued line names its last line.
type lineReader struct {
	data    []byte
	pos     int
	linenum int
	scratch []byte // joined lines, reused
	// dropEOFBackslash: kmod 34's freadline_wrapped skips a backslash at end of file.
	dropEOFBackslash bool
}

// next returns the next logical line as C sees it (cut at a NUL) and its line number.
func (r *lineReader) next() (string, int, bool) {
	b, n, ok := r.nextBytes()
	return string(b), n, ok
}

// nextBytes is next without the copy: the line is valid until the following call.
// Callers skip comments and blank lines before making strings of the rest.
func (r *lineReader) nextBytes() ([]byte, int, bool) {
	if r.pos < len(r.data) {
		// Most lines hold no backslash: they are the bytes up to the newline.
		rest := r.data[r.pos:]
		seg := rest
		nl := bytes.IndexByte(rest, '\n')
		if nl >= 0 {
			seg = rest[:nl]
		}
		if bytes.IndexByte(seg, '\\') < 0 {
			r.pos += len(seg)
			if nl >= 0 {
				r.pos++
			}
			r.linenum++
			return cut(seg), r.linenum, true
		}
	}
	buf := r.scratch[:0]
	defer func() { r.scratch = buf }()
	n := 0
	for {
		if r.pos >= len(r.data) {
			if len(buf) == 0 {
				return nil, r.linenum, false
			}
			n++
			r.linenum += n
			return cut(buf), r.linenum, true
		}
		ch := r.data[r.pos]
		r.pos++
		switch ch {
		case '\n':
			n++
			r.linenum += n
			return cut(buf), r.linenum, true
		case '\\':
			if r.pos >= len(r.data) {
				if !r.dropEOFBackslash {
					buf = append(buf, 0xff)
				}
				continue
			}
			ch = r.data[r.pos]
			r.pos++
			if ch == '\n' {
				n++
				continue
			}
			buf = append(buf, ch)
		default:
			buf = append(buf, ch)
		}
	}
}

// cut ends a line at its first NUL, where C sees the string end.
func cut(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// tokenizer is glibc's strtok_r over one line. An empty delimiter set (kmod passes
// "\0") yields the rest of the line, or nothing when the rest is empty.
type tokenizer struct {
	s   string
	pos int
}

func (t *tokenizer) next(delims string) (string, bool) {
	i := t.pos
	for i < len(t.s) && strings.IndexByte(delims, t.s[i]) >= 0 {
		i++
	}
	if i >= len(t.s) {
		t.pos = len(t.s)
		return "", false
	}
	j := i
	for j < len(t.s) && strings.IndexByte(delims, t.s[j]) < 0 {
		j++
	}
	if j < len(t.s) {
		t.pos = j + 1 // strtok_r overwrites the delimiter with NUL and resumes after it
	} else {
		t.pos = j
	}
	return t.s[i:j], true
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// splitDeps splits a softdep or weakdep value the way kmod's two-pass parsers
// (kmod_config_add_softdep/weakdep) do. It mostly splits on whitespace, but exactly one
// leading whitespace byte stays glued to the first word (so "softdep m  pre: x", with
// two spaces after the name, yields the word " pre:", not "pre:").
func splitDeps(line string) []string {
	var words []string
	p := 0
	wasSpace := false
	for s := 0; ; s++ {
		var c byte
		if s < len(line) {
			c = line[s]
		}
		if c != 0 {
			if !isSpace(c) {
				wasSpace = false
				continue
			}
			if wasSpace {
				p = s + 1
				continue
			}
			wasSpace = true
			if p >= s {
				continue
			}
		}
		if c != 0 || !wasSpace {
			words = append(words, line[p:s])
		}
		p = s + 1
		if c == 0 {
			break
		}
	}
	return words
}
