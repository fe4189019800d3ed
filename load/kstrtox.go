package load

import "golang.org/x/sys/unix"

// The kstrto* family of lib/kstrtox.c, which the param_ops_* setters use.

// parseIntegerFixupRadix mirrors _parse_integer_fixup_radix.
func parseIntegerFixupRadix(s string, base uint64) (string, uint64) {
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	if base == 0 {
		if at(0) == '0' {
			if at(1)|0x20 == 'x' && isxdigit(at(2)) {
				base = 16
			} else {
				base = 8
			}
		} else {
			base = 10
		}
	}
	if base == 16 && at(0) == '0' && at(1)|0x20 == 'x' {
		s = s[2:]
	}
	return s, base
}

func isxdigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

// kstrtoullBase mirrors _kstrtoull: digits, an optional "\n", nothing else; overflow
// is ERANGE even with trailing junk.
func kstrtoullBase(s string, base uint64) (uint64, unix.Errno) {
	s, base = parseIntegerFixupRadix(s, base)
	var res uint64
	rv, overflow := 0, false
	for rv < len(s) {
		c := s[rv]
		var v uint64
		switch lc := c | 0x20; {
		case '0' <= c && c <= '9':
			v = uint64(c - '0')
		case 'a' <= lc && lc <= 'f':
			v = uint64(lc-'a') + 10
		default:
			goto done
		}
		if v >= base {
			break
		}
		if res&0xf000000000000000 != 0 && res > (^uint64(0)-v)/base {
			overflow = true
		}
		res = res*base + v
		rv++
	}
done:
	if overflow {
		return 0, unix.ERANGE
	}
	if rv == 0 {
		return 0, unix.EINVAL
	}
	rest := s[rv:]
	if len(rest) > 0 && rest[0] == '\n' {
		rest = rest[1:]
	}
	if rest != "" {
		return 0, unix.EINVAL
	}
	return res, 0
}

// kstrtoull mirrors kstrtoull(s, 0): a leading '+' is allowed.
func kstrtoull(s string) (uint64, unix.Errno) {
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	return kstrtoullBase(s, 0)
}

// kstrtoll mirrors kstrtoll(s, 0).
func kstrtoll(s string) (int64, unix.Errno) {
	if len(s) > 0 && s[0] == '-' {
		t, e := kstrtoullBase(s[1:], 0)
		if e != 0 {
			return 0, e
		}
		if int64(-t) > 0 {
			return 0, unix.ERANGE
		}
		return int64(-t), 0
	}
	t, e := kstrtoull(s)
	if e != 0 {
		return 0, e
	}
	if int64(t) < 0 {
		return 0, unix.ERANGE
	}
	return int64(t), 0
}

// kstrtoSigned parses a signed value that must fit in bits.
func kstrtoSigned(s string, bits uint) (int64, unix.Errno) {
	v, e := kstrtoll(s)
	if e != 0 {
		return 0, e
	}
	if bits < 64 && (v < -(1<<(bits-1)) || v >= 1<<(bits-1)) {
		return 0, unix.ERANGE
	}
	return v, 0
}

// kstrtoUnsigned parses an unsigned value that must fit in bits.
func kstrtoUnsigned(s string, bits uint) (uint64, unix.Errno) {
	v, e := kstrtoull(s)
	if e != 0 {
		return 0, e
	}
	if bits < 64 && v >= 1<<bits {
		return 0, unix.ERANGE
	}
	return v, 0
}

// kstrtobool mirrors kstrtobool: y/Y/t/T/1, n/N/f/F/0, "on"/"off" by their first two
// characters; anything else (including "") is EINVAL.
func kstrtobool(s string) (bool, unix.Errno) {
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	switch at(0) {
	case 'y', 'Y', 't', 'T', '1':
		return true, 0
	case 'n', 'N', 'f', 'F', '0':
		return false, 0
	case 'o', 'O':
		switch at(1) {
		case 'n', 'N':
			return true, 0
		case 'f', 'F':
			return false, 0
		}
	}
	return false, unix.EINVAL
}
