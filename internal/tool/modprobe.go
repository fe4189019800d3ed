package tool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/kmod/modprobe"
	"gokmod/ko"
)

// modprobeHelp is kmod 30's help text.
func modprobeHelp(w io.Writer) { modprobeHelpFor(w, compat.Kmod30) }

// modprobeHelp34 is kmod 34.2's, which spells -w's argument "--wait=<MSEC>".
func modprobeHelp34(w io.Writer) { modprobeHelpFor(w, compat.Kmod34) }

func modprobeHelpFor(w io.Writer, k compat.Kmod) {
	p := "modprobe"
	wait := "\t-w, --wait <MSEC>           When removing a module, wait up to MSEC for\n"
	if k != compat.Kmod30 {
		wait = "\t-w, --wait=<MSEC>           When removing a module, wait up to MSEC for\n"
	}
	fmt.Fprintf(w, "Usage:\n"+
		"\t%[1]s [options] [-i] [-b] modulename\n"+
		"\t%[1]s [options] -a [-i] [-b] modulename [modulename...]\n"+
		"\t%[1]s [options] -r [-i] modulename\n"+
		"\t%[1]s [options] -r -a [-i] modulename [modulename...]\n"+
		"\t%[1]s [options] -c\n"+
		"\t%[1]s [options] --dump-modversions filename\n"+
		"Management Options:\n"+
		"\t-a, --all                   Consider every non-argument to\n"+
		"\t                            be a module name to be inserted\n"+
		"\t                            or removed (-r)\n"+
		"\t-r, --remove                Remove modules instead of inserting\n"+
		"\t    --remove-dependencies   Deprecated: use --remove-holders\n"+
		"\t    --remove-holders        Also remove module holders (use together with -r)\n"+
		wait+
		"\t                            module's refcount to become 0 so it can be\n"+
		"\t                            removed (use together with -r)\n"+
		"\t    --first-time            Fail if module already inserted or removed\n"+
		"\t-i, --ignore-install        Ignore install commands\n"+
		"\t-i, --ignore-remove         Ignore remove commands\n"+
		"\t-b, --use-blacklist         Apply blacklist to resolved alias.\n"+
		"\t-f, --force                 Force module insertion or removal.\n"+
		"\t                            implies --force-modversions and\n"+
		"\t                            --force-vermagic\n"+
		"\t    --force-modversion      Ignore module's version\n"+
		"\t    --force-vermagic        Ignore module's version magic\n"+
		"\n"+
		"Query Options:\n"+
		"\t-R, --resolve-alias         Only lookup and print alias and exit\n"+
		"\t-D, --show-depends          Only print module dependencies and exit\n"+
		"\t    --graph                 With -D: print the dependency graph as SVG (softdeps dashed)\n"+
		"\t-c, --showconfig            Print out known configuration and exit\n"+
		"\t-c, --show-config           Same as --showconfig\n"+
		"\t    --show-modversions      Dump module symbol version and exit\n"+
		"\t    --dump-modversions      Same as --show-modversions\n"+
		"\t    --show-exports          Only print module exported symbol versions and exit\n"+
		"\n"+
		"General Options:\n"+
		"\t-n, --dry-run               Do not execute operations, just print out\n"+
		"\t-n, --show                  Same as --dry-run\n"+
		"\t-C, --config=FILE           Use FILE instead of default search paths\n"+
		"\t-d, --dirname=DIR           Use DIR as filesystem root for /lib/modules\n"+
		"\t-S, --set-version=VERSION   Use VERSION instead of `uname -r`\n"+
		"\t-s, --syslog                print to syslog, not stderr\n"+
		"\t-q, --quiet                 disable messages\n"+
		"\t-v, --verbose               enables more messages\n"+
		"\t-V, --version               show version\n"+
		"\t-h, --help                  show this help\n", p)
}

// kmod's log priorities (syslog.h).
const (
	logEmerg   = 0
	logCrit    = 2
	logErr     = 3
	logWarning = 4
	logInfo    = 6
)

// prioNames are tools/log.c's prio_to_str, indexed by priority. An array, not a map: a
// map literal is built at every start-up of every tool.
var prioNames = [...]string{logCrit: "FATAL", logErr: "ERROR", logWarning: "WARNING", 5: "NOTICE", logInfo: "INFO", 7: "DEBUG"}

// prioName is a priority's name, "" for one that has none.
func prioName(prio int) string {
	if prio < 0 || prio >= len(prioNames) {
		return ""
	}
	return prioNames[prio]
}

// errFatal ends modprobe the way kmod's log_printf does after a FATAL message: exit 1.
var errFatal = errors.New("fatal")

// mp is one modprobe run: its settings and kmod's two log levels (the LOG() priority,
// CRIT unless -a, and the verbosity messages are filtered with).
type mp struct {
	e        *Env
	out      *bufio.Writer
	graph    bool // --graph with --show-depends: the dependency graph as SVG (modprobe_graph.go)
	logPrio  int
	verbose  int
	doShow   bool
	dryRun   bool
	ignLoad  bool
	lookOnly bool
	first    bool
	ignCmd   bool
	useBL    bool
	force    bool
	stripMV  bool
	stripVM  bool
	rmHold   bool
	wait     time.Duration
	s        *modprobe.Session
	kmod     compat.Kmod
}

// logf is tools/log.c log_printf: dropped above the verbosity; FATAL ends the run.
func (p *mp) logf(prio int, format string, args ...any) error {
	if prio > p.verbose {
		return nil
	}
	p.e.log(prio, prioName(prio)+": "+fmt.Sprintf(format, args...))
	if prio <= logCrit {
		return errFatal
	}
	return nil
}

// LOG is modprobe.c's LOG(): CRIT (fatal) normally, WARNING with -a.
func (p *mp) LOG(format string, args ...any) error { return p.logf(p.logPrio, format, args...) }

// modprobeTool is kmod's modprobe (tools/modprobe.c do_modprobe), as the release
// GOKMOD_KMOD selects (kmod 34.2 by default): its configuration reading (weakdep, .conf
// files only), libkmod's message format and help text follow it.
func modprobeTool(e *Env, args []string) int {
	k, kerr := compat.FromEnv()
	if kerr != nil {
		fmt.Fprintf(e.Stderr, "%s: ERROR: %v\n", e.Prog, kerr)
		return 1
	}
	help := modprobeHelp
	if k != compat.Kmod30 {
		help = modprobeHelp34
	}
	// The options below extend $MODPROBE_OPTIONS for the commands modprobe runs; when the
	// tool runs in-process (tests, the library's callers) the caller's value comes back.
	if e.Exiting {
		// nothing to give back
	} else if old, ok := os.LookupEnv("MODPROBE_OPTIONS"); ok {
		defer os.Setenv("MODPROBE_OPTIONS", old)
	} else {
		defer os.Unsetenv("MODPROBE_OPTIONS")
	}
	args = prependOptionsFromEnv(args)
	parsed, operands, status, ok := e.getopt(args, []cli.Option{
		{Short: 'a', Long: "all"}, {Short: 'r', Long: "remove"},
		{Long: "remove-dependencies"}, {Long: "remove-holders"},
		{Short: 'w', Long: "wait", HasArg: true}, {Short: 'R', Long: "resolve-alias"},
		{Long: "first-time"}, {Short: 'i', Long: "ignore-install"}, {Long: "ignore-remove"},
		{Short: 'b', Long: "use-blacklist"}, {Short: 'f', Long: "force"},
		{Long: "force-modversion"}, {Long: "force-vermagic"},
		{Short: 'D', Long: "show-depends"}, {Short: 'c', Long: "showconfig"}, {Long: "show-config"},
		{Long: "show-modversions"}, {Long: "dump-modversions"}, {Long: "show-exports"},
		{Short: 'n', Long: "dry-run"}, {Long: "show"},
		{Short: 'C', Long: "config", HasArg: true}, {Short: 'd', Long: "dirname", HasArg: true},
		{Short: 'S', Long: "set-version", HasArg: true},
		{Short: 's', Long: "syslog"}, {Short: 'q', Long: "quiet"}, {Short: 'v', Long: "verbose"},
		{Long: "graph"},
	}, help)
	if !ok {
		return status
	}
	p := &mp{e: e, out: newStdout(e.Stdout), logPrio: logCrit, verbose: logWarning, kmod: k}
	defer p.out.Flush()
	var configPaths []string
	var root, kversion *string
	useAll, doRemove, showConfig, showModversions, showExports := false, false, false, false, false
	useSyslog := false
	for _, o := range parsed {
		switch o.Name {
		case "all":
			p.logPrio, useAll = logWarning, true
		case "remove":
			doRemove = true
		case "remove-dependencies", "remove-holders":
			p.rmHold = true
		case "wait":
			// ERR() before log_open, at log.c's initial LOG_WARNING: -q cannot hide it.
			strtoul := cli.Strtoul
			if k != compat.Kmod30 {
				strtoul = cli.StrtoulC23 // kmod 34 is built against glibc ≥ 2.38 as GNU C
			}
			n, ok := strtoul(o.Arg, 0)
			if !ok || o.Arg == "" {
				e.Errorf("unexpected wait value '%s'.\n", o.Arg)
				return 1
			}
			p.wait = time.Duration(min(n, uint64(math.MaxInt64/int64(time.Millisecond)))) * time.Millisecond
		case "first-time":
			p.first = true
		case "ignore-install", "ignore-remove":
			p.ignCmd = true
		case "use-blacklist":
			p.useBL = true
		case "force":
			p.force = true
		case "force-modversion":
			p.stripMV = true
		case "force-vermagic":
			p.stripVM = true
		case "show-depends":
			p.ignLoad, p.dryRun, p.doShow = true, true, true
		case "graph":
			p.graph = true
		case "resolve-alias":
			p.lookOnly = true
		case "showconfig", "show-config":
			showConfig = true
		case "show-modversions", "dump-modversions":
			showModversions = true
		case "show-exports":
			showExports = true
		case "dry-run", "show":
			p.dryRun = true
		case "config":
			configPaths = append(configPaths, o.Arg)
			envOptionsAppend("-C")
			envOptionsAppend(o.Arg)
		case "dirname":
			a := o.Arg
			root = &a
		case "set-version":
			a := o.Arg
			kversion = &a
		case "syslog":
			envOptionsAppend("-s")
			useSyslog = true
		case "quiet":
			envOptionsAppend("-q")
			p.verbose = logEmerg
		case "verbose":
			envOptionsAppend("-v")
			p.verbose++
		}
	}
	if useSyslog {
		e.openSyslog() // log_open: from here on, not for getopt's own messages
		defer e.closeSyslog()
	}
	if !showConfig && len(operands) == 0 {
		// Before log_setup_kmod_log, tools log at LOG_WARNING whatever -q says.
		e.Errorf("missing parameters. See -h.\n")
		return 1
	}
	hostRoot := ""
	if e.Host != nil && e.Host.Root != "/" {
		hostRoot = e.Host.Root
	}
	o := modprobe.Options{Root: hostRoot, ConfigPaths: configPaths, Host: e.Host, Kmod: k}
	if e.Host != nil {
		o.KernelRelease = e.Host.Release
	}
	if root != nil || kversion != nil {
		r := ""
		if root != nil {
			r = *root
		}
		if kversion != nil {
			o.KernelRelease = *kversion
		}
		rel := o.KernelRelease
		if rel == "" {
			var u unix.Utsname
			if err := unix.Uname(&u); err != nil {
				e.Errorf("uname() failed: %s\n", strerror(err))
				return 1
			}
			rel = unix.ByteSliceToString(u.Release[:])
		}
		o.Dirname = r + "/lib/modules/" + rel
	}
	o.Log = libkmodLogger(e, k)
	o.Note = func(msg string) { e.log(logErr, "hint: "+msg) }
	s, err := modprobe.New(o)
	if err != nil {
		e.Errorf("kmod_new() failed!\n")
		return 1
	}
	p.s = s
	// The configuration is parsed in kmod_new, before log_setup_kmod_log: its warnings
	// go through libkmod's default logger, to stderr even with -s.
	for _, w := range s.Config().Warnings {
		fmt.Fprint(e.Stderr, w.LogLineFor(k))
	}
	s.SetupLog(p.verbose)
	s.LoadResources()

	switch {
	case p.graph && p.doShow:
		err = p.showGraph(operands[0])
	case showConfig:
		err = p.showConfig()
	case showModversions:
		err = p.showModversions(operands[0])
	case showExports:
		err = p.showExports(operands[0])
	case doRemove:
		err = p.removeAll(operands)
	case useAll:
		for _, a := range operands {
			if r := p.insmod(a, nil); r != nil {
				err = r
				if errors.Is(r, errFatal) {
					break
				}
			}
		}
	default:
		opts := optionsFromArray(operands)
		err = p.insmod(operands[0], opts)
	}
	if !errors.Is(err, errFatal) { // after FATAL, log_printf exited: no release
		s.Unref()
	}
	if !e.Exiting { // else the exit unmaps the indexes
		s.Close()
	}
	if err != nil {
		return 1
	}
	return 0
}

// libkmodLogger is tools/log.c's log_kmod, through which libkmod's messages reach the
// tool's stderr or syslog: Debian's kmod 30 is a debug build (ENABLE_DEBUG), whose
// messages name libkmod's file, line and function; its kmod 34 is not.
func libkmodLogger(e *Env, k compat.Kmod) func(prio int, at modprobe.Source, msg string) {
	return func(prio int, at modprobe.Source, msg string) {
		if k != compat.Kmod30 {
			e.log(prio, prioName(prio)+": "+msg)
			return
		}
		e.log(prio, fmt.Sprintf("%s: ../libkmod/%s:%d %s() %s", prioName(prio), at.File, at.Line, at.Fn, msg))
	}
}

func (p *mp) showConfig() error {
	if err := p.s.Config().WriteConfig(p.out); err != nil {
		return err
	}
	p.out.Flush()
	// kmod_dump_index writes to the file descriptor directly, after the fflush.
	return p.s.ShowConfigIndexes(p.out)
}

// openModule is kmod_module_new_from_path, then the file as kmod_module_get_file opens
// it (asking kmod_module_get_path, a DEBUG line under kmod 30). m is nil when there is
// no such module, f when the file cannot be read.
func (p *mp) openModule(path string) (m *modprobe.Module, f *ko.File, err error) {
	if m, err = p.s.ModuleFromPath(path); err != nil {
		return nil, nil, p.LOG("Module %s not found.\n", path)
	}
	real := m.RealPath()
	if p.kmod != compat.Kmod30 {
		// libkmod 34 opens the file first, and refuses a .ko.zst without its content
		// size before the tool's own message.
		if err := kmod34Decodable(real); err != nil {
			if logErr <= p.verbose {
				libkmodLogger(p.e, p.kmod)(logErr, modprobe.Source{File: "libkmod-file-zstd.c", Fn: "kmod_file_load_zstd"},
					"zstd: Failed to determine decompression size\n")
			}
			return m, nil, err
		}
	}
	f, err = ko.Open(real)
	return m, f, err
}

// showFromFile is show_modversions and show_exports: what list gets from the module
// file, printed, or LOG's "could not get WHAT of PATH" (FATAL: kmod exits there); the
// module is released after, as kmod_module_unref does.
func (p *mp) showFromFile(path, what string, list func(f *ko.File) error) error {
	m, f, err := p.openModule(path)
	if m == nil {
		return errFatal
	}
	if err == nil {
		err = list(f)
	}
	if err != nil {
		if e := p.LOG("could not get %s of %s: %s\n", what, path, koStrerror(err)); e != nil {
			return e
		}
	}
	modprobe.Release([]*modprobe.Module{m})
	return err
}

// noSection is libkmod's errno for a module file without the section asked for: ENOENT
// in kmod 30, ENODATA since upstream 5c004af29daf ("libkmod, depmod: prefer -ENODATA
// over -ENOENT if no section found", kmod 31).
func (p *mp) noSection() error {
	if p.kmod == compat.Kmod30 {
		return unix.ENOENT
	}
	return unix.ENODATA
}

func (p *mp) showModversions(path string) error {
	return p.showFromFile(path, "modversions", func(f *ko.File) error {
		vers, err := f.Versions()
		if err == nil && vers == nil && f.Section("__versions") == nil {
			err = p.noSection()
		}
		if err != nil {
			return err
		}
		for _, v := range vers {
			fmt.Fprintf(p.out, "0x%08x\t%s\n", v.CRC, strings.TrimPrefix(v.Name, "."))
		}
		return nil
	})
}

func (p *mp) showExports(path string) error {
	return p.showFromFile(path, "symbols", func(f *ko.File) error {
		syms, err := f.KmodSymbols()
		if err == nil && syms == nil && f.Section("__ksymtab_strings") == nil {
			err = p.noSection()
		}
		if err != nil {
			return err
		}
		for _, s := range syms {
			fmt.Fprintf(p.out, "0x%08x\t%s\n", s.CRC, s.Name)
		}
		return nil
	})
}

// koStrerror is strerror of the errno libkmod would have returned for a file problem.
func koStrerror(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return strerror(errno)
	}
	return strerror(unix.EINVAL)
}

// insmod is modprobe.c's insmod(): resolve, then probe each module found.
func (p *mp) insmod(alias string, extra *string) error {
	mods, err := p.s.Lookup(alias)
	if len(mods) == 0 || err != nil {
		if e := p.LOG("Module %s not found in directory %s\n", alias, p.s.Dirname()); e != nil {
			return e
		}
		return unix.ENOENT
	}
	var flags modprobe.ProbeFlags
	if p.stripMV || p.force {
		flags |= modprobe.ForceModversion
	}
	if p.stripVM || p.force {
		flags |= modprobe.ForceVermagic
	}
	if p.ignCmd {
		flags |= modprobe.IgnoreCommand
	}
	if p.ignLoad {
		flags |= modprobe.IgnoreLoaded
	}
	if p.dryRun {
		flags |= modprobe.DryRun
	}
	flags |= modprobe.ApplyBlacklistAliasOnly
	if p.useBL {
		flags |= modprobe.ApplyBlacklist
	}
	if p.first {
		flags |= modprobe.FailOnLoaded
	}
	var hooks modprobe.ProbeHooks
	if p.doShow || p.verbose > logWarning {
		hooks.Action = p.printAction
	}
	hooks.RunInstall = func(m *modprobe.Module, cmd string) error {
		return p.runInstall(m, cmd)
	}
	if p.dryRun {
		hooks.States = modprobe.NewStateMemo()
	}
	var last error
	for _, m := range mods {
		if p.lookOnly {
			fmt.Fprintf(p.out, "%s\n", m.Name())
			continue
		}
		_, err := p.s.Probe(m, flags, extra, hooks)
		if err == nil {
			last = nil
			continue
		}
		last = err
		if e := p.reportInsert(m, err); e != nil {
			return e // FATAL: kmod exits at once, releasing nothing
		}
	}
	// kmod_module_unref_list(list): libkmod's -vvv names each module released.
	modprobe.Release(mods)
	return last
}

// printAction is modprobe.c's print_action.
// It writes the pieces directly rather than through fmt: a dry run of a module with many
// dependencies prints one line per module, and this is all it prints.
func (p *mp) printAction(a modprobe.Action) {
	if a.Install {
		p.line("install ", a.Command, " ", a.Options)
		return
	}
	path := a.Module.Path()
	if path == "" {
		if st, err := a.Module.InitState(); err == nil && st == modprobe.StateBuiltin {
			p.line("builtin ", a.Module.Name(), "", "")
		}
		return
	}
	// print_action asks kmod_module_get_path again for the line (a DEBUG line each).
	p.line("insmod ", a.Module.Path(), " ", a.Options)
}

// line writes the four strings and a newline to standard output.
func (p *mp) line(a, b, c, d string) {
	p.out.WriteString(a)
	p.out.WriteString(b)
	p.out.WriteString(c)
	p.out.WriteString(d)
	p.out.WriteByte('\n')
}

// runInstall runs an install command as libkmod's command_do: system(3), whose output
// goes straight to the file descriptors (so it may precede modprobe's buffered lines, as
// with kmod).
func (p *mp) runInstall(m *modprobe.Module, cmd string) error {
	status, err := modprobe.RunCommand(m.Name(), cmd)
	if err != nil {
		p.libkmodErr(1041, "command_do", "Could not run %s command '%s' for module %s: %s\n", "install", cmd, m.Name(), strerror(err))
		return &modprobe.CommandError{Kind: "install", Module: m.Name(), Command: cmd, Status: -1, Err: err}
	}
	if status != 0 {
		p.libkmodErr(1047, "command_do", "Error running %s command '%s' for module %s: retcode %d\n", "install", cmd, m.Name(), status)
		return &modprobe.CommandError{Kind: "install", Module: m.Name(), Command: cmd, Status: status}
	}
	return nil
}

func (p *mp) libkmodErr(line int, fn, format string, args ...any) {
	if logErr > p.verbose {
		return
	}
	// As every libkmod message: kmod 30's with its source location, kmod 34's without.
	libkmodLogger(p.e, p.kmod)(logErr, modprobe.Source{File: "libkmod-module.c", Line: line, Fn: fn}, fmt.Sprintf(format, args...))
}

// reportInsert prints kmod's line for a failed probe, then — gokmod's addition — what
// the kernel logged during the failed load and hints, as gokmod's insmod does.
func (p *mp) reportInsert(m *modprobe.Module, err error) error {
	errno := modprobe.Errno(err)
	if errors.Is(err, kmod.ErrZstdContentSize) && logErr <= p.verbose {
		// libkmod 34's ERR() from kmod_file_load_zstd when it reads the file to insert
		// it, before modprobe's own line (found comparing in a trixie guest).
		libkmodLogger(p.e, p.kmod)(logErr, modprobe.Source{File: "libkmod-file-zstd.c", Fn: "kmod_file_load_zstd"},
			"zstd: Failed to determine decompression size\n")
	}
	var e error
	switch errno {
	case unix.EEXIST:
		e = p.logf(logErr, "could not insert '%s': Module already in kernel\n", m.Name())
	case unix.ENOENT:
		e = p.logf(logErr, "could not insert '%s': Unknown symbol in module, or unknown parameter (see dmesg)\n", m.Name())
	default:
		if errno == 0 {
			errno = unix.EINVAL
		}
		e = p.logf(logErr, "could not insert '%s': %s\n", m.Name(), strerror(errno))
	}
	if logErr <= p.verbose {
		var ie *kmod.InsertError
		if errors.As(err, &ie) {
			for _, r := range ie.Kmsg {
				p.e.log(logErr, "kernel: "+printable(r.Msg)+"\n")
			}
			for _, h := range p.e.hints(ie) {
				p.e.log(logErr, "hint: "+h+"\n")
			}
		}
	}
	return e
}

func (p *mp) removeAll(names []string) error {
	var last error
	hooks := modprobe.RemoveHooks{
		Show: func(line string) {
			if p.doShow || p.verbose > logWarning {
				p.out.WriteString(line)
				p.out.Flush()
			}
		},
		Log:   func(msg string) error { return p.LOG("%s", msg) },
		Error: func(msg string) { p.logf(logErr, "%s", msg) },
	}
	o := modprobe.RemoveOptions{
		IgnoreCommands: p.ignCmd, IgnoreLoaded: p.ignLoad, DryRun: p.dryRun, FirstTime: p.first,
		Force: p.force, RemoveHolders: p.rmHold, Wait: p.wait,
	}
	for _, n := range names {
		if err := p.s.Remove(n, o, hooks); err != nil {
			last = err
			if errors.Is(err, errFatal) {
				return err
			}
		}
	}
	return last
}

// optionsFromArray is modprobe.c's options_from_array: the arguments after the module
// name, joined by spaces, a value with a space quoted. nil when there are none.
func optionsFromArray(args []string) *string {
	if len(args) < 2 {
		return nil
	}
	var parts []string
	for _, a := range args[1:] {
		if k, v, ok := strings.Cut(a, "="); ok && v != "" && v[0] != '"' && v[0] != '\'' && strings.Contains(v, " ") {
			a = k + "=\"" + v + "\""
		}
		parts = append(parts, a)
	}
	s := strings.Join(parts, " ")
	return &s
}

// envOptionsAppend is env_modprobe_options_append: nested modprobe runs (from install
// commands) inherit -C, -q, -s and -v through $MODPROBE_OPTIONS.
func envOptionsAppend(v string) {
	if old, ok := os.LookupEnv("MODPROBE_OPTIONS"); ok {
		v = old + " " + v
	}
	os.Setenv("MODPROBE_OPTIONS", v)
}

// prependOptionsFromEnv is prepend_options_from_env: $MODPROBE_OPTIONS, split at spaces
// with kmod's quote handling (quirks included), goes before the command line's arguments.
func prependOptionsFromEnv(args []string) []string {
	env, ok := os.LookupEnv("MODPROBE_OPTIONS")
	if !ok {
		return args
	}
	b := append([]byte(env), 0)
	end := len(env) // str_end: the terminating NUL
	var out []string
	cstrAt := func(i int) string {
		j := i
		for b[j] != 0 {
			j++
		}
		return string(b[i:j])
	}
	str, quote := 0, -1
	s := 0
	for ; b[s] != 0; s++ {
		if quote < 0 {
			if b[s] == ' ' {
				b[s] = 0
				out = append(out, cstrAt(str))
				str = s + 1
			} else if b[s] == '"' || b[s] == '\'' {
				quote = s
			}
			continue
		}
		if b[s] != b[quote] {
			continue
		}
		if quote == str {
			b[s] = 0
			out = append(out, cstrAt(str+1))
			str = s + 1
		} else {
			for it := quote; it < s-1; it++ {
				b[it] = b[it+1]
			}
			for it := s - 1; it < end-2; it++ {
				b[it] = b[it+2]
			}
			end -= 2
			b[end] = 0
			s -= 2
		}
		quote = -1
	}
	if str < s {
		out = append(out, cstrAt(str))
	}
	return append(out, args...)
}
