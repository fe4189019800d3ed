package tool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/internal/report"
	"gokmod/internal/simop"
	"gokmod/kernel"
	"gokmod/kmod"
	"gokmod/load"
)

func explainHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\tgokmod explain [--kernel SPEC [--release REL]] [--loaded MOD,...] [--with-deps] [--cmdline '...']\n"+
		"\t               [--modules-disabled] [--as-caller] [--syscall finit|init] [-f] [--init-fail ERRNO]\n"+
		"\t               [--json | --html | --svg=PIC] [-o FILE] [-v]\n"+
		"\t               FILE [PARAM...]\n"+
		"Explains, stage by stage, what the kernel's load_module would do with FILE, offline,\n"+
		"using gokmod's model of the target kernel, and ends with its verdict and a fix.\n"+
		kernelSpecHelp+
		"\t--loaded M,...    modules already loaded: in-tree names, or module files (a path\n"+
		"\t                  with a '/' or a .ko* name); each is loaded after what it needs\n"+
		"\t                  (modules.dep, or the symbols it needs from the others named\n"+
		"\t                  or from in-tree modules), whatever the order given\n"+
		"\t--with-deps       load what FILE needs first (modules.dep for an in-tree\n"+
		"\t                  module; else by its symbols, as for --loaded files)\n"+
		"\t-f, --force       ignore vermagic and symbol versions, as insmod -f\n"+
		syscallHelp+
		"\t--json            one JSON object instead of text\n"+
		"\t--html            one self-contained HTML page (no script, nothing fetched)\n"+
		"\t--svg=PIC         one SVG picture: memory, symbols or list\n"+
		"\t-o FILE           write the page or picture to FILE instead of standard output\n"+
		"\t-v, --verbose     say what each stage does and why\n"+
		"\t--init-fail ERRNO the module's init returns -ERRNO (the model cannot run it;\n"+
		"\t                  it assumes success), e.g. ENODEV for missing hardware\n"+
		"FILE may be a path or the name of an in-tree module. Something that is not a regular\n"+
		"file (a FIFO, a device, a directory) gets the kernel's EINVAL, from kernel_read_file.\n"+
		"Exit status: 0 the module would load; 1 it would not; 2 a usage or input error (a\n"+
		"bad option, no kernel, a FILE or --loaded module that cannot be read or loaded).\n")
}

// stageWords are the names the explanation gives the kernel functions it walks through.
// Built on first use: as a map literal every tool run built it at package
// initialization, though only explain reads it.
var stageWords = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"insmod": "insmod (user space)", "sys_ni_syscall": "system call", "may_init_module": "permission", "kernel_read_file": "copy", "copy_module_from_user": "copy",
		"module_decompress": "copy", "module_sig_check": "signature", "mod_verify_sig": "signature", "elf_validity_check": "ELF check",
		"elf_validity_cache_copy": "ELF check", "setup_load_info": "convenience variables",
		"blacklisted": "blacklist", "rewrite_section_headers": "section headers",
		"check_modstruct_version": "modinfo", "check_modinfo": "modinfo", "layout_and_allocate": "layout",
		"add_unformed_module": "module list", "module_patient_check_exists": "module list",
		"find_module_sections": "sections", "simplify_symbols": "symbol resolution",
		"apply_relocations": "relocations", "complete_formation": "module list", "parse_args": "arguments",
		"mod_sysfs_setup": "sysfs", "do_init_module": "init", "prepare_coming_module": "notifiers",
		"check_module_license_and_versions": "license", "percpu_modalloc": "per-cpu",
		"module_augment_kernel_taints": "taints", "check_export_symbol_versions": "symbol versions",
		"module_frob_arch_sections": "arch sections", "module_finalize": "arch finalize",
	}
})

// onOff picks the words for a choice.
func onOff(b bool, on, off string) string {
	if b {
		return on
	}
	return off
}

// Explanation is `gokmod explain --json`.
type Explanation struct {
	Kernel      string           `json:"kernel"`
	File        string           `json:"file"`
	Params      string           `json:"params"`
	Preloaded   []string         `json:"preloaded"`
	Stages      []ExplainStage   `json:"stages"`
	Sections    []ExplainSection `json:"sections"`
	Symbols     []load.SymbolUse `json:"symbols"`
	Relocations map[string]int   `json:"relocations"`
	// PLT is arm64's module PLT reservation (absent on x86_64).
	PLT      *load.PLTCount `json:"plt,omitempty"`
	Result   string         `json:"result"`
	Log      []string       `json:"log"`
	Taint    string         `json:"taint"`
	CoreSize uint32         `json:"coresize"`
	InitSize uint32         `json:"initsize"`
	Fix      []string       `json:"fix"`
	Assumed  []string       `json:"assumed"`
	// Sources names the file each fact about the kernel came from (kernel.Sources).
	Sources []kernel.Source `json:"sources"`

	// KernelSource says which kernel --kernel chose and where its files are.
	KernelSource string `json:"kernel_source"`
	// Model is the followed version of load_module used, and whether it is exact.
	Model ModelVersion `json:"model"`
	// Notes are what the prediction could not know (see modelTarget.Notes).
	Notes []string `json:"notes"`
	// Syscall is what was predicted: "insmod" (the tool, its fallbacks included),
	// "finit_module" or "init_module" (one raw call, --syscall).
	Syscall string `json:"syscall"`
}

// ExplainStage is one kernel function on the path.
type ExplainStage struct {
	Stage string `json:"stage"`
	Func  string `json:"func"`
	Note  string `json:"note"`
	Errno string `json:"errno,omitempty"`
}

// ExplainSection is one SHF_ALLOC section's place in module memory.
type ExplainSection struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Offset uint32 `json:"offset"`
	Size   uint64 `json:"size"`
}

func explain(e *Env, args []string) int {
	parsed, operands, status, ok := e.getopt(args, append([]cli.Option{
		{Long: "loaded", HasArg: true}, {Long: "with-deps"},
		{Short: 'f', Long: "force"}, {Long: "json"}, {Long: "syscall", HasArg: true},
		{Long: "html"}, {Long: "svg", HasArg: true}, {Short: 'o', HasArg: true}, {Short: 'v', Long: "verbose"},
		{Long: "init-fail", HasArg: true}}, targetOptions...), explainHelp)
	if !ok {
		return usageStatus(status)
	}
	var ts targetSpec
	var loaded []string
	var withDeps, force, asJSON bool
	var initFail unix.Errno // --init-fail: what the module's init returns, negated
	mode := callInsmod
	var out reportOpts
	for _, p := range parsed {
		if out.parse(p.Name, p.Arg) {
			continue
		}
		switch p.Name {
		case "syscall":
			mode = p.Arg
		case "loaded":
			loaded = append(loaded, strings.Split(p.Arg, ",")...)
		case "with-deps":
			withDeps = true
		case "force":
			force = true
		case "json":
			asJSON = true
		case "init-fail":
			n, ok := errnoByName(p.Arg)
			if !ok {
				e.Errorf("--init-fail: want an errno name (e.g. ENODEV), not %q\n", p.Arg)
				return exitInputError
			}
			initFail = n
		default:
			ts.option(p)
		}
	}
	if len(operands) == 0 {
		explainHelp(e.Stderr)
		return exitInputError
	}
	if err := checkSyscall(mode, force); err != nil {
		e.Errorf("%v\n", err)
		return exitInputError
	}
	t, err := e.loadTarget(ts)
	if err != nil {
		e.Errorf("%v\n", err)
		return exitInputError
	}
	k := t.K
	file, err := findModule(k, operands[0])
	if err != nil {
		e.Errorf("%v\n", err)
		return exitInputError
	}
	m := load.New(k, t.bootOpts())
	pre, err := preload(m, k, loaded, file, withDeps)
	if err != nil {
		e.Errorf("%v\n", err)
		return exitInputError
	}
	m.Opts = t.Opts // the preloaded modules came in before modules_disabled, or as root
	if initFail != 0 {
		// The model cannot run init: what it would return (no hardware, say) is told.
		target := kmod.NameFromPath(file)
		m.Opts.InitResult = func(name string) int {
			if name == target {
				return -int(initFail)
			}
			return 0
		}
	}
	params := strings.Join(operands[1:], " ")
	before, taintBefore := m.Modules(), m.Taint()
	r, err := t.predictLoad(m, mode, file, params, force)
	if err != nil {
		e.Errorf("%v\n", err)
		return exitInputError
	}
	x := describe(k, file, params, pre, r)
	x.KernelSource, x.Model, x.Notes = t.Describe(), t.modelVersion(), append([]string{}, t.Notes...)
	x.Syscall = syscallName(mode)
	run := newReportRun(k, x, r, before, m.Modules(), taintBefore)
	if out.picture() {
		if err := out.write(e, run); err != nil {
			e.Errorf("%v\n", err)
			return exitInputError
		}
	} else if asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(x)
	} else {
		printExplanation(e.Stdout, x, run, out.verbose)
	}
	if x.Result != "ok" {
		return exitWouldFail
	}
	return exitLoads
}

// findModule is FILE, or the file of an in-tree module of k by that name. Anything that
// exists under that path is FILE (a FIFO, a dangling or looping symbolic link too: the
// model, or the error reading it, says what it is).
func findModule(k *kernel.Kernel, file string) (string, error) {
	if _, err := os.Lstat(file); err == nil {
		return file, nil
	}
	if p, ok := k.InTree[strings.ReplaceAll(file, "-", "_")]; ok {
		return path.Join(k.ModDir, p), nil
	}
	return "", fmt.Errorf("%s: no such file, nor an in-tree module of %s", file, k.Release)
}

// isFileOperand says whether a --loaded entry names a file rather than an in-tree module:
// it has a '/' or a module file's suffix.
func isFileOperand(s string) bool {
	return strings.Contains(s, "/") || isModuleName(filepath.Base(s))
}

// preload loads the --loaded modules into the model, each after what it needs (and, with
// withDeps, what file needs), and returns their names in load order. A module that
// does not load (other than as already loaded) is an error naming it.
func preload(m *load.Model, k *kernel.Kernel, names []string, file string, withDeps bool) ([]string, error) {
	l := newModelLoader(k, m)
	var done []string
	var failed error
	fail := func(name, p string, r *load.Result, err error) {
		switch {
		case failed != nil:
		case err != nil:
			failed = fmt.Errorf("--loaded: %w", err)
		case r.Err != nil && !errors.Is(r.Err, unix.EEXIST):
			failed = fmt.Errorf("--loaded: %s (%s) does not load: %v %v", name, p, r.Err, r.LogText())
		case r.Err == nil:
			done = append(done, name)
		}
	}
	l.onFile = func(f *namedFile, r *load.Result, err error) { fail(f.name, f.path, r, err) }
	l.onInTree = fail
	var files []*namedFile
	var inTree []string
	for _, n := range names {
		switch {
		case n == "":
		case isFileOperand(n):
			if _, err := os.Lstat(n); err != nil {
				return nil, fmt.Errorf("--loaded: %w", err)
			}
			files = append(files, l.add(n))
		default:
			n = strings.ReplaceAll(n, "-", "_")
			if _, ok := k.InTree[n]; !ok {
				return nil, fmt.Errorf("--loaded: no in-tree module %q in %s", n, k.ModDir)
			}
			inTree = append(inTree, n)
		}
	}
	target := l.scan(file)
	for _, f := range files {
		l.loadFile(f)
	}
	for _, n := range inTree {
		if n != target.name {
			l.loadInTree(n)
		}
	}
	if withDeps {
		l.loadDeps(target)
	}
	if failed != nil {
		return nil, failed
	}
	return done, nil
}

func describe(k *kernel.Kernel, file, params string, pre []string, r *load.Result) *Explanation {
	x := &Explanation{Kernel: k.Release, File: file, Params: params, Preloaded: append([]string{}, pre...),
		Symbols: append([]load.SymbolUse{}, r.Symbols...), Relocations: r.Relocs, PLT: r.PLT, Log: r.LogText(),
		Taint: r.Taint.String(), Assumed: append([]string{}, r.Uncertain...), Fix: []string{}, Result: "ok",
		Sources: k.Sources.List()}
	if x.Log == nil {
		x.Log = []string{}
	}
	if x.Relocations == nil {
		x.Relocations = map[string]int{}
	}
	for _, s := range r.Trace {
		st := ExplainStage{Stage: stageWords()[s.Func], Func: s.Func, Note: s.Note}
		if st.Stage == "" && strings.HasPrefix(s.Func, "elf_validity") {
			st.Stage = "ELF check"
		} else if st.Stage == "" {
			st.Stage = s.Func
		}
		if s.Errno != 0 {
			st.Errno = unix.ErrnoName(s.Errno)
		}
		x.Stages = append(x.Stages, st)
	}
	if l := r.Layout; l != nil {
		for _, p := range l.Sections {
			x.Sections = append(x.Sections, ExplainSection{p.Name, l.RegionName(p.Region), p.Offset, p.Size})
		}
		x.CoreSize, x.InitSize = l.CoreSize(), l.InitSize()
	}
	if r.Module != nil { // what /sys/module shows: init memory is freed once init returns
		x.CoreSize, x.InitSize = r.Module.CoreSize, r.Module.InitSize
	}
	if r.Err != nil {
		x.Result = simop.ErrnoName(r.Err)
	}
	x.Fix = fixes(k, file, r)
	return x
}

// fixes turns the verdict into something to do.
func fixes(k *kernel.Kernel, file string, r *load.Result) []string {
	out := refusalFixes(r)
	owners := map[string][]string{}
	var order []string
	for _, s := range r.Symbols {
		if s.Owner != "" {
			continue
		}
		if sym, ok := k.ModuleExports[s.Name]; ok {
			o := path.Base(sym.Owner)
			if owners[o] == nil {
				order = append(order, o)
			}
			owners[o] = append(owners[o], s.Name)
		} else if strings.HasPrefix(s.Verdict, "GPL-only") {
			out = append(out, fmt.Sprintf("%s is exported GPL-only: the module's license must be GPL-compatible", s.Name))
		}
	}
	name := strings.SplitN(path.Base(file), ".", 2)[0]
	for _, o := range order {
		out = append(out, fmt.Sprintf("load %s first (it exports %s) — gokmod modprobe %s", o, strings.Join(owners[o], ", "), name))
	}
	for _, l := range r.LogText() {
		switch {
		case strings.Contains(l, "version magic"):
			out = append(out, "rebuild the module against this kernel's headers (vermagic differs), or force it with gokmod insmod --force-vermagic at your own risk")
		case strings.Contains(l, "disagrees about version of symbol"):
			out = append(out, "rebuild the module against this kernel (a symbol's CRC differs), or force it with gokmod insmod --force-modversion at your own risk")
		case strings.Contains(l, "but does not import it"):
			out = append(out, "add MODULE_IMPORT_NS(...) for the namespace named above to the module's source")
		case strings.Contains(l, "unknown parameter"):
			out = append(out, "check the parameter names: gokmod modinfo -p "+file)
		case strings.Contains(l, "unsafe module parameters is restricted"):
			out = append(out, "a hardware parameter (module_param_hw: I/O ports, IRQs, DMA, addresses) is refused under lockdown: load the module without it and let the driver find its hardware")
			return append(out, signatureFixes(k, file, r)...)
		case strings.Contains(l, "invalid for parameter"):
			out = append(out, "check the parameter's type: gokmod modinfo -p "+file)
		}
	}
	if errors.Is(r.Err, unix.EEXIST) {
		out = append(out, "a module of that name is already loaded: gokmod rmmod it first")
	}
	return append(out, signatureFixes(k, file, r)...)
}

func printExplanation(w io.Writer, x *Explanation, run *report.Run, verbose bool) {
	fmt.Fprintf(w, "What Linux %s does on %s %s", x.Kernel, orInsmod(x.Syscall), x.File)
	if x.Params != "" {
		fmt.Fprintf(w, " %s", x.Params)
	}
	fmt.Fprintf(w, "\n(gokmod's model of load_module; already loaded: %s)\n", orNone(x.Preloaded))
	printTarget(w, x)
	printSources(w, x.Sources)
	for i, s := range x.Stages {
		mark := ""
		if s.Errno != "" {
			mark = "  <-- " + s.Errno
		}
		note := s.Note
		if note == "" && s.Errno == "" {
			note = "ok"
		}
		fmt.Fprintf(w, "%2d. %-24s %s: %s%s\n", i+1, s.Stage, s.Func, note, mark)
		if why := report.Why(s.Func); verbose && why != "" {
			fmt.Fprintf(w, "    %-24s %s\n", "", why)
		}
	}
	if len(x.Sections) > 0 {
		fmt.Fprintf(w, "\nLayout: where each SHF_ALLOC section goes\n  %-32s %-18s %10s %10s\n", "section", "memory", "offset", "size")
		for _, s := range x.Sections {
			fmt.Fprintf(w, "  %-32s %-18s %#10x %#10x\n", s.Name, s.Region, s.Offset, s.Size)
		}
		fmt.Fprintf(w, "  coresize %d, initsize %d\n", x.CoreSize, x.InitSize)
	}
	if p := x.PLT; p != nil {
		fmt.Fprintf(w, "\nModule PLTs (arm64 module_frob_arch_sections): %d core entries (.plt %d bytes), %d init entries (.init.plt %d bytes)\n",
			p.Core, p.CoreBytes(), p.Init, p.InitBytes())
		fmt.Fprintf(w, "  assumed: %s, %s\n", onOff(p.Erratum843419, "a CPU with erratum 843419 (Cortex-A53 r0p0-r0p4; --erratum-843419)", "a CPU without erratum 843419 (QEMU's; --erratum-843419 models one)"),
			onOff(p.KASLR, "KASLR on (--cmdline nokaslr turns it off)", "KASLR off"))
	}
	if len(x.Symbols) > 0 {
		fmt.Fprintf(w, "\nSymbol resolution: %d undefined symbols\n", len(x.Symbols))
		for _, s := range x.Symbols {
			owner := s.Owner
			if owner == "" {
				owner = "NOT FOUND"
			}
			extra := ""
			if s.GPLOnly {
				extra += " GPL-only"
			}
			if s.Namespace != "" {
				extra += " namespace " + s.Namespace
			}
			fmt.Fprintf(w, "  %-40s %-12s %s%s\n", s.Name, owner, s.Verdict, extra)
		}
	}
	if len(x.Relocations) > 0 {
		var types []string
		for t := range x.Relocations {
			types = append(types, t)
		}
		sort.Strings(types)
		fmt.Fprintf(w, "\nRelocations applied:")
		for _, t := range types {
			fmt.Fprintf(w, " %s %d", t, x.Relocations[t])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nVerdict: %s", x.Result)
	if x.Result != "ok" {
		if n, ok := errnoByName(x.Result); ok {
			fmt.Fprintf(w, " (%s)", strerror(n))
		}
	}
	var log []string
	for _, l := range x.Log {
		log = append(log, printable(l))
	}
	fmt.Fprintf(w, "\n  kernel log:%s\n", orNoneLines(log))
	fmt.Fprintf(w, "  taint: %q\n  coresize %d, initsize %d\n", x.Taint, x.CoreSize, x.InitSize)
	run.WriteText(w)
	for _, f := range x.Fix {
		fmt.Fprintf(w, "  fix: %s\n", f)
	}
	for _, a := range x.Assumed {
		fmt.Fprintf(w, "  assumed: %s\n", a)
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func orNoneLines(s []string) string {
	if len(s) == 0 {
		return " (nothing)"
	}
	return "\n    " + strings.Join(s, "\n    ")
}

// errnoByName inverts simop.ErrnoName: a name unix.ErrnoName knows, or "E" and the
// number for one it does not (a kernel-internal errno an init returned, e.g. "E292" from
// tcrypt on 5.10), which the fidelity harness passes back to sim.
func errnoByName(name string) (unix.Errno, bool) {
	if name == "" {
		return 0, false // unix.ErrnoName has no name for some numbers (41, 58): "" is none
	}
	for n := unix.Errno(1); n < 200; n++ {
		if unix.ErrnoName(n) == name {
			return n, true
		}
	}
	if num, ok := strings.CutPrefix(name, "E"); ok {
		if n, err := strconv.Atoi(num); err == nil && n > 0 && n < 4096 && strconv.Itoa(n) == num {
			return unix.Errno(n), true
		}
	}
	return 0, false
}

// printSources prints where the model's facts about the kernel came from.
func printSources(w io.Writer, src []kernel.Source) {
	fmt.Fprintf(w, "The kernel, from:\n")
	for _, s := range src {
		fmt.Fprintf(w, "  %-22s %s\n", s.Fact+":", s.From)
	}
	fmt.Fprintln(w)
}
