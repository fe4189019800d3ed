package index_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testenv"
	"gokmod/kmod/config"
	"gokmod/kmod/index"
)

// TestResolveLikeModprobe replays `modprobe -d ROOT -S KVER -R QUERY` (kmod 30) answers
// recorded on Debian's trees (testdata/wild_KVER.txt: query, tab, resolved modules) by
// running libkmod's lookup chain over the indexes: modules.dep.bin exact, then
// modules.symbols.bin for "symbol:" names, modules.alias.bin wildcards,
// modules.builtin.bin exact and modules.builtin.alias.bin wildcards; the first source
// with a result wins. Multi-module answers check the wildcard search's order.
func TestResolveLikeModprobe(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		t.Run(k.Release, func(t *testing.T) {
			open := func(name string) *index.Index {
				ix, err := index.Open(filepath.Join(k.ModDir(), name))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ix.Close() })
				return ix
			}
			dep, syms, alias := open("modules.dep.bin"), open("modules.symbols.bin"), open("modules.alias.bin")
			builtin, balias := open("modules.builtin.bin"), open("modules.builtin.alias.bin")
			f, err := os.Open(filepath.Join("testdata", "wild_"+k.Release+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			n, multi := 0, 0
			for sc.Scan() {
				q, want, _ := strings.Cut(sc.Text(), "\t")
				name, err := config.AliasNormalize(q)
				if err != nil {
					t.Fatal(err)
				}
				got := resolve(t, name, dep, syms, alias, builtin, balias)
				if strings.Join(got, " ") != want {
					t.Errorf("%q: got %q, modprobe -R says %q", q, got, want)
				}
				if strings.Contains(want, " ") {
					multi++
				}
				n++
			}
			if n < 300 || multi < 10 {
				t.Fatalf("golden too small: %d queries, %d with several modules", n, multi)
			}
		})
	}
}

func resolve(t *testing.T, name string, dep, syms, alias, builtin, balias *index.Index) []string {
	t.Helper()
	names := func(vs []index.Value, err error) []string {
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.Value)
		}
		return out
	}
	if !strings.Contains(name, ":") {
		if v := names(dep.Lookup(name)); v != nil {
			return []string{name}
		}
	}
	if strings.HasPrefix(name, "symbol:") {
		if v := names(syms.SearchWildcard(name)); v != nil {
			return v
		}
	}
	if v := names(alias.SearchWildcard(name)); v != nil {
		return v
	}
	if v := names(builtin.Lookup(name)); v != nil {
		return []string{name}
	}
	return names(balias.SearchWildcard(name))
}
