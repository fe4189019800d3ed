package ko

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/elftest"
)

// diffRange returns the first and last differing offsets.
func diffRange(a, b []byte) (int, int) {
	first, last := -1, -1
	for i := range a {
		if a[i] != b[i] {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// TestStripSection checks that only sh_flags of __versions changes, on a
// real module and on 32-bit big-endian.
func TestStripSection(t *testing.T) {
	real, err := Open(findModule(t, 0, "llc.ko"))
	if err != nil {
		t.Fatal(err)
	}
	synth := synthModule(32, binary.BigEndian, false, false, false, false).Build()
	for _, img := range [][]byte{real.Bytes(), synth} {
		orig := append([]byte(nil), img...)
		out, err := StripSection(img, "__versions")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img, orig) {
			t.Error("input modified")
		}
		f, _ := Parse("in", img)
		g, err := Parse("out", out)
		if err != nil {
			t.Fatal(err)
		}
		s, gs := f.Section("__versions"), g.Section("__versions")
		if s.Flags&SHFAlloc == 0 || gs.Flags != s.Flags&^SHFAlloc {
			t.Errorf("flags %#x -> %#x", s.Flags, gs.Flags)
		}
		first, last := diffRange(img, out)
		hdr := int(f.shoff) + s.Index*f.shentsize
		if len(out) != len(img) || first < hdr+8 || last >= hdr+8+f.r.wordSize() {
			t.Errorf("changed bytes %d..%d, sh_flags at %d", first, last, hdr+8)
		}
	}
	_, err = StripSection(synth, "nope")
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing section: %v", err)
	}
	if _, err := StripSection([]byte("junk"), "__versions"); !errors.Is(err, unix.ENOEXEC) {
		t.Errorf("junk: %v", err)
	}
}

// TestStripVermagic checks that the vermagic string is zeroed in place and
// the rest of .modinfo survives.
func TestStripVermagic(t *testing.T) {
	real, err := Open(findModule(t, 0, "llc.ko"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := StripVermagic(real.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse("out", out)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.ModInfoValue("vermagic"); ok {
		t.Error("vermagic survived")
	}
	before, after := real.ModInfo(), g.ModInfo()
	if len(after) != len(before)-1 {
		t.Errorf("%d entries -> %d", len(before), len(after))
	}
	mi := real.Section(".modinfo")
	first, last := diffRange(real.Bytes(), out)
	if uint64(first) < mi.Offset || uint64(last) >= mi.Offset+mi.Size {
		t.Errorf("changed bytes %d..%d outside .modinfo", first, last)
	}
	for i := first; i <= last; i++ {
		if out[i] != 0 {
			t.Errorf("byte %d = %#x", i, out[i])
		}
	}
	// No vermagic: ENOENT. Empty .modinfo: unchanged copy, as kmod returns 0.
	noVM, _ := (&elftest.Module{Class: 64, ModInfo: []string{"license=GPL", "vermagic"}}).Build(), 0
	if _, err := StripVermagic(noVM); !errors.Is(err, unix.ENOENT) {
		t.Errorf("no vermagic: %v", err)
	}
	empty := (&elftest.Module{Class: 64}).Build()
	if o, err := StripVermagic(empty); err != nil || !bytes.Equal(o, empty) {
		t.Errorf("empty .modinfo: %v", err)
	}
	// kmod needs at least one byte after "vermagic=" inside the section.
	tail := (&elftest.Module{Class: 32, Order: binary.BigEndian, ModInfo: []string{"a=b", "vermagic=x"}}).Build()
	o, err := StripVermagic(tail)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := Parse("t", o); len(g.ModInfo()) != 1 {
		t.Errorf("%v", g.ModInfo())
	}
}
