package load_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"gokmod/internal/testing/playground"
	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
	"gokmod/ko"
	"gokmod/load"
)

// target is one prepared kernel with its playground.
type target struct {
	k  *kernel.Kernel
	tk testenv.Kernel
}

var (
	targetsOnce sync.Once
	targets     []target
	targetsErr  error
)

// kernels returns the prepared kernels, loaded once per test binary.
func kernels(t *testing.T) []target {
	t.Helper()
	tks := testenv.RequireKernels(t)
	targetsOnce.Do(func() {
		for _, tk := range tks {
			k, err := kernel.FromDebianRoot(tk.Root, tk.Release)
			if err != nil {
				targetsErr = err
				return
			}
			targets = append(targets, target{k: k, tk: tk})
		}
	})
	if targetsErr != nil {
		t.Fatal(targetsErr)
	}
	return targets
}

// pick returns the prepared kernel of line major.minor (a test of a behaviour only that
// line has, or of what two lines do to each other's modules).
func pick(t *testing.T, major, minor int) target {
	for _, tg := range kernels(t) {
		if tg.k.Version.Major == major && tg.k.Version.Minor == minor {
			return tg
		}
	}
	t.Fatalf("no %d.%d kernel prepared", major, minor)
	return target{}
}

// has tells whether tg's kernel, as modelled, has change c.
func (tg target) has(c *load.Change) bool { return load.New(tg.k, load.Options{}).Has(c) }

// inTree returns an in-tree module's bytes, decompressed as kmod's insmod would.
func inTree(t *testing.T, k *kernel.Kernel, name string) []byte {
	t.Helper()
	p, ok := k.InTree[name]
	if !ok {
		t.Fatalf("%s: no in-tree module %s", k.Release, name)
	}
	raw, err := os.ReadFile(filepath.Join(k.ModDir, p))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ko.Decompress(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pg returns a playground module's bytes for tg's kernel.
func pg(t *testing.T, tg target, name string) []byte {
	t.Helper()
	s := playground.MustBuild(t, tg.tk)
	b, err := os.ReadFile(s.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripSig removes an appended signature.
func stripSig(t *testing.T, b []byte) []byte {
	t.Helper()
	f, err := ko.Parse("m", b)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), f.ModuleImage()...)
}

// mustLoad loads and fails the test on error.
func mustLoad(t *testing.T, m *load.Model, b []byte, params string) *load.Result {
	t.Helper()
	r := m.Load(b, params, 0)
	if r.Err != nil {
		t.Fatalf("load failed: %v\n%v\ntrace: %v", r.Err, r, r.Trace)
	}
	return r
}
