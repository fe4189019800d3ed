package tool

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/internal/simop"
	"gokmod/ko"
	"gokmod/load"
)

func simHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\tgokmod sim [--kernel SPEC [--release REL]] [--cmdline '...'] [--modules-disabled] [--as-caller] SCRIPT|-\n"+
		"Runs module system calls through the model of one kernel, keeping its state (loaded\n"+
		"modules, taints, once-per-boot messages) across the script's lines:\n"+
		"\tinsmod PATH [PARAM...]        finit_module (flag COMPRESSED_FILE for .xz/.zst/.gz)\n"+
		"\tinsmod-force PATH [PARAM...]  the same, ignoring modversions and vermagic\n"+
		"\tinit PATH [PARAM...]          init_module with the file's bytes (a regular file only:\n"+
		"\t                              anything else is EINVAL, without a system call)\n"+
		"\trmmod NAME | rmmod-force NAME delete_module (O_NONBLOCK [|O_TRUNC])\n"+
		"PATH is relative to the kernel's /lib/modules/RELEASE unless absolute. One JSON line\n"+
		"per operation, in the format the test guests' judge prints from a real kernel.\n"+
		"When the model approximates the kernel's version, each line has \"model\": \"6.12 for 6.18.44\";\n"+
		"a call refused before the module is looked at has \"refused\" (no CONFIG_MODULES,\n"+
		"modules_disabled, no CAP_SYS_MODULE). The kernel chosen and any notes go to stderr.\n"+
		"\t--init-fail NAME=ERRNO,...  make those modules' init fail (the model assumes success)\n"+
		kernelSpecHelp)
}

// sim is the model's side of `make fidelity`.
func sim(e *Env, args []string) int {
	parsed, operands, status, ok := e.getopt(args, append([]cli.Option{{Long: "init-fail", HasArg: true}}, targetOptions...), simHelp)
	if !ok {
		return status
	}
	var ts targetSpec
	initFails := map[string]unix.Errno{}
	for _, p := range parsed {
		switch p.Name {
		default:
			ts.option(p)
		case "init-fail":
			for _, kv := range strings.Split(p.Arg, ",") {
				name, errno, _ := strings.Cut(kv, "=")
				n, ok := errnoByName(errno)
				if !ok || name == "" {
					e.Errorf("--init-fail: want NAME=ERRNO (e.g. e1000e=ENODEV), not %q\n", kv)
					return 1
				}
				initFails[strings.ReplaceAll(name, "-", "_")] = n
			}
		}
	}
	if len(operands) != 1 {
		simHelp(e.Stderr)
		return 1
	}
	ops, err := readScript(operands[0])
	if err != nil {
		e.Errorf("%v\n", err)
		return 1
	}
	t, err := e.loadTarget(ts)
	if err != nil {
		e.Errorf("%v\n", err)
		return 1
	}
	fmt.Fprintf(e.Stderr, "%s: kernel: %s\n", e.Prog, t.Describe())
	t.printNotes(e.Stderr, e.Prog+": ")
	// The model cannot run a module's init: it returns 0 unless told otherwise.
	opts := t.Opts
	opts.InitResult = func(name string) int { return -int(initFails[name]) }
	m := load.New(t.K, opts)
	w := bufio.NewWriter(e.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, op := range ops {
		o := simOne(m, op)
		o.Model = t.simModel()
		if err := enc.Encode(o); err != nil {
			e.Errorf("%v\n", err)
			return 1
		}
	}
	return 0
}

func readScript(name string) ([]simop.Op, error) {
	if name == "-" {
		return simop.Parse(os.Stdin, "stdin")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return simop.Parse(f, name)
}

// simOne performs one operation on the model and reports it as judge would.
func simOne(m *load.Model, op simop.Op) simop.Outcome {
	out := simop.Outcome{Op: op.Kind, Arg: op.Arg, Params: op.Params, Log: []string{}}
	var r *load.Result
	switch op.Kind {
	case simop.Rmmod, simop.RmmodForce:
		flags := load.DeleteNonblock
		if op.Kind == simop.RmmodForce {
			flags |= unix.O_TRUNC
		}
		r = m.Delete(op.Arg, flags)
	case simop.Init:
		// User space reads the file for init_module: only a regular file, never
		// blocking (a FIFO, a device or a directory is EINVAL, as judge reports it).
		img, err := ko.ReadFile(op.Resolve(m.K.ModDir))
		if err != nil {
			out.Result = simop.ErrnoName(err)
			out.Taint = m.Taint().String()
			return out
		}
		r = m.InitModule(img, op.Params)
	default:
		var err error
		if r, err = modelFinit(m, op.Resolve(m.K.ModDir), op.Params, load.Flags(op.FinitFlags())); err != nil {
			// The file cannot even be opened: no system call, as judge reports it.
			out.Result = simop.ErrnoName(err)
			out.Taint = m.Taint().String()
			return out
		}
	}
	out.Result = "ok"
	if r.Err != nil {
		var errno unix.Errno
		if errors.As(r.Err, &errno) {
			out.Result = simop.ErrnoName(errno)
		} else {
			out.Result = "EIO"
		}
	}
	out.Refused = string(r.Refused)
	out.Log = append(out.Log, r.LogText()...)
	out.Taint = r.Taint.String()
	if mod := r.Module; mod != nil && op.IsLoad() && r.Err == nil {
		cs, is := int64(mod.CoreSize), int64(mod.InitSize)
		rc := mod.RefCount
		out.Name, out.CoreSize, out.InitSize, out.RefCnt = mod.Name, &cs, &is, &rc
		out.Holders = append([]string{}, mod.Holders...)
	}
	return out
}
