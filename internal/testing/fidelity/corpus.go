package fidelity

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gokmod/internal/simop"
	"gokmod/internal/testing/playground"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/ko"
)

// Batch is one guest's worth of operations: it starts from a fresh boot on the real side
// and from a fresh model on the predicted side.
type Batch struct {
	Name    string
	Ops     []simop.Op
	Files   []vmtest.File // generated modules, at GuestDir/NAME in the guest
	Modules []string      // in-tree modules staged (with dependencies) under /lib/modules
	Append  string        // kernel command line additions, e.g. module.sig_enforce=1
	// HostDir is where generated modules are on the host (ops name them there, for the
	// model); the guest sees them in GuestDir, away from the tmpfs it mounts on /tmp
	// (a checkout, and so the cache, may well be under /tmp).
	HostDir string
	// After, when set, runs in the same guest once the operations are done: checks of
	// the real tools that need the batch's boot (Real fails with its error).
	After func(vm *vmtest.VM) error
}

// GuestDir is where the guest finds a batch's generated modules.
const GuestDir = "/fidelity"

// GuestOp is op as the guest must run it: paths of generated modules moved to GuestDir.
func (b *Batch) GuestOp(op simop.Op) simop.Op {
	if b.HostDir != "" && strings.HasPrefix(op.Arg, b.HostDir+"/") {
		op.Arg = GuestDir + strings.TrimPrefix(op.Arg, b.HostDir)
	}
	return op
}

// Script renders the operations in the sim script format.
func (b *Batch) Script() string {
	var s strings.Builder
	for _, op := range b.Ops {
		s.WriteString(op.Kind + " " + op.Arg)
		if op.Params != "" {
			s.WriteString(" " + op.Params)
		}
		s.WriteByte('\n')
	}
	return s.String()
}

func (b *Batch) add(kind, arg, params string) {
	b.Ops = append(b.Ops, simop.Op{Kind: kind, Arg: arg, Params: params})
}

// WorkDir is where generated modules live on the host, in the cache.
func WorkDir(k testenv.Kernel) (string, error) {
	cache, err := testenv.Cache()
	if err != nil {
		return "", err
	}
	d := filepath.Join(cache, "fidelity", k.Release)
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o755)
}

func (b *Batch) file(dir, name string, data []byte) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return "", err
	}
	b.HostDir = dir
	b.Files = append(b.Files, vmtest.File{Guest: GuestDir + "/" + name, Host: p})
	return p, nil
}

// PlaygroundBatch exercises the playground modules: dependencies, exports of each kind,
// parameters, a failing init, a proprietary module, duplicates and removal in use.
func PlaygroundBatch(k testenv.Kernel, dir string) (*Batch, error) {
	pg, err := playground.Build(k)
	if err != nil {
		return nil, err
	}
	b := &Batch{Name: "playground"}
	path := map[string]string{}
	for _, n := range pg.Names {
		data, err := os.ReadFile(pg.Path(n))
		if err != nil {
			return nil, err
		}
		if path[n], err = b.file(dir, n+".ko", data); err != nil {
			return nil, err
		}
	}
	for _, op := range [][3]string{
		{"insmod", "pg_nodeps", ""},
		{"insmod", "pg_nodeps", ""},
		{"rmmod", "pg_nodeps", ""},
		{"init", "pg_nodeps", ""},
		{"rmmod-force", "pg_nodeps", ""},
		{"insmod", "pg_use_plain", ""},
		{"insmod", "pg_exporter", ""},
		{"insmod", "pg_use_plain", ""},
		{"insmod", "pg_use_gpl", ""},
		{"insmod", "pg_use_ns", ""},
		{"rmmod", "pg_exporter", ""},
		{"insmod", "pg_proprietary", ""},
		{"insmod", "pg_hello", "count=abc"},
		{"insmod", "pg_hello", "bogus=1 count=3 name=x values=1,2,3 verbose=y"},
		{"rmmod", "pg_hello", ""},
		{"insmod", "pg_hello", "values=1,2,3,4,5,6,7,8,9"},
		{"insmod", "pg_hello", "verbose=maybe"},
		{"insmod", "pg_hello", `name="a b" count=-5`},
		{"rmmod", "pg_hello", ""},
		{"insmod", "pg_enodev", ""},
		{"rmmod", "pg_use_ns", ""},
		{"rmmod", "pg_use_gpl", ""},
		{"rmmod", "pg_use_plain", ""},
		{"rmmod", "pg_exporter", ""},
		{"rmmod", "pg_exporter", ""},
	} {
		arg := op[1]
		if op[0] != "rmmod" && op[0] != "rmmod-force" {
			arg = path[op[1]]
		}
		b.add(op[0], arg, op[2])
	}
	return b, nil
}

// TreeBatches loads every module of the kernel's tree in modules.dep order, each after the
// dependencies modules.dep lists for it (deepest first, as modprobe does), perBatch load
// operations per guest. Modules stay loaded within a batch.
func TreeBatches(k testenv.Kernel, perBatch int) ([]*Batch, error) {
	f, err := os.Open(filepath.Join(k.ModDir(), "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var batches []*Batch
	var cur *Batch
	loaded := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if cur == nil || len(cur.Ops) >= perBatch {
			cur = &Batch{Name: fmt.Sprintf("tree-%03d", len(batches)+1)}
			batches = append(batches, cur)
			loaded = map[string]bool{}
		}
		d := strings.Fields(deps)
		for i := len(d) - 1; i >= 0; i-- {
			if !loaded[d[i]] {
				cur.add(simop.Insmod, d[i], "")
				loaded[d[i]] = true
			}
		}
		if !loaded[mod] {
			cur.add(simop.Insmod, mod, "")
			loaded[mod] = true
			cur.Modules = append(cur.Modules, moduleName(mod))
		}
	}
	return batches, sc.Err()
}

func moduleName(p string) string {
	b := filepath.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// intree reads an in-tree module, decompressed.
func intree(k testenv.Kernel, rel string) ([]byte, error) {
	for _, ext := range []string{"", ".xz", ".zst", ".gz"} {
		b, err := os.ReadFile(filepath.Join(k.ModDir(), rel+ext))
		if err != nil {
			continue
		}
		out, _, err := ko.Decompress(b)
		return out, err
	}
	return nil, fmt.Errorf("%s: not in %s", rel, k.ModDir())
}

// replaceOnce edits data in place of the first old, which must exist.
func replaceOnce(data []byte, old, new string) ([]byte, error) {
	if len(old) != len(new) {
		return nil, fmt.Errorf("replacement %q -> %q changes the length", old, new)
	}
	i := bytes.Index(data, []byte(old))
	if i < 0 {
		return nil, fmt.Errorf("%q not found", old)
	}
	out := append([]byte(nil), data...)
	copy(out[i:], new)
	return out, nil
}
