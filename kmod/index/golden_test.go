package index

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestWriterGoldens replays a synthetic entry list (shared prefixes, wildcards, equal
// priorities, an empty key) through the Builder and compares with the bytes that
// kmod 30's and kmod 34's depmod index writers (index_insert + index_write, compiled
// unchanged) produced for the same insertions.
func TestWriterGoldens(t *testing.T) {
	text, err := os.ReadFile("testdata/preorder_v34.txt")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder()
	for _, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		f := strings.SplitN(line, "\t", 3)
		prio, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil || len(f) != 3 {
			t.Fatalf("bad line %q", line)
		}
		if _, err := b.Insert(f[1], f[2], uint32(prio)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		order Order
		file  string
	}{{PostOrder, "testdata/postorder_v30.bin"}, {PreOrder, "testdata/preorder_v34.bin"}} {
		want, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Bytes(c.order)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: differs", c.file)
		}
	}
}
