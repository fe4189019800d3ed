package fidelity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
)

// Real runs a batch in a fresh guest, one judge (internal/cmd/judge) per operation so that a guest
// that dies (an oops in some driver's init) costs only the operations after it: crashed
// is the index of the operation during which the guest died, or -1.
func Real(k testenv.Kernel, b *Batch) (outs []simop.Outcome, crashed int, err error) {
	vm, err := vmtest.Boot(vmtest.Config{Kernel: k, Files: b.Files, Modules: b.Modules, Append: b.Append,
		Memory: "2G", CommandTimeout: 2 * time.Minute})
	if err != nil {
		return nil, -1, err
	}
	defer vm.Close()
	// A module's init may ask for others (request_module runs /sbin/modprobe): that is
	// module code, not the loader, and it would change the list under the model's feet.
	// The kernel may also have asked for modules while booting (6.12's built-in crypto
	// loads cryptd and crypto_simd): unload them so both sides start from an empty list.
	r, err := vm.Run(`echo > /proc/sys/kernel/modprobe || exit 1
for i in 1 2 3 4 5 6; do m=$(cut -d' ' -f1 /proc/modules); [ -z "$m" ] && break; for x in $m; do /sbin/rmmod $x 2>/dev/null; done; done
cat /proc/modules`)
	if err != nil {
		return nil, -1, err
	}
	if r.Exit != 0 || r.Stdout != "" {
		return nil, -1, fmt.Errorf("cannot start from an empty module list (turn off request_module, unload boot-time modules): exit %d, still loaded:\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
	for i, op := range b.Ops {
		line := (&Batch{Ops: []simop.Op{b.GuestOp(op)}}).Script()
		r, err := vm.RunStdin(vmtest.JudgePath+" -", line)
		if err != nil {
			return outs, i, nil
		}
		if r.Exit != 0 {
			return outs, -1, fmt.Errorf("judge %q: exit %d: %s", line, r.Exit, r.Stderr)
		}
		var o simop.Outcome
		if err := json.Unmarshal([]byte(r.Stdout), &o); err != nil {
			return outs, -1, fmt.Errorf("judge %q: %v: %q", line, err, r.Stdout)
		}
		outs = append(outs, o)
	}
	if b.After != nil {
		if err := b.After(vm); err != nil {
			return outs, -1, fmt.Errorf("%s: %w", b.Name, err)
		}
	}
	return outs, -1, nil
}

// Model runs a batch through `gokmod sim` (the binary at gokmod) against the kernel
// packages unpacked as they come.
//
// initFails names modules whose init the real kernel saw fail (no hardware): the model
// is told, as it cannot run init.
func Model(gokmod string, k testenv.Kernel, b *Batch, initFails map[string]string) ([]simop.Outcome, error) {
	script := filepath.Join(os.TempDir(), fmt.Sprintf("gokmod-sim-%d.txt", os.Getpid()))
	if err := os.WriteFile(script, []byte(b.Script()), 0o644); err != nil {
		return nil, err
	}
	defer os.Remove(script)
	// The guest runs the judge binary: the kernel names that process after it (the
	// executable's base name, at most 15 bytes) in the lines it prints with
	// current->comm (lockdown's).
	// The model reads the packages as they come (no extracted vmlinux, no modules.dep),
	// as it would on a user's machine; the guest boots the prepared root's vmlinux.
	raw, err := k.RawRoot()
	if err != nil {
		return nil, err
	}
	args := []string{"sim", "--kernel", raw, "--comm", filepath.Base(vmtest.JudgePath)}
	if b.Append != "" {
		args = append(args, "--cmdline", b.Append)
	}
	if len(initFails) > 0 {
		var kv []string
		for n, e := range initFails {
			kv = append(kv, n+"="+e)
		}
		sort.Strings(kv)
		args = append(args, "--init-fail", strings.Join(kv, ","))
	}
	cmd := exec.Command(gokmod, append(args, script)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("gokmod sim: %v: %s", err, stderr.String())
	}
	var outs []simop.Outcome
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var o simop.Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			return nil, fmt.Errorf("gokmod sim: %v: %q", err, line)
		}
		outs = append(outs, o)
	}
	if len(outs) != len(b.Ops) {
		return nil, fmt.Errorf("gokmod sim: %d outcomes for %d operations", len(outs), len(b.Ops))
	}
	return outs, nil
}

// Compare runs a batch on both sides and adds its operations to t. When the guest dies,
// the operations before the crash are compared, the crashing one is counted as lost, and
// the rest run again as a new batch on a fresh guest and a fresh model.
func Compare(t *Tally, gokmod string, k testenv.Kernel, b *Batch) error {
	for len(b.Ops) > 0 {
		real, crashed, err := Real(k, b)
		if err != nil {
			return err
		}
		// The first pass assumes every init succeeds; modules whose init failed in the
		// real kernel (failure with no loader line) are then named to the model, whose
		// state would otherwise diverge (dependents loading on top of them), until stable.
		initFails := map[string]string{}
		var pred []simop.Outcome
		for pass := 0; pass < 4; pass++ {
			if pred, err = Model(gokmod, k, b, initFails); err != nil {
				return err
			}
			added := false
			for i := range real {
				// EEXIST is what the loader itself says of a module already there.
				if real[i].Result != "ok" && real[i].Result != "EEXIST" && pred[i].Result == "ok" && len(LoaderLog(real[i].Log)) == 0 && pred[i].Name != "" {
					if _, ok := initFails[pred[i].Name]; !ok {
						initFails[pred[i].Name] = real[i].Result
						added = true
					}
				}
			}
			if !added {
				break
			}
		}
		told := make([]bool, len(real))
		for i := range real {
			_, told[i] = initFails[moduleName(b.Ops[i].Arg)]
			told[i] = told[i] && b.Ops[i].IsLoad()
			t.Add(b.Name, i, b.Ops[i], real[i], pred[i], told[i])
		}
		saveRaw(k, b, real, pred, told)
		if crashed < 0 {
			return nil
		}
		t.Crashed++
		t.Diffs = append(t.Diffs, Diff{b.Name, crashed, b.Ops[crashed], "crash", "guest died", pred[crashed].Result, "the guest died during the operation (module code oopsed)"})
		rest := *b
		rest.Name = b.Name + "+"
		rest.Ops = b.Ops[crashed+1:]
		b = &rest
	}
	return nil
}

// RawOp is one line of a saved batch.
type RawOp struct {
	Real  simop.Outcome `json:"real"`
	Model simop.Outcome `json:"model"`
	Told  bool          `json:"told"` // the model was told this module's init fails
}

// FromRaw recomputes a kernel's tally from the outcomes saved by earlier runs.
func FromRaw(k testenv.Kernel) (*Tally, error) {
	cache, err := testenv.Cache()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(cache, "fidelity", "raw", k.Release, "*.jsonl"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no saved outcomes for %s", k.Release)
	}
	sort.Strings(files)
	t := NewTally()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		batch := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var r RawOp
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f, i+1, err)
			}
			op := simop.Op{Kind: r.Real.Op, Arg: r.Real.Arg, Params: r.Real.Params}
			t.Add(batch, i, op, r.Real, r.Model, r.Told)
		}
	}
	return t, nil
}

// saveRaw keeps both sides' outcomes of a batch (cache/fidelity/raw/RELEASE/BATCH.jsonl,
// lines "real" and "model" per operation), so a report can be studied or recomputed
// without booting anything again.
func saveRaw(k testenv.Kernel, b *Batch, real, pred []simop.Outcome, told []bool) {
	cache, err := testenv.Cache()
	if err != nil {
		return
	}
	dir := filepath.Join(cache, "fidelity", "raw", k.Release)
	if os.MkdirAll(dir, 0o755) != nil {
		return
	}
	var buf bytes.Buffer
	for i := range real {
		r, _ := json.Marshal(real[i])
		p, _ := json.Marshal(pred[i])
		fmt.Fprintf(&buf, "{\"real\":%s,\"model\":%s,\"told\":%v}\n", r, p, told[i])
	}
	os.WriteFile(filepath.Join(dir, b.Name+".jsonl"), buf.Bytes(), 0o644)
}
