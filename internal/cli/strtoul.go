package cli

import "strings"

// Strtoul is glibc's strtoul(s, &end, base) for base 0, 8, 10 or 16, followed by the
// check kmod makes of its result, that nothing follows the digits (*end == '\0'):
// leading white space and a sign are skipped (a minus negates modulo 2^64), base 16
// allows a 0x prefix and base 0 picks 16 for 0x, 8 for a leading 0, else 10; a value too
// large is ULONG_MAX and still accepted. With no digits at all, strtoul leaves end at
// s: ok then only for an empty s. Callers that also refuse an empty string (modprobe -w:
// "!*s || *end") check that themselves.
func Strtoul(s string, base int) (v uint64, ok bool) { return strtoul(s, base, false) }

// StrtoulC23 is Strtoul as glibc ≥ 2.38 runs it for programs built as C23 or GNU C
// (__isoc23_strtoul), kmod 34's build among them: base 0 also takes a 0b or 0B prefix
// followed by a binary digit as base 2.
func StrtoulC23(s string, base int) (v uint64, ok bool) { return strtoul(s, base, true) }

func strtoul(s string, base int, c23 bool) (v uint64, ok bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg, t = t[0] == '-', t[1:]
	}
	b := uint64(base)
	hexPrefix := len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && digit(t[2]) < 16
	binPrefix := c23 && len(t) > 2 && t[0] == '0' && (t[1] == 'b' || t[1] == 'B') && digit(t[2]) < 2
	switch {
	case (base == 0 || base == 16) && hexPrefix:
		b, t = 16, t[2:]
	case (base == 0 || base == 2) && binPrefix:
		b, t = 2, t[2:]
	case base == 0 && t != "" && t[0] == '0':
		b = 8 // also "0x" with no hex digit after it: the "0" alone is the number
	case base == 0:
		b = 10
	}
	if t == "" || digit(t[0]) >= b {
		return 0, s == ""
	}
	over := false
	for i := 0; i < len(t); i++ {
		d := digit(t[i])
		if d >= b {
			return 0, false
		}
		if v > (^uint64(0)-d)/b {
			over = true
		}
		v = v*b + d
	}
	if over {
		v = ^uint64(0)
	}
	if neg {
		v = -v
	}
	return v, true
}

// digit is c's value as a digit in any base up to 36, or 36 for a non-digit.
func digit(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case c >= 'a' && c <= 'z':
		return uint64(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return uint64(c-'A') + 10
	}
	return 36
}
