package index

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gokmod/internal/testing/testenv"
)

// kmodTestsuite is kmod's test-suite data (testenv.KmodTestsuite).
func kmodTestsuite(tb testing.TB) string { tb.Helper(); return testenv.KmodTestsuite(tb) }

// fixtureBins lists every .bin file in kmod's rootfs-pristine.
func fixtureBins(tb testing.TB) []string {
	tb.Helper()
	var bins []string
	err := filepath.WalkDir(filepath.Join(kmodTestsuite(tb), "rootfs-pristine"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(p) == ".bin" {
			bins = append(bins, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(bins)
	if len(bins) < 100 {
		tb.Fatalf("only %d .bin fixtures found", len(bins))
	}
	return bins
}

type entry struct {
	key    string
	values []Value
}

func walkAll(tb testing.TB, ix *Index) []entry {
	tb.Helper()
	var out []entry
	if err := ix.Walk(func(k string, v []Value) error {
		out = append(out, entry{k, v})
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

// rebuild inserts what a Walk returned so that depmod's value order comes out again:
// values of one key in reverse file order (equal priorities are stored newest first).
func rebuild(tb testing.TB, entries []entry) *Builder {
	tb.Helper()
	b := NewBuilder()
	for _, e := range entries {
		for i := len(e.values) - 1; i >= 0; i-- {
			if _, err := b.Insert(e.key, e.values[i].Value, e.values[i].Priority); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return b
}

func isNotIndex(err error) bool { return errors.Is(err, ErrNotIndex) }
