package index

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestFnmatchGlibc replays verdicts recorded from glibc 2.36's fnmatch(p, s, 0) in the C
// locale (testdata/fnmatch_glibc.c generates them).
func TestFnmatchGlibc(t *testing.T) {
	f, err := os.Open("testdata/fnmatch_glibc.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, bad := 0, 0
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "\t", 3)
		if len(parts) != 3 {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		want := parts[0] == "1"
		if got := Fnmatch(parts[1], parts[2]); got != want {
			bad++
			if bad < 30 {
				t.Errorf("Fnmatch(%q, %q) = %v, glibc says %v", parts[1], parts[2], got, want)
			}
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10000 {
		t.Fatalf("only %d golden cases", n)
	}
	if bad > 0 {
		t.Fatalf("%d of %d cases differ from glibc", bad, n)
	}
}

func TestFnmatchKmodPatterns(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"pci:v00008086d*sv*sd*bc*sc*i*", "pci:v00008086d00001234sv0sd0bc02sc00i00", true},
		{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb:v1234p5678d0100dc00dsc00dp00ic08isc06ip50in00", true},
		{"a/*", "a/b/c", true}, // no FNM_PATHNAME: '*' crosses '/'
		{"*", ".hidden", true},
		{"[!a]x", "bx", true},
		{"[^a]x", "ax", false},
		{"[a-c]", "b", true},
		{"[c-a]", "b", false},
		{"[", "[", true},
		{"ab[", "ab[", true},
		{"[]]", "]", true},
		{"[[:digit:]]*", "7up", true},
		{"x\\*", "x*", true},
		{"x\\*", "xy", false},
		{"snd_*", "snd_hda_intel", true},
		{"a\x00b", "a", true}, // C strings end at NUL
	}
	for _, c := range cases {
		if got := Fnmatch(c.p, c.s); got != c.want {
			t.Errorf("Fnmatch(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}
