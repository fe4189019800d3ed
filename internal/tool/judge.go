package tool

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/simop"
	"gokmod/ko"
)

func judgeHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\tgokmod judge SCRIPT\n"+
		"Runs a `gokmod sim` script against the RUNNING kernel, one raw system call per line,\n"+
		"and prints the real outcome of each as the same JSON lines the model prints.\n"+
		"It loads modules for real: `make fidelity` runs it inside a QEMU guest only.\n")
}

// judge is the real kernel's side of `make fidelity`.
func judge(e *Env, args []string) int {
	_, operands, status, ok := e.getopt(args, nil, judgeHelp)
	if !ok {
		return status
	}
	if len(operands) != 1 {
		judgeHelp(e.Stderr)
		return 1
	}
	var in io.Reader = os.Stdin
	if operands[0] != "-" {
		f, err := os.Open(operands[0])
		if err != nil {
			e.Errorf("%v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	ops, err := simop.Parse(in, operands[0])
	if err != nil {
		e.Errorf("%v\n", err)
		return 1
	}
	w := bufio.NewWriter(e.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	for _, op := range ops {
		out := e.judgeOne(op)
		if err := enc.Encode(out); err != nil {
			e.Errorf("%v\n", err)
			return 1
		}
		w.Flush()
	}
	return 0
}

func (e *Env) judgeOne(op simop.Op) simop.Outcome {
	out := simop.Outcome{Op: op.Kind, Arg: op.Arg, Params: op.Params, Log: []string{}}
	before := e.loadedSet()
	var call func() error
	switch op.Kind {
	case simop.Insmod, simop.InsmodForce, simop.Init:
		p := op.Resolve(e.Host.ModulesDir())
		f, err := os.Open(p)
		if err != nil {
			out.Result = errnoName(err)
			out.Taint = e.taint()
			return out
		}
		defer f.Close()
		if op.Kind == simop.Init {
			img, err := io.ReadAll(f)
			if err != nil {
				out.Result = errnoName(err)
				out.Taint = e.taint()
				return out
			}
			call = func() error { return e.Host.Sys.InitModule(img, op.Params) }
		} else {
			call = func() error { return e.Host.Sys.FinitModule(int(f.Fd()), op.Params, op.FinitFlags()) }
		}
	default:
		call = func() error { return e.Host.Remove(op.Arg, op.Kind == simop.RmmodForce) }
	}
	recs, err := e.Host.WithKmsg(call)
	for _, r := range recs {
		out.Log = append(out.Log, r.Msg)
	}
	out.Result = "ok"
	if err != nil {
		out.Result = errnoName(err)
	}
	out.Taint = e.taint()
	if err == nil && op.IsLoad() {
		// The module's own name, from its file: a module's init may load others
		// (request_module), so "the new line in /proc/modules" can be another one.
		name := ""
		if f, ferr := ko.Open(op.Resolve(e.Host.ModulesDir())); ferr == nil {
			if tm, terr := f.ThisModule(); terr == nil && tm.Name != "" {
				name = tm.Name
			}
		}
		for _, m := range e.loadedList() {
			if name == "" && !before[m] {
				name = m
			}
		}
		if name != "" {
			e.describe(&out, name)
		}
	}
	return out
}

// describe fills in what /sys/module/NAME shows right after a load.
func (e *Env) describe(out *simop.Outcome, name string) {
	out.Name = name
	read := func(f string) (int64, bool) {
		b, err := os.ReadFile(e.Host.Path("/sys/module/" + name + "/" + f))
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil
	}
	if n, ok := read("coresize"); ok {
		out.CoreSize = &n
	}
	if n, ok := read("initsize"); ok {
		out.InitSize = &n
	}
	if n, ok := read("refcnt"); ok {
		r := int(n)
		out.RefCnt = &r
	}
	holders, _ := e.Host.Holders(name)
	out.Holders = append([]string{}, holders...)
}

func (e *Env) loadedList() []string {
	mods, _ := e.Host.LoadedModules()
	names := make([]string, len(mods))
	for i, m := range mods {
		names[i] = m.Name
	}
	return names
}

func (e *Env) loadedSet() map[string]bool {
	set := map[string]bool{}
	for _, n := range e.loadedList() {
		set[n] = true
	}
	return set
}

func (e *Env) taint() string {
	b, err := os.ReadFile(e.Host.Path("/proc/sys/kernel/tainted"))
	if err != nil {
		return "?"
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return "?"
	}
	return simop.TaintString(n)
}

// errnoName names an error's errno as x/sys/unix does ("ENOENT").
func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
		return fmt.Sprintf("E%d", int(errno))
	}
	return "EIO"
}
