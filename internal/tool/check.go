package tool

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"gokmod/internal/cli"
	"gokmod/internal/simop"
	"gokmod/kernel"
	"gokmod/ko"
	"gokmod/load"
)

func checkHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\tgokmod check [--kernel SPEC [--release REL]] [--cmdline '...'] [--modules-disabled] [--as-caller]\n"+
		"\t             [--syscall finit|init] [--json] FILE|DIR...\n"+
		"Predicts, for every module given, whether the kernel would load it, with every check\n"+
		"load_module makes, in one model of the target kernel where modules stay loaded. Each\n"+
		"module is loaded after the modules it needs, whatever the order they were given in:\n"+
		"an in-tree module after its modules.dep dependencies; any other file after the files\n"+
		"given with it that export symbols it needs, or else the in-tree modules that do.\n"+
		"A DIR is searched for module files (*.ko, *.ko.gz, *.ko.xz, *.ko.zst). Prints one line\n"+
		"per module that does not load cleanly, then a line naming the kernel, any notes, and a\n"+
		"summary of counts by verdict; a path that cannot be read is reported on its own line on\n"+
		"stderr, and the others are still checked.\n"+
		kernelSpecHelp+syscallHelp+
		"\t--json            one JSON object per module given, the summary on stderr\n"+
		"Exit status: 0 every module would load; 1 some would not; 2 a usage or input error\n"+
		"(a bad option, no kernel, a path that cannot be read), even if others were checked.\n")
}

// Exit statuses of check and explain.
const (
	exitLoads      = 0 // every module would load
	exitWouldFail  = 1 // some module would not
	exitInputError = 2 // usage, kernel or input error
)

// CheckVerdict is one module in `gokmod check --json`.
type CheckVerdict struct {
	Module string   `json:"module"`
	File   string   `json:"file"`
	Result string   `json:"result"`
	Taint  string   `json:"taint,omitempty"` // taints the module itself brings
	Log    []string `json:"log,omitempty"`
	// CoreSize and InitSize are /sys/module/NAME/coresize and initsize as the load
	// laid them out (initsize before init is freed); absent when layout was not reached.
	CoreSize uint32 `json:"coresize,omitempty"`
	InitSize uint32 `json:"initsize,omitempty"`

	// Refused says why the call was refused before the module was looked at (no
	// CONFIG_MODULES, modules_disabled, no CAP_SYS_MODULE).
	Refused string `json:"refused,omitempty"`
}

// check runs every module through one model of the target kernel: modules load in
// dependency order and stay loaded, so each is judged after its dependencies, as modprobe
// would load it.
func check(e *Env, args []string) int {
	parsed, operands, status, ok := e.getopt(args, append([]cli.Option{{Long: "json"}, {Long: "syscall", HasArg: true}}, targetOptions...), checkHelp)
	if !ok {
		return usageStatus(status)
	}
	var ts targetSpec
	asJSON := false
	mode := callInsmod
	for _, p := range parsed {
		switch p.Name {
		case "syscall":
			mode = p.Arg
		case "json":
			asJSON = true
		default:
			ts.option(p)
		}
	}
	if len(operands) == 0 {
		checkHelp(e.Stderr)
		return exitInputError
	}
	if err := checkSyscall(mode, false); err != nil {
		e.Errorf("%v\n", err)
		return exitInputError
	}
	t, err := e.loadTarget(ts)
	if err != nil {
		e.Errorf("%v\n", err)
		return exitInputError
	}
	k := t.K
	inputErrors := 0
	report := func(err error) {
		e.Errorf("%v\n", err)
		inputErrors++
	}
	files := moduleFiles(operands, report)
	warmSignatures(k, files)
	l := newModelLoader(k, load.New(k, t.Opts))
	l.loadPath = func(p string) (*load.Result, error) { return t.predictLoad(l.m, mode, p, "", false) }
	verdicts := map[*namedFile]*CheckVerdict{}
	l.onFile = func(f *namedFile, r *load.Result, err error) {
		if err != nil {
			report(err)
			return
		}
		verdicts[f] = checkVerdict(f.name, f.path, l.before, r)
	}
	var named []*namedFile
	for _, p := range files {
		named = append(named, l.add(p))
	}
	for _, f := range named {
		l.loadFile(f)
	}
	var out []*CheckVerdict
	seen := map[*namedFile]bool{}
	for _, f := range named {
		if v := verdicts[f]; v != nil && !seen[f] {
			seen[f] = true
			out = append(out, v)
		}
	}
	counts := map[string]int{}
	w := newStdout(e.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, v := range out {
		key := v.Result
		if v.Result == "ok" && v.Taint != "" {
			key = "ok, taints " + v.Taint
		} else if v.Refused != "" {
			key += " (" + v.Refused + ")"
		}
		counts[key]++
		switch {
		case asJSON:
			enc.Encode(v)
		case key != "ok":
			fmt.Fprintf(w, "%s: %s", v.File, key)
			for _, l := range v.Log {
				fmt.Fprintf(w, "\n    %s", printable(l))
			}
			fmt.Fprintln(w)
		}
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return counts[keys[i]] > counts[keys[j]] || counts[keys[i]] == counts[keys[j]] && keys[i] < keys[j]
	})
	summary := e.Stdout
	if asJSON {
		summary = e.Stderr
	}
	w.Flush()
	fmt.Fprintf(summary, "kernel: %s\n", t.Describe())
	t.printNotes(summary, "")
	fmt.Fprintf(summary, "%d modules checked against %s:", len(out), k.Release)
	for _, key := range keys {
		fmt.Fprintf(summary, " %s %d;", key, counts[key])
	}
	if inputErrors > 0 {
		fmt.Fprintf(summary, " not read %d;", inputErrors)
	}
	fmt.Fprintln(summary)
	if inputErrors > 0 {
		return exitInputError
	}
	for _, v := range out {
		if v.Result != "ok" {
			return exitWouldFail
		}
	}
	return exitLoads
}

// usageStatus is check's and explain's exit status after getopt stopped them: 0 after
// --help or --version, 2 for a bad option.
func usageStatus(status int) int {
	if status == 0 {
		return 0
	}
	return exitInputError
}

// checkVerdict is the model's verdict on one module file, loaded when the kernel's
// taints were before.
func checkVerdict(name, path string, before load.Taints, r *load.Result) *CheckVerdict {
	v := &CheckVerdict{Module: name, File: path, Result: "ok", Log: r.LogText(), Refused: string(r.Refused)}
	if r.Err != nil {
		v.Result = simop.ErrnoName(r.Err)
	}
	if r.Layout != nil {
		v.CoreSize, v.InitSize = r.Layout.CoreSize(), r.Layout.InitSize()
	}
	if r.Module != nil {
		v.Taint = r.Module.Taint.ModuleString()
	} else if added := r.Taint &^ before; added != 0 {
		v.Taint = added.String()
	}
	return v
}

// warmSignatures verifies the signatures of the plain module files (and of the in-tree
// dependencies check will load with them) on every core: the model's sequential pass then
// finds the verdicts remembered. RSA verification is most of the model's cost. Files are
// read as the model reads them (ko.ReadFile): a FIFO is skipped, not waited on.
func warmSignatures(k *kernel.Kernel, files []string) {
	todo := append([]string{}, files...)
	for _, p := range k.InTree {
		todo = append(todo, filepath.Join(k.ModDir, p))
	}
	seen := map[string]bool{}
	ch := make(chan string)
	var wg sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ch {
				if b, err := ko.ReadFile(p); err == nil {
					load.WarmSignature(k, b)
				}
			}
		}()
	}
	for _, p := range todo {
		if !seen[p] && strings.HasSuffix(p, ".ko") {
			seen[p] = true
			ch <- p
		}
	}
	close(ch)
	wg.Wait()
}

// moduleSuffixes are the names check takes from a directory: what kbuild installs and
// depmod reads, not kbuild's other files (.mod, .mod.c, .o, .cmd, Module.symvers).
var moduleSuffixes = []string{".ko", ".ko.gz", ".ko.xz", ".ko.zst"}

// isModuleName says whether a file name is a module's by its suffix: "x.ko", not
// kbuild's ".x.ko.cmd".
func isModuleName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	for _, s := range moduleSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

// moduleFiles expands directories into the module files below them, sorted; a file
// named is taken whatever its name. A path that cannot be examined is reported (the
// error names it) and skipped.
func moduleFiles(args []string, report func(error)) []string {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			report(err)
			continue
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		var found []string
		filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			switch {
			case err != nil:
				report(err) // and go on with what could be read
			case !d.IsDir() && isModuleName(d.Name()):
				found = append(found, p)
			}
			return nil
		})
		sort.Strings(found)
		files = append(files, found...)
	}
	return files
}
