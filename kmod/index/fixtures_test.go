package index

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFixturesRoundTrip decodes every .bin of kmod's test suite (written post-order by
// kmod ≤ 33), rebuilds it from the decoded entries and expects the same bytes back; the
// pre-order rendering must decode to the same entries.
func TestFixturesRoundTrip(t *testing.T) {
	decoded := 0
	for _, p := range fixtureBins(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := Parse(data)
		if len(data) < headerSize {
			// kmod ships some empty files; libkmod refuses them too.
			if !isNotIndex(err) {
				t.Errorf("%s: %d bytes: got %v, want ErrNotIndex", p, len(data), err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		decoded++
		entries := walkAll(t, ix)
		b := rebuild(t, entries)
		post, err := b.Bytes(PostOrder)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(post, data) {
			t.Errorf("%s: post-order rebuild differs (%d vs %d bytes)", p, len(post), len(data))
		}
		pre, err := b.Bytes(PreOrder)
		if err != nil {
			t.Fatal(err)
		}
		if len(pre) != len(post) {
			t.Errorf("%s: pre-order is %d bytes, post-order %d", p, len(pre), len(post))
		}
		ix2, err := Parse(pre)
		if err != nil {
			t.Fatal(err)
		}
		if ix2.Root()&offsetMask != headerSize {
			t.Errorf("%s: pre-order root at %#x", p, ix2.Root())
		}
		if got := walkAll(t, ix2); !reflect.DeepEqual(got, entries) {
			t.Errorf("%s: pre-order decodes differently", p)
		}
	}
	if decoded < 60 {
		t.Fatalf("only %d fixtures decoded", decoded)
	}
}

// TestFixturesMatchText checks the decoded dep, alias and symbol indexes against the
// text files depmod wrote beside them.
func TestFixturesMatchText(t *testing.T) {
	checked := 0
	for _, p := range fixtureBins(t) {
		base := filepath.Base(p)
		if base != "modules.dep.bin" && base != "modules.alias.bin" && base != "modules.symbols.bin" {
			continue
		}
		text, err := os.ReadFile(strings.TrimSuffix(p, ".bin"))
		if err != nil {
			continue // some fixtures carry only the index
		}
		ix, err := Open(p)
		if err != nil {
			if isNotIndex(err) {
				continue
			}
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, line := range strings.Split(string(text), "\n") {
			if line == "" || line[0] == '#' {
				continue
			}
			if base == "modules.dep.bin" {
				// Some fixtures' text and index disagree on dependencies (they were
				// edited by hand); the module paths always agree.
				path, _, _ := strings.Cut(line, ":")
				want[path] = true
			} else {
				f := strings.Fields(line)
				want[f[1]+" "+f[2]] = true
			}
		}
		got := map[string]bool{}
		for _, e := range walkAll(t, ix) {
			for _, v := range e.values {
				if base == "modules.dep.bin" {
					path, _, _ := strings.Cut(v.Value, ":")
					got[path] = true
					if mod := modnameOfDepLine(v.Value); mod != e.key {
						t.Errorf("%s: key %q holds %q", p, e.key, v.Value)
					}
				} else {
					got[e.key+" "+v.Value] = true
				}
			}
		}
		// The text keeps '-' in aliases that the index normalizes; compare loosely.
		if base == "modules.dep.bin" && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: index and text differ:\n%v\n%v", p, got, want)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d index entries, %d text lines", p, len(got), len(want))
		}
		ix.Close()
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d index/text pairs checked", checked)
	}
}

func modnameOfDepLine(line string) string {
	path, _, _ := strings.Cut(line, ":")
	base := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

func TestLookupAndWildcardOrder(t *testing.T) {
	b := NewBuilder()
	ins := func(k, v string, p uint32) {
		t.Helper()
		if _, err := b.Insert(k, v, p); err != nil {
			t.Fatal(err)
		}
	}
	ins("usb:v1234p*", "mod_b", 5)
	ins("usb:v1234p5678", "mod_exact", 9)
	ins("usb:v*", "mod_any", 5)
	ins("usb:v1234p[0-9]*", "mod_range", 1)
	ins("usb:v1234p????", "mod_q", 5)
	ins("other", "x", 0)
	dup, _ := b.Insert("other", "x", 0)
	if !dup {
		t.Error("duplicate value not reported")
	}
	for _, order := range []Order{PostOrder, PreOrder} {
		data, err := b.Bytes(order)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ix.SearchWildcard("usb:v1234p5678")
		if err != nil {
			t.Fatal(err)
		}
		// Traversal order is '*' child, '?' child, '[' child, then the exact key; each
		// value goes before the first one of equal or higher priority.
		want := []Value{{1, "mod_range"}, {5, "mod_q"}, {5, "mod_b"}, {5, "mod_any"}, {9, "mod_exact"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("order %d: SearchWildcard = %v, want %v", order, got, want)
		}
		if v, _ := ix.Lookup("usb:v1234p*"); !reflect.DeepEqual(v, []Value{{5, "mod_b"}}) {
			t.Errorf("Lookup of a stored pattern = %v", v)
		}
		if v, _ := ix.Lookup("usb:v1234"); v != nil {
			t.Errorf("Lookup of an inner node = %v", v)
		}
		if v, _ := ix.Lookup("other"); len(v) != 2 {
			t.Errorf("Lookup(other) = %v", v)
		}
		if v, _ := ix.Lookup("usb:v1234p5678\x00junk"); len(v) != 1 {
			t.Errorf("key with NUL = %v", v)
		}
	}
	if _, err := b.Insert("caf\xe9", "x", 0); err == nil {
		t.Error("non-ASCII key accepted")
	}
}

func TestEmptyIndex(t *testing.T) {
	data, err := NewBuilder().Bytes(PostOrder)
	if err != nil {
		t.Fatal(err)
	}
	// depmod writes a bare header whose root reference points just past it.
	want := []byte{0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0, 0, 0, 12}
	if !bytes.Equal(data, want) {
		t.Fatalf("empty index = % x", data)
	}
	ix, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ix.SearchWildcard("x"); err != nil || v != nil {
		t.Fatalf("search in empty index = %v, %v", v, err)
	}
	var buf bytes.Buffer
	if err := ix.Dump(&buf, "alias "); err != nil || buf.Len() != 0 {
		t.Fatalf("dump = %q, %v", buf.String(), err)
	}
}
