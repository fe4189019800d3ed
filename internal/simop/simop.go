// Package simop is the contract between the load model and the real kernel: a script of
// module system calls, one per line, and the JSON line that reports each call's outcome.
// `gokmod sim` produces the outcomes from the model; judge (internal/cmd/judge, a test
// program run only inside the QEMU test guests) produces them from the real kernel;
// `make fidelity` compares the two field by field. Keep the format stable.
package simop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Kinds of operation. Each is one raw system call on the file exactly as it is: nothing
// is decompressed or stripped in user space (that policy belongs to insmod, not the kernel).
const (
	Insmod      = "insmod"       // finit_module(fd, params, 0 [|MODULE_INIT_COMPRESSED_FILE])
	InsmodForce = "insmod-force" // the same | IGNORE_MODVERSIONS | IGNORE_VERMAGIC
	Init        = "init"         // init_module(bytes of the file, params)
	Rmmod       = "rmmod"        // delete_module(name, O_NONBLOCK)
	RmmodForce  = "rmmod-force"  // delete_module(name, O_NONBLOCK|O_TRUNC)
)

// Op is one line of a script.
type Op struct {
	Kind   string
	Arg    string // a module path (relative to /lib/modules/RELEASE unless absolute) or name
	Params string // the parameters, space-joined as insmod joins them
	Line   int
}

// IsLoad tells whether the operation loads a module.
func (o Op) IsLoad() bool { return o.Kind == Insmod || o.Kind == InsmodForce || o.Kind == Init }

// Compressed tells whether finit_module gets MODULE_INIT_COMPRESSED_FILE: the file name
// says it is compressed.
func (o Op) Compressed() bool {
	switch path.Ext(o.Arg) {
	case ".xz", ".zst", ".gz":
		return o.Kind != Init
	}
	return false
}

// FinitFlags are the finit_module flags of a load by finit_module.
func (o Op) FinitFlags() int {
	f := 0
	if o.Compressed() {
		f |= 4 // MODULE_INIT_COMPRESSED_FILE
	}
	if o.Kind == InsmodForce {
		f |= 1 | 2 // MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC
	}
	return f
}

// Resolve gives the file's path on a system whose module directory is moddir.
func (o Op) Resolve(moddir string) string {
	if path.IsAbs(o.Arg) {
		return o.Arg
	}
	return path.Join(moddir, o.Arg)
}

// Parse reads a script: one operation per line; blank lines and lines starting with '#'
// are skipped.
func Parse(r io.Reader, name string) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		op := Op{Kind: f[0], Line: n}
		switch op.Kind {
		case Insmod, InsmodForce, Init:
			if len(f) < 2 {
				return nil, fmt.Errorf("%s:%d: %s needs a module path", name, n, op.Kind)
			}
			op.Arg, op.Params = f[1], strings.Join(f[2:], " ")
		case Rmmod, RmmodForce:
			if len(f) != 2 {
				return nil, fmt.Errorf("%s:%d: %s needs exactly one module name", name, n, op.Kind)
			}
			op.Arg = f[1]
		default:
			return nil, fmt.Errorf("%s:%d: unknown operation %q (want insmod, insmod-force, init, rmmod or rmmod-force)", name, n, op.Kind)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ops, nil
}

// Outcome is what one operation did, as one JSON line. Name, CoreSize, InitSize, RefCnt
// and Holders are set only when the operation loaded a module, as /sys/module/NAME shows
// right after the load.
type Outcome struct {
	Op       string   `json:"op"`
	Arg      string   `json:"arg"`
	Params   string   `json:"params"`
	Result   string   `json:"result"` // "ok" or the errno's name as x/sys/unix names it
	Log      []string `json:"log"`    // the loader's kernel log lines, message text only
	Taint    string   `json:"taint"`  // /proc/sys/kernel/tainted as letters, kernel's order
	Name     string   `json:"name,omitempty"`
	CoreSize *int64   `json:"coresize,omitempty"`
	InitSize *int64   `json:"initsize,omitempty"`
	RefCnt   *int     `json:"refcnt,omitempty"`
	Holders  []string `json:"holders,omitempty"`
	// Model is set by sim alone, when the model approximates the kernel's version:
	// the version modelled and the kernel's ("6.12 for 6.18.44"). judge never sets it.
	Model string `json:"model,omitempty"`
	// Refused is set by sim alone: why the call was refused before the module was
	// looked at ("no CONFIG_MODULES", "modules_disabled", "no CAP_SYS_MODULE"), which
	// the errno alone does not tell. judge never sets it.
	Refused string `json:"refused,omitempty"`
}

// taintLetters are the kernel's taint flags by bit, in its order (kernel/panic.c
// taint_flags[]); '?' marks bits the table does not name.
const taintLetters = "PFSRMBUDAWCIOELKXTNJ"

// TaintString turns /proc/sys/kernel/tainted into letters, e.g. 12288 -> "OE".
func TaintString(mask uint64) string {
	var b strings.Builder
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		if bit < len(taintLetters) {
			b.WriteByte(taintLetters[bit])
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// ErrnoName names an error's errno as x/sys/unix does ("ENOENT"), "E<n>" for one it has
// no name for, and "EIO" for an error that carries none. The model's side (gokmod sim)
// and the real kernel's (the guests' judge) name their results with it, so that they
// compare.
func ErrnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
		return fmt.Sprintf("E%d", int(errno))
	}
	return "EIO"
}
