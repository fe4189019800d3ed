package fidelity

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gokmod/internal/simop"
)

// Fields compared between the model and the real kernel.
var Fields = []string{"result", "taint", "log", "coresize", "initsize", "list"}

// loaderLine matches what the module loader itself logs (kernel/module/*.c,
// kernel/params.c, arch/x86/kernel/module.c), as opposed to what a module's init prints,
// which no model of the loader can predict.
var loaderLine = regexp.MustCompile(strings.Join([]string{
	`Unknown symbol `, `disagrees about version of symbol `, `no symbol version for `,
	`version magic '`, `module verification failed`, `Loading of (unsigned )?module`,
	`taints kernel`, `kernel tainted\.`, `Disabling lock debugging`, `unknown parameter '`,
	`invalid for parameter`, `[Ii]nvalid ELF`, `ELF [Hh]eader`, `section header`, `from namespace`,
	`[Uu]nknown rela relocation`, `[Oo]verflow in relocation`, `Lockdown:`, `can only take`,
	`string parameter too long`, `cannot create duplicate filename`, `module has bad taint`,
	`No module found in object`, `Module len`, `already exists`, `is already loaded`,
	`[Pp]arameter .* too long`, `Unknown relocation`, `exports duplicate symbol`, `truncated`,
	`Rejected `, `is not a valid module`, `compressed module`, `decompress`,
	`not signed with expected PKCS#7`, `PKCS#7 signature info`, `PKCS7: `, `staging directory`, `suspiciously returned`, `gave up waiting for init`, `please compile with`, `has bad`, `SHF_ALLOC`, `modversion`, `module_layout`,
	// 7.x's new checks (load/changes.go: StrtabChecks, KFlagstab, ModuleNamespaces), and
	// the section-index check stable kernels carry (ShndxCheck).
	`symbol string table`, `symbol name out of bounds`, `no flags for exported symbols`,
	`ignoring obsolete section`, `import module namespace`, `invalid section index`,
}, "|"))

// LoaderLog keeps the loader's own lines of a real log.
func LoaderLog(log []string) []string {
	var out []string
	for _, l := range log {
		if loaderLine.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// Diff is one field on which the model and the real kernel disagree.
type Diff struct {
	Batch      string
	Index      int
	Op         simop.Op
	Field      string
	Real, Pred string
	Cause      string // what explains it, when a known cause does
}

// Tally counts agreement over operations.
type Tally struct {
	Ops, FullAgree int
	FieldAgree     map[string]int
	InitFailed     int // real init failed (no hardware), model assumed success: not compared
	// InitWarned counts operations whose module code (init, or exit on removal) tainted
	// the kernel at run time (W: a WARN splat; D, L; S: a driver for other hardware
	// calling add_taint(TAINT_CPU_OUT_OF_SPEC), as snic's init does on arm64): no model
	// of the loader can know. Those letters are left out of the taint comparison from
	// then on; load_module itself never sets them.
	InitWarned  int
	Crashed     int // operations lost to a guest that died
	Diffs       []Diff
	lastRuntime string // the real taint after the previous operation
}

// runtimeTaints are the taint letters module code causes while running, never the loader.
const runtimeTaints = "WDLS"

// withoutRuntimeTaints drops the taints module code causes while running (runtimeTaints).
func withoutRuntimeTaints(t string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(runtimeTaints, r) {
			return -1
		}
		return r
	}, t)
}

// runtimeOnly keeps the runtime taint letters of t.
func runtimeOnly(t string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(runtimeTaints, r) {
			return r
		}
		return -1
	}, t)
}

// NewTally returns an empty tally.
func NewTally() *Tally { return &Tally{FieldAgree: map[string]int{}} }

// Add compares one operation.
// told says the model was told this operation's module init fails.
func (t *Tally) Add(batch string, i int, op simop.Op, real, pred simop.Outcome, told bool) {
	if real.Result != "ok" && len(LoaderLog(real.Log)) == 0 && (pred.Result == "ok" || told) {
		t.InitFailed++ // no model can know a driver finds no hardware: told, or assumed ok
		return
	}
	t.Ops++
	if runtimeOnly(real.Taint) != runtimeOnly(t.lastRuntime) {
		t.InitWarned++
	}
	t.lastRuntime = real.Taint
	real.Taint = withoutRuntimeTaints(real.Taint)
	pred.Taint = withoutRuntimeTaints(pred.Taint)
	realLog := LoaderLog(real.Log)
	vals := func(o simop.Outcome, log []string) map[string]string {
		return map[string]string{
			"result":   o.Result,
			"taint":    o.Taint,
			"log":      strings.Join(log, "\n"),
			"coresize": ptr(o.CoreSize),
			"initsize": ptr(o.InitSize),
			"list":     fmt.Sprintf("%s refcnt=%s holders=%v", o.Name, ptr(o.RefCnt), sorted(o.Holders)),
		}
	}
	r, p := vals(real, realLog), vals(pred, pred.Log)
	all := true
	for _, f := range Fields {
		if r[f] == p[f] {
			t.FieldAgree[f]++
			continue
		}
		all = false
		t.Diffs = append(t.Diffs, Diff{batch, i, op, f, r[f], p[f], cause(f, real, pred)})
	}
	if all {
		t.FullAgree++
	}
}

// cause names the known reasons for a disagreement the model cannot avoid.
func cause(field string, real, pred simop.Outcome) string {
	if field == "list" && real.Name == pred.Name && real.RefCnt != nil && pred.RefCnt != nil &&
		*real.RefCnt > *pred.RefCnt && strings.Join(sorted(real.Holders), ",") == strings.Join(sorted(pred.Holders), ",") {
		return "the module's init took references on itself (module code, e.g. protocol registration)"
	}
	if real.Result == "EINVAL" && pred.Result == "ok" && slices.ContainsFunc(real.Log, func(l string) bool { return strings.HasSuffix(l, ": module is already loaded") }) {
		return "built-in code owns /sys/module/NAME (its parameters): the model could not read them from this image (arm64 Image: no __param) and says it assumed the name free"
	}
	return ""
}

func ptr[T any](p *T) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// Report renders the tally as a table and the list of disagreements (at most maxDiffs).
func (t *Tally) Report(kernel string, maxDiffs int) string {
	var b strings.Builder
	pct := func(n int) string {
		if t.Ops == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(t.Ops))
	}
	fmt.Fprintf(&b, "== %s: %d operations compared, fully agree %d (%s); init failed for lack of hardware (not compared): %d; module code tainted W/D/L/S at run time: %d; lost to guest crashes: %d\n",
		kernel, t.Ops, t.FullAgree, pct(t.FullAgree), t.InitFailed, t.InitWarned, t.Crashed)
	for _, f := range Fields {
		fmt.Fprintf(&b, "   %-9s %6d / %d  %s\n", f, t.FieldAgree[f], t.Ops, pct(t.FieldAgree[f]))
	}
	for i, d := range t.Diffs {
		if i == maxDiffs {
			fmt.Fprintf(&b, "   ... %d more disagreements\n", len(t.Diffs)-maxDiffs)
			break
		}
		fmt.Fprintf(&b, "   DIFF %s#%d %s %s %s: %s\n      real: %q\n      pred: %q\n", d.Batch, d.Index+1, d.Op.Kind, d.Op.Arg, d.Op.Params, d.Field, d.Real, d.Pred)
		if d.Cause != "" {
			fmt.Fprintf(&b, "      cause: %s\n", d.Cause)
		}
	}
	return b.String()
}
