// Package tool implements gokmod's command-line tools (insmod, rmmod, lsmod, ...) as thin
// layers over the library packages, with kmod's options, messages and exit codes.
package tool

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/kmod"
	"gokmod/kmod/compat"
)

// Version is gokmod's version, printed by -V.
const Version = "0.1.0"

// Env is what a tool runs against: its name for messages, its output streams and the
// system it acts on.
type Env struct {
	Prog   string // name used in messages, e.g. "insmod"
	Stdout io.Writer
	Stderr io.Writer
	Host   *kmod.Host
	// Kmod is the kmod release whose behaviour the tools reproduce (GOKMOD_KMOD).
	Kmod compat.Kmod
	// Exiting says the process ends as soon as the tool returns (Exec): what the kernel
	// reclaims at exit anyway, such as index mappings, is left to it. Unmapping costs
	// a TLB shootdown across the runtime's threads, which a short tool notices.
	Exiting bool

	syslog *syslogger // set by -s (openSyslog): log messages go there, not to Stderr
}

// Errorf logs an error in kmod's format: "insmod: ERROR: ..." on stderr, or to syslog
// after -s.
func (e *Env) Errorf(format string, args ...any) {
	e.log(logErr, "ERROR: "+fmt.Sprintf(format, args...))
}

// Tool is one gokmod command.
type Tool struct {
	Name    string
	Summary string
	Run     func(e *Env, args []string) int
}

// Tools lists every tool, in the order --help shows them.
var Tools = []Tool{
	{"insmod", "insert a module file into the kernel", insmod},
	{"rmmod", "remove modules from the kernel", rmmod},
	{"lsmod", "list loaded modules", lsmod},
	{"kmod", "kmod's own front end: kmod list, kmod static-nodes", kmodTool},
	{"modinfo", "show information about modules", modinfo},
	{"depmod", "generate modules.dep and the module indexes", depmodTool},
	{"modprobe", "load or unload modules with their dependencies", modprobeTool},
	{"explain", "explain, stage by stage, what the kernel does when loading a module", explain},
	{"check", "predict whether the kernel would load each of many modules", check},
	{"sim", "predict a script of module system calls with the load model", sim},
}

func find(name string) *Tool {
	for i := range Tools {
		if Tools[i].Name == name {
			return &Tools[i]
		}
	}
	return nil
}

// Main runs gokmod with argv as os.Args: "gokmod TOOL ARGS", or "TOOL ARGS" when invoked
// through a symlink named after the tool, as kmod's multi-call binary is. Everything the
// tool acquired is released when it returns, so it can run many times in one process.
func Main(argv []string, stdout, stderr io.Writer, host *kmod.Host) int {
	return run(argv, stdout, stderr, host, false, nil)
}

// Exec is Main for a process that exits with the result right after: resources the
// kernel reclaims at exit are left to it (see Env.Exiting). parallel, if not nil, is
// called before any tool but the serial ones (see serial): the binary starts with
// GOMAXPROCS=1 and parallel gives the other Ps back.
func Exec(argv []string, stdout, stderr io.Writer, host *kmod.Host, parallel func()) int {
	return run(argv, stdout, stderr, host, true, parallel)
}

// serial names the tools that never run work in parallel, so that one P is all they
// can use: a second one only brings threads that spin up, look for work and compete
// with the one doing it.
// insmod, rmmod and lsmod are among them: they make a system call or two and print.
func serial(name string) bool {
	switch name {
	case "modprobe", "insmod", "rmmod", "lsmod":
		return true
	}
	return false
}

func run(argv []string, stdout, stderr io.Writer, host *kmod.Host, exiting bool, parallel func()) int {
	behaviour, err := compat.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "gokmod: ERROR: %v\n", err)
		return 1
	}
	start := func(t *Tool, prog string, args []string) int {
		if parallel != nil && !serial(t.Name) {
			parallel()
		}
		if host != nil {
			host.ZstdNeedsContentSize = behaviour == compat.Kmod34
		}
		return t.Run(&Env{Prog: prog, Stdout: stdout, Stderr: stderr, Host: host, Exiting: exiting, Kmod: behaviour}, args)
	}
	base := filepath.Base(argv[0])
	if t := find(base); t != nil {
		return start(t, base, argv[1:])
	}
	if len(argv) < 2 {
		usage(stderr)
		return 1
	}
	switch argv[1] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "-V", "--version":
		(&Env{Kmod: behaviour}).printVersion(stdout)
		return 0
	}
	t := find(argv[1])
	if t == nil {
		fmt.Fprintf(stderr, "gokmod: ERROR: unknown command '%s'\n", argv[1])
		usage(stderr)
		return 1
	}
	return start(t, t.Name, argv[2:])
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "gokmod - load, unload and explain Linux kernel modules\n\nUsage:\n\tgokmod TOOL [options] [args]\n\tTOOL [options] [args]   (through a symlink named after the tool)\n\nTools:\n")
	for _, t := range Tools {
		fmt.Fprintf(w, "\t%-10s %s\n", t.Name, t.Summary)
	}
	fmt.Fprintf(w, "\nEvery tool takes -h/--help and -V/--version.\n")
}

// getopt parses a tool's options, printing kmod-style errors; ok is false when the tool
// should exit with status (help or version already printed, or a bad option).
func (e *Env) getopt(args []string, opts []cli.Option, help func(io.Writer)) (parsed []cli.Parsed, operands []string, status int, ok bool) {
	opts = append(opts, cli.Option{Short: 'h', Long: "help"}, cli.Option{Short: 'V', Long: "version"})
	parsed, operands, err := cli.Getopt(args, opts, false)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", e.Prog, err)
		return nil, nil, 1, false
	}
	for _, p := range parsed {
		switch p.Name {
		case "help":
			help(e.Stdout)
			return nil, nil, 0, false
		case "version":
			e.printVersion(e.Stdout)
			return nil, nil, 0, false
		}
	}
	return parsed, operands, 0, true
}

// strerror is glibc's strerror(3) text, which kmod prints.
func strerror(err error) string {
	var errno unix.Errno
	if e, ok := err.(unix.Errno); ok {
		errno = e
	} else if pe, ok := err.(*os.PathError); ok {
		if e, ok := pe.Err.(unix.Errno); ok {
			errno = e
		} else {
			return pe.Err.Error()
		}
	} else {
		return err.Error()
	}
	s := errno.Error()
	if strings.HasPrefix(s, "errno ") {
		return "Unknown error " + s[len("errno "):]
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// newStdout buffers standard output as glibc's stdio does kmod's, so that it interleaves
// with stderr as kmod's does: unbuffered (so at least per line) onto a terminal, else
// fully, in a buffer of BUFSIZ (8192) or st_blksize if smaller (_IO_file_doallocate):
// 4 KiB into a pipe, a file or /dev/null. A larger buffer also cost the short tools a
// large allocation: 64 KiB made modprobe -n 0.07 ms slower.
func newStdout(w io.Writer) *bufio.Writer {
	size := 8192
	if f, ok := w.(*os.File); ok {
		fd := int(f.Fd())
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFCHR {
				if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
					return bufio.NewWriterSize(w, 1)
				}
			}
			// st_blksize is int64 on amd64 and int32 on arm64: compare it widened.
			if blk := int64(st.Blksize); blk > 0 && blk < int64(size) {
				size = int(blk)
			}
		}
	}
	return bufio.NewWriterSize(w, size)
}
