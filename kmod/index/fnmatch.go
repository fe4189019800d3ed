package index

import "strings"

// Fnmatch reports whether name matches the shell pattern, with the semantics of glibc's
// fnmatch(pattern, name, 0) in the C locale, which is what libkmod calls for wildcard
// aliases, install/remove/softdep stanzas and config aliases. Go's path.Match is not a
// substitute: it treats '/' specially, rejects malformed patterns instead of matching
// them literally, and knows neither "[!...]" nor "[:class:]".
//
// With flags 0 that means: '*' and '?' also match '/' and a leading '.'; a backslash
// escapes the next byte (also inside brackets); "[...]" supports '!' and '^' negation,
// a leading ']' as a member, byte-value ranges, the twelve C-locale classes such as
// "[:alpha:]", and the trivial "[=c=]" and "[.c.]" forms; an unterminated '[' matches a
// literal '['. Both strings end at their first NUL byte, as C strings do.
func Fnmatch(pattern, name string) bool {
	pattern, name = cstring(pattern), cstring(name)
	if !hasMeta(pattern) {
		// Without '*', '?', '[' or '\\' every byte matches only itself. Most patterns
		// are plain module names (modules.softdep, options), and a probe tries each
		// softdep pattern against every module of its list.
		return pattern == name
	}
	return fnmatchAt(pattern, 0, name, 0, nil) == 0
}

// hasMeta reports whether p holds a byte fnmatch treats specially with flags 0.
func hasMeta(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}

// cstring cuts s at its first NUL byte, where C would see the string end.
func cstring(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// charClassMax is glibc's CHAR_CLASS_MAX_LENGTH: a longer "[:name:]" is ill-formed.
const charClassMax = 256

// starEnd is glibc's struct STRUCT: where a recursive match stopped at the next '*'.
type starEnd struct {
	set    bool
	pi, ni int
}

// fnmatchAt is glibc's internal_fnmatch (posix/fnmatch_loop.c) for single-byte strings
// with flags 0, ported branch for branch. It returns 0 on a match. When ends is non-nil
// (a call made by a '*'), reaching the next '*' records its position and reports a match
// of the segment so far, which keeps matching linear in the number of stars.
func fnmatchAt(p string, pi int, s string, ni int, ends *starEnd) int {
	const noMatch = 1
	at := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	for {
		c := at(pi)
		pi++
		if c == 0 {
			break
		}
		switch c {
		case '?':
			if ni == len(s) {
				return noMatch
			}
		case '\\':
			c = at(pi)
			pi++
			if c == 0 {
				return noMatch // trailing backslash loses
			}
			if ni == len(s) || s[ni] != c {
				return noMatch
			}
		case '*':
			if ends != nil {
				ends.set, ends.pi, ends.ni = true, pi-1, ni
				return 0
			}
			for c = at(pi); c == '?' || c == '*'; c = at(pi) {
				pi++
				if c == '?' {
					if ni == len(s) {
						return noMatch
					}
					ni++
				}
			}
			pi++
			if c == 0 {
				return 0 // trailing '*' matches the rest
			}
			var end starEnd
			found := false
			if c == '[' {
				for pi--; ni < len(s); ni++ {
					if fnmatchAt(p, pi, s, ni, &end) == 0 {
						found = true
						break
					}
				}
			} else {
				if c == '\\' {
					c = at(pi)
				}
				for pi--; ni < len(s); ni++ {
					if s[ni] == c && fnmatchAt(p, pi, s, ni, &end) == 0 {
						found = true
						break
					}
				}
			}
			if found && !end.set {
				return 0
			}
			if end.set {
				pi, ni = end.pi, end.ni
				continue
			}
			return noMatch
		case '[':
			r, npi := matchBracket(p, pi, s, ni)
			switch r {
			case bracketNoMatch:
				return noMatch
			case bracketLiteral:
				// An unterminated '[' is an ordinary character.
				if ni == len(s) || s[ni] != '[' {
					return noMatch
				}
			}
			pi = npi
		default:
			if ni == len(s) || s[ni] != c {
				return noMatch
			}
		}
		ni++
	}
	if ni == len(s) {
		return 0
	}
	return noMatch
}

// Outcomes of matchBracket.
const (
	bracketMatch   = iota // s[ni] is accepted; continue after the bracket
	bracketNoMatch        // the whole match fails
	bracketLiteral        // unterminated: match '[' literally, continue after it
)

// matchBracket matches s[ni] against the bracket expression whose body starts at p[pi]
// (just after '['). It returns the outcome and where the pattern continues.
func matchBracket(p string, pi int, s string, ni int) (int, int) {
	at := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	pInit := pi
	if ni == len(s) {
		return bracketNoMatch, pi
	}
	not := at(pi) == '!' || at(pi) == '^' // POSIXLY_CORRECT unset, as for kmod
	if not {
		pi++
	}
	fn := s[ni]
	c := at(pi)
	pi++
	matched := false
loop:
	for {
		normal := false // the "normal_bracket" label: c is an ordinary member
		switch {
		case c == '\\':
			if at(pi) == 0 {
				return bracketNoMatch, pi
			}
			c = at(pi)
			pi++
			normal = true
		case c == '[' && at(pi) == ':':
			startp := pi
			name := make([]byte, 0, 8)
			bogus := false
			for {
				if len(name) == charClassMax {
					return bracketNoMatch, pi
				}
				pi++
				c = at(pi)
				if c == ':' && at(pi+1) == ']' {
					pi += 2
					break
				}
				if c < 'a' || c >= 'z' {
					pi, c, bogus = startp, '[', true
					break
				}
				name = append(name, c)
			}
			if bogus {
				normal = true
				break
			}
			in, ok := inClass(string(name), fn)
			if !ok {
				return bracketNoMatch, pi
			}
			if in {
				matched = true
				break loop
			}
			c = at(pi)
			pi++
		case c == '[' && at(pi) == '=':
			startp := pi
			pi++
			c = at(pi)
			if c == 0 {
				pi, c, normal = startp, '[', true
				break
			}
			eq := c
			pi++
			c = at(pi)
			if c != '=' || at(pi+1) != ']' {
				pi, c, normal = startp, '[', true
				break
			}
			pi += 2
			if fn == eq {
				matched = true
				break loop
			}
			c = at(pi)
			pi++
		case c == 0:
			return bracketLiteral, pInit
		default:
			var cold byte
			if c == '[' && at(pi) == '.' {
				startp := pi
				n := 0
				for {
					pi++
					c = at(pi)
					if c == '.' && at(pi+1) == ']' {
						pi += 2
						break
					}
					if c == 0 {
						return bracketNoMatch, pi
					}
					n++
				}
				isRange := at(pi) == '-' && at(pi+1) != 0
				if n != 1 {
					return bracketNoMatch, pi
				}
				if !isRange && fn == p[startp+1] {
					matched = true
					break loop
				}
				cold = p[startp+1]
				c = at(pi)
				pi++
			} else {
				isRange := at(pi) == '-' && at(pi+1) != 0 && at(pi+1) != ']'
				if !isRange && c == fn {
					matched = true
					break loop
				}
				cold = c
				c = at(pi)
				pi++
			}
			if m, ok, npi, nc := bracketRange(p, pi, c, cold, fn); !ok {
				return bracketNoMatch, npi
			} else if m {
				matched = true
				pi = npi
				break loop
			} else {
				pi, c = npi, nc
			}
		}
		if normal {
			isRange := at(pi) == '-' && at(pi+1) != 0 && at(pi+1) != ']'
			if !isRange && c == fn {
				matched = true
				break loop
			}
			cold := c
			c = at(pi)
			pi++
			if m, ok, npi, nc := bracketRange(p, pi, c, cold, fn); !ok {
				return bracketNoMatch, npi
			} else if m {
				matched = true
				pi = npi
				break loop
			} else {
				pi, c = npi, nc
			}
		}
		if c == ']' {
			break
		}
	}
	if !matched {
		if !not {
			return bracketNoMatch, pi
		}
		return bracketMatch, pi
	}
	// Skip the rest of the bracket that already matched.
	for {
		c = at(pi)
		pi++
		if c == ']' {
			break
		}
		switch {
		case c == 0:
			return bracketNoMatch, pi // unterminated after a match loses
		case c == '\\':
			if at(pi) == 0 {
				return bracketNoMatch, pi
			}
			pi++
		case c == '[' && at(pi) == ':':
			n := 0
			startp := pi
			for {
				pi++
				c = at(pi)
				n++
				if n == charClassMax {
					return bracketNoMatch, pi
				}
				if at(pi) == ':' && at(pi+1) == ']' {
					break
				}
				if c < 'a' || c >= 'z' {
					pi = startp - 2
					break
				}
			}
			pi += 2
		case c == '[' && at(pi) == '=':
			pi++
			if at(pi) == 0 {
				return bracketNoMatch, pi
			}
			pi++
			if at(pi) != '=' || at(pi+1) != ']' {
				return bracketNoMatch, pi
			}
			pi += 2
		case c == '[' && at(pi) == '.':
			for {
				pi++
				c = at(pi)
				if c == 0 {
					return bracketNoMatch, pi
				}
				if c == '.' && at(pi+1) == ']' {
					break
				}
			}
			pi += 2
		}
	}
	if not {
		return bracketNoMatch, pi
	}
	return bracketMatch, pi
}

// bracketRange handles a possible range "cold-cend" once its first member cold has been
// read and c is the byte after it (pi points past c). It returns whether fn is in the
// range, ok=false when the pattern is ill-formed (the match fails), and the new pattern
// position and current byte when there was no range match.
func bracketRange(p string, pi int, c, cold, fn byte) (matched, ok bool, npi int, nc byte) {
	at := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	if c != '-' || at(pi) == ']' {
		return false, true, pi, c
	}
	cend := at(pi)
	pi++
	if cend == '[' && at(pi) == '.' {
		startp := pi
		n := 0
		for {
			pi++
			c = at(pi)
			if c == '.' && at(pi+1) == ']' {
				pi += 2
				break
			}
			if c == 0 {
				return false, false, pi, 0
			}
			n++
		}
		if n != 1 {
			return false, false, pi, 0
		}
		cend = p[startp+1]
	} else {
		if cend == '\\' {
			cend = at(pi)
			pi++
		}
		if cend == 0 {
			return false, false, pi, 0
		}
	}
	// The C locale's collation sequence is the byte value.
	if cold <= fn && fn <= cend {
		return true, true, pi, 0
	}
	c = at(pi)
	pi++
	return false, true, pi, c
}

// inClass reports whether b is in the C locale's ctype class name, which is all fnmatch
// sees in kmod (no kmod tool calls setlocale); ok is false for an unknown class. A
// switch rather than a map of functions: a map would be built at every start-up of
// every tool, and fnmatch rarely meets a class.
func inClass(name string, b byte) (in, ok bool) {
	switch name {
	case "alnum":
		return isAlpha(b) || isDigit(b), true
	case "alpha":
		return isAlpha(b), true
	case "blank":
		return b == ' ' || b == '\t', true
	case "cntrl":
		return b < 0x20 || b == 0x7f, true
	case "digit":
		return isDigit(b), true
	case "graph":
		return b > 0x20 && b < 0x7f, true
	case "lower":
		return b >= 'a' && b <= 'z', true
	case "print":
		return b >= 0x20 && b < 0x7f, true
	case "punct":
		return b > 0x20 && b < 0x7f && !isAlpha(b) && !isDigit(b), true
	case "space":
		return b == ' ' || (b >= '\t' && b <= '\r'), true
	case "upper":
		return b >= 'A' && b <= 'Z', true
	case "xdigit":
		return isDigit(b) || (b|0x20 >= 'a' && b|0x20 <= 'f'), true
	}
	return false, false
}

func isAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
