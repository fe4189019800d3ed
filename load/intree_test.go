package load_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gokmod/ko"
	"gokmod/load"
)

// TestInTreeModulesLoad loads a sample of Debian's in-tree modules (every step-th by
// name, each into a fresh boot after its modules.dep dependencies): every one must load
// without any log line but the staging warning, and without any assumption but init's
// result. GOKMOD_LOAD_ALL=1 takes every module (several minutes).
func TestInTreeModulesLoad(t *testing.T) {
	step := 60
	if os.Getenv("GOKMOD_LOAD_ALL") != "" {
		step = 1
	}
	for _, tg := range kernels(t) {
		names := make([]string, 0, len(tg.k.InTree))
		for n := range tg.k.InTree {
			names = append(names, n)
		}
		sort.Strings(names)
		cache := map[string][]byte{}
		get := func(n string) []byte {
			if b, ok := cache[n]; ok {
				return b
			}
			raw, err := os.ReadFile(filepath.Join(tg.k.ModDir, tg.k.InTree[n]))
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := ko.Decompress(raw)
			if err != nil {
				t.Fatal(err)
			}
			cache[n] = b
			return b
		}
		loaded := 0
		for i := 0; i < len(names); i += step {
			n := names[i]
			m := load.New(tg.k, load.Options{InitResult: func(string) int { return 0 }})
			deps := tg.k.Deps[n]
			for j := len(deps) - 1; j >= 0; j-- {
				if r := m.Load(get(deps[j]), "", 0); r.Err != nil {
					t.Errorf("%s: %s's dependency %s: %v %q", tg.k.Release, n, deps[j], r.Err, r.LogText())
				}
			}
			r := m.Load(get(n), "", 0)
			if r.Err != nil || len(r.Uncertain) > 0 {
				t.Errorf("%s: %s: %v %q %q", tg.k.Release, n, r.Err, r.LogText(), r.Uncertain)
			}
			for _, l := range r.LogText() {
				if !strings.Contains(l, "staging directory") {
					t.Errorf("%s: %s: unexpected log %q", tg.k.Release, n, l)
				}
			}
			loaded++
		}
		t.Logf("%s: %d modules loaded with their dependencies", tg.k.Release, loaded)
	}
}
