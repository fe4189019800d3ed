package compat

import (
	"os/exec"
	"testing"

	"gokmod/internal/testing/testenv"
)

// TestVersionLinesAgainstKmod runs -V of both kmod releases, live, and compares.
func TestVersionLinesAgainstKmod(t *testing.T) {
	for _, c := range []struct {
		k   Kmod
		bin string
	}{
		{Kmod30, testenv.KmodTool(t, "kmod")},
		{Kmod34, testenv.Kmod34Tool(t, "kmod")},
	} {
		out, err := exec.Command(c.bin, "-V").Output()
		if err != nil {
			t.Fatalf("%s -V: %v", c.bin, err)
		}
		if string(out) != c.k.VersionLines() {
			t.Errorf("kmod %v: -V prints %q, we would print %q", c.k, out, c.k.VersionLines())
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Kmod{"": Kmod34, "34": Kmod34, "34.2": Kmod34, "30": Kmod30} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"31", "x", " 30"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
