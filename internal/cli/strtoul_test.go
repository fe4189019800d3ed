package cli

import "testing"

// TestStrtoul checks glibc's strtoul rules as kmod relies on them; the tools' differential
// tests (modprobe -w, depmod -E's CRCs) compare the same paths with kmod itself.
func TestStrtoul(t *testing.T) {
	for _, c := range []struct {
		s    string
		base int
		v    uint64
		ok   bool
	}{
		{"", 0, 0, true}, {"10", 0, 10, true}, {"0x10", 0, 16, true}, {"010", 0, 8, true},
		{"08", 0, 0, false}, {"0x", 0, 0, false}, {"0xg", 0, 0, false}, {" 5", 0, 5, true},
		{"\t+5", 0, 5, true}, {"-1", 0, ^uint64(0), true}, {"5 ", 0, 0, false}, {"1_0", 0, 0, false},
		{"0b1", 0, 0, false}, {" ", 0, 0, false}, {"-", 0, 0, false}, {"0X1f", 0, 31, true},
		{"99999999999999999999999", 0, ^uint64(0), true},
		{"0x1f", 16, 31, true}, {"1f", 16, 31, true}, {"0x", 16, 0, false}, {"ffffffff", 16, 0xffffffff, true},
		{"g", 16, 0, false}, {"-0x2", 16, ^uint64(0) - 1, true},
		{"010", 10, 10, true}, {"0x10", 10, 0, false},
	} {
		v, ok := Strtoul(c.s, c.base)
		if v != c.v || ok != c.ok {
			t.Errorf("Strtoul(%q, %d) = %d, %v; want %d, %v", c.s, c.base, v, ok, c.v, c.ok)
		}
	}
}
