package depmod

import (
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
	"gokmod/ko"
)

// TestFastPathsMatchKo checks depmod's two fast readers — the partial reader for plain
// modules and the elfView over a parsed file — against ko's KmodSymbols,
// KmodDependencySymbols and ModInfo on every module of both trees.
func TestFastPathsMatchKo(t *testing.T) {
	n, partial := 0, 0
	var r reader                                                        // one reader for every file, as a depmod worker reuses its buffers
	for _, k := range testenv.OnePerLayout(testenv.RequireKernels(t)) { // whole trees: one per layout
		filepath.WalkDir(filepath.Join(k.ModDir(), "kernel"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.Contains(d.Name(), ".ko") {
				return err
			}
			f, err := ko.Open(p)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				return nil
			}
			want := &modData{}
			want.exports, _ = f.KmodSymbols()
			want.depSyms, _ = f.KmodDependencySymbols()
			for _, kv := range f.ModInfo() {
				if kv.Key == "alias" || kv.Key == "softdep" {
					want.info = append(want.info, kv)
				}
			}
			v, ok := newElfView(f)
			if !ok {
				t.Fatalf("%s: no fast view", p)
			}
			got := &modData{info: depmodInfo(f), exports: v.exports()}
			got.depSyms, _ = v.dependencySymbols()
			compareData(t, p+" (view)", got, want)
			if strings.HasSuffix(p, ".ko") {
				fd, err := unix.Open(p, unix.O_RDONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				md, ok := r.readPartial(fd)
				unix.Close(fd)
				if !ok {
					t.Errorf("%s: the partial reader gave up", p)
				} else {
					compareData(t, p+" (partial)", md, want)
					partial++
				}
			}
			n++
			return nil
		})
	}
	t.Logf("%d modules, %d through the partial reader: identical to ko", n, partial)
}

func compareData(t *testing.T, what string, got, want *modData) {
	t.Helper()
	if !reflect.DeepEqual(got.exports, want.exports) {
		t.Errorf("%s: exports differ", what)
	}
	if !reflect.DeepEqual(got.depSyms, want.depSyms) {
		t.Errorf("%s: dependency symbols differ", what)
	}
	if !reflect.DeepEqual(got.info, want.info) {
		t.Errorf("%s: modinfo differs: %q vs %q", what, got.info, want.info)
	}
}
