// Command judge is the real kernel's side of the model's fidelity tests: it runs a
// `gokmod sim` script (package simop) against the RUNNING kernel, one raw module system
// call per line, and prints the real outcome of each as the JSON line `gokmod sim`
// prints from the model.
//
// It loads modules for real, so it is no part of the product: gokmod does not have it,
// internal/testing/vmtest builds it into its QEMU guests only (at vmtest.JudgePath), and it
// refuses to run anywhere but in such a guest (package testguest: the kernel command
// line word gokmod.testguest=1 and the initramfs's marker file, both).
//
// Usage: judge SCRIPT|-
//
// Exit status: 0 every operation was made and reported (whatever its result); 1 the
// script could not be read or an outcome not written; 2 a usage error, or not a test
// guest.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/internal/simop"
	"gokmod/internal/testing/testguest"
	"gokmod/kmod"
	"gokmod/ko"
)

const usage = "Usage: judge SCRIPT|-\n" +
	"Runs a `gokmod sim` script against the RUNNING kernel, one raw system call per line,\n" +
	"and prints the real outcome of each as the JSON lines the model prints. It loads\n" +
	"modules for real: it runs only inside internal/testing/vmtest's QEMU test guests.\n"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, kmod.NewHost(), testguest.Check))
}

// run is judge with its streams, host and guest check; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, h *kmod.Host, guest func() error) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") && args[0] != "-" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err := guest(); err != nil {
		fmt.Fprintf(stderr, "judge: refusing to run: %v\n"+
			"judge loads modules into the running kernel: it runs only inside internal/testing/vmtest's QEMU guests\n", err)
		return 2
	}
	in := stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "judge: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	ops, err := simop.Parse(in, args[0])
	if err != nil {
		fmt.Fprintf(stderr, "judge: %v\n", err)
		return 1
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	for _, op := range ops {
		if err := enc.Encode(judgeOne(h, op)); err != nil {
			fmt.Fprintf(stderr, "judge: %v\n", err)
			return 1
		}
		if err := w.Flush(); err != nil {
			fmt.Fprintf(stderr, "judge: %v\n", err)
			return 1
		}
	}
	return 0
}

// judgeOne makes one operation's system call and reports what the kernel did.
func judgeOne(h *kmod.Host, op simop.Op) simop.Outcome {
	out := simop.Outcome{Op: op.Kind, Arg: op.Arg, Params: op.Params, Log: []string{}}
	before := loadedSet(h)
	var call func() error
	switch op.Kind {
	case simop.Insmod, simop.InsmodForce:
		// O_NONBLOCK: a FIFO must not block the open. Whatever was opened goes to the
		// kernel, which answers for it (EINVAL for anything but a regular file).
		p := op.Resolve(h.ModulesDir())
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			out.Result = simop.ErrnoName(err)
			out.Taint = taint(h)
			return out
		}
		defer unix.Close(fd)
		call = func() error { return h.Sys.FinitModule(fd, op.Params, op.FinitFlags()) }
	case simop.Init:
		// User space reads the file: a regular file only (as `gokmod sim` does).
		img, err := ko.ReadFile(op.Resolve(h.ModulesDir()))
		if err != nil {
			out.Result = simop.ErrnoName(err)
			out.Taint = taint(h)
			return out
		}
		call = func() error { return h.Sys.InitModule(img, op.Params) }
	default:
		call = func() error { return h.Remove(op.Arg, op.Kind == simop.RmmodForce) }
	}
	recs, err := h.WithKmsg(call)
	for _, r := range recs {
		out.Log = append(out.Log, r.Msg)
	}
	out.Result = "ok"
	if err != nil {
		out.Result = simop.ErrnoName(err)
	}
	out.Taint = taint(h)
	if err == nil && op.IsLoad() {
		// The module's own name, from its file: a module's init may load others
		// (request_module), so "the new line in /proc/modules" can be another one.
		name := ""
		if f, ferr := ko.Open(op.Resolve(h.ModulesDir())); ferr == nil {
			if tm, terr := f.ThisModule(); terr == nil && tm.Name != "" {
				name = tm.Name
			}
		}
		for _, m := range loadedList(h) {
			if name == "" && !before[m] {
				name = m
			}
		}
		if name != "" {
			describe(h, &out, name)
		}
	}
	return out
}

// describe fills in what /sys/module/NAME shows right after a load.
func describe(h *kmod.Host, out *simop.Outcome, name string) {
	out.Name = name
	read := func(f string) (int64, bool) {
		b, err := os.ReadFile(h.Path("/sys/module/" + name + "/" + f))
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
	holders, _ := h.Holders(name)
	out.Holders = append([]string{}, holders...)
	if n, ok := read("refcnt"); ok {
		// References no other module holds are the module's own asynchronous work
		// still running after init returned (crypto self-tests hold their algorithm's
		// module, for one): wait for it to let go, as the list would show a moment
		// later, up to settleRefs. A count that stays is reported as it is.
		for start := time.Now(); n > 0 && len(out.Holders) == 0 && time.Since(start) < settleRefs; {
			time.Sleep(20 * time.Millisecond)
			if m, ok := read("refcnt"); ok {
				n = m
			}
		}
		r := int(n)
		out.RefCnt = &r
	}
}

// settleRefs is how long describe waits for a module's own references to drop.
const settleRefs = 2 * time.Second

func loadedList(h *kmod.Host) []string {
	mods, _ := h.LoadedModules()
	names := make([]string, len(mods))
	for i, m := range mods {
		names[i] = m.Name
	}
	return names
}

func loadedSet(h *kmod.Host) map[string]bool {
	set := map[string]bool{}
	for _, n := range loadedList(h) {
		set[n] = true
	}
	return set
}

// taint is /proc/sys/kernel/tainted as letters, "?" if unreadable.
func taint(h *kmod.Host) string {
	b, err := os.ReadFile(h.Path("/proc/sys/kernel/tainted"))
	if err != nil {
		return "?"
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return "?"
	}
	return simop.TaintString(n)
}
