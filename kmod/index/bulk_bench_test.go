package index

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
)

// debianEntries is the entries depmod builds modules.alias.bin and modules.symbols.bin
// from for Debian's 6.1 tree, taken from the text files it ships.
func debianEntries(b *testing.B, name string) []Entry {
	k := testenv.RequireLine(b, "6.1")
	data, err := os.ReadFile(filepath.Join(k.ModDir(), name))
	if err != nil {
		b.Fatal(err)
	}
	var out []Entry
	for i, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "alias" {
			out = append(out, Entry{Key: f[1], Value: f[2], Priority: uint32(i)})
		}
	}
	return out
}

// BenchmarkBuild builds the two largest indexes depmod writes, in both node orders.
func BenchmarkBuild(b *testing.B) {
	for _, name := range []string{"modules.alias", "modules.symbols"} {
		entries := debianEntries(b, name)
		for _, order := range []struct {
			name string
			o    Order
		}{{"post", PostOrder}, {"pre", PreOrder}} {
			b.Run(name+"/"+order.name, func(b *testing.B) {
				for b.Loop() {
					if _, _, err := Build(entries, order.o); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSortKeys is BuildPostOrder's sort alone.
func BenchmarkSortKeys(b *testing.B) {
	for _, name := range []string{"modules.alias", "modules.symbols"} {
		entries := debianEntries(b, name)
		items := make([]keyItem, len(entries))
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for i, e := range entries {
					items[i] = keyItem{key: e.Key, i: i}
				}
				sortKeys(items, 0)
			}
		})
	}
}
