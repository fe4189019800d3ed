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
	"gokmod/kernel"
	"gokmod/load"
)

func checkHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\tgokmod check [--kernel SPEC] [--cmdline '...'] [--json] FILE|DIR...\n"+
		"Predicts, for every module given (a directory is searched for *.ko*), whether the\n"+
		"kernel would load it, each after its modules.dep dependencies, with every check\n"+
		"load_module makes; prints one line per module that does not load cleanly, and a\n"+
		"summary of counts by verdict.\n")
}

// CheckVerdict is one module in `gokmod check --json`.
type CheckVerdict struct {
	Module string   `json:"module"`
	File   string   `json:"file"`
	Result string   `json:"result"`
	Taint  string   `json:"taint,omitempty"` // taints the module itself brings
	Log    []string `json:"log,omitempty"`
}

// check runs every module through one model of the target kernel: modules load in
// dependency order and stay loaded, so each is judged after its dependencies, as modprobe
// would load it.
func check(e *Env, args []string) int {
	parsed, operands, status, ok := e.getopt(args, []cli.Option{
		{Long: "kernel", HasArg: true}, {Long: "cmdline", HasArg: true}, {Long: "json"}}, checkHelp)
	if !ok {
		return status
	}
	var spec, cmdline string
	asJSON := false
	for _, p := range parsed {
		switch p.Name {
		case "kernel":
			spec = p.Arg
		case "cmdline":
			cmdline = p.Arg
		case "json":
			asJSON = true
		}
	}
	if len(operands) == 0 {
		checkHelp(e.Stderr)
		return 1
	}
	k, err := loadKernel(spec, cmdline)
	if err != nil {
		e.Errorf("%v\n", err)
		return 1
	}
	files, err := moduleFiles(operands)
	if err != nil {
		e.Errorf("%v\n", err)
		return 1
	}
	warmSignatures(k, files)
	c := &checker{k: k, m: load.New(k, load.Options{}), verdicts: map[string]*CheckVerdict{}}
	var out []*CheckVerdict
	for _, f := range files {
		out = append(out, c.file(f))
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
	fmt.Fprintf(summary, "%d modules checked against %s:", len(out), k.Release)
	for _, key := range keys {
		fmt.Fprintf(summary, " %s %d;", key, counts[key])
	}
	fmt.Fprintln(summary)
	for _, v := range out {
		if v.Result != "ok" {
			return 1
		}
	}
	return 0
}

type checker struct {
	k        *kernel.Kernel
	m        *load.Model
	verdicts map[string]*CheckVerdict // by module name: each is loaded once
}

// file judges one module, loading its in-tree dependencies first.
func (c *checker) file(path string) *CheckVerdict {
	name := strings.ReplaceAll(strings.SplitN(filepath.Base(path), ".", 2)[0], "-", "_")
	if v, ok := c.verdicts[name]; ok && v.File == path {
		return v
	}
	for _, d := range c.k.Deps[name] {
		if _, done := c.verdicts[d]; !done {
			if p, ok := c.k.InTree[d]; ok {
				c.file(filepath.Join(c.k.ModDir, p))
			}
		}
	}
	v := &CheckVerdict{Module: name, File: path}
	c.verdicts[name] = v
	img, err := os.ReadFile(path)
	if err != nil {
		v.Result = errnoName(err)
		return v
	}
	var flags load.Flags
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		flags = load.CompressedFile
	}
	before := c.m.Taint()
	r := c.m.FinitModule(img, "", flags)
	v.Result, v.Log = "ok", r.LogText()
	if r.Err != nil {
		v.Result = errnoName(r.Err)
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
// finds the verdicts remembered. RSA verification is most of the model's cost.
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
				if b, err := os.ReadFile(p); err == nil {
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

// moduleFiles expands directories into the module files below them, sorted.
func moduleFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".ko") {
				found = append(found, p)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}
