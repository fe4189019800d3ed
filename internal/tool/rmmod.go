package tool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gokmod/internal/cli"
	"gokmod/kmod/compat"
	"gokmod/kmod/modprobe"
)

func rmmodHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\trmmod [options] modulename ...\nOptions:\n"+
		"\t-f, --force       forces a module unload and may crash your\n"+
		"\t                  machine. This requires Forced Module Removal\n"+
		"\t                  option in your kernel. DANGEROUS\n"+
		"\t-s, --syslog      print to syslog, not stderr\n"+
		"\t-v, --verbose     enables more messages\n"+
		"\t-V, --version     show version\n"+
		"\t-h, --help        show this help\n")
}

// rmmodHelp34 is kmod 34.2's wording (tools/rmmod.c help()).
func rmmodHelp34(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\trmmod [options] [list of modulenames]\nOptions:\n"+
		"\t-f, --force       DANGEROUS: forces a module unload and may\n"+
		"\t                  crash your machine\n"+
		"\t-s, --syslog      print to syslog, not stderr\n"+
		"\t-v, --verbose     enables more messages\n"+
		"\t-V, --version     show version\n"+
		"\t-h, --help        show this help\n")
}

// rmmod removes modules by name or by file, as kmod's rmmod: unless forced it refuses a
// module that is built in, not loaded, or in use, with kmod's messages, before calling
// delete_module(O_NONBLOCK [|O_TRUNC]). Where kmod 30 and 34.2 differ (-w, help,
// libkmod's source locations, the holders' list), it follows e.Kmod.
func rmmod(e *Env, args []string) int {
	opts := []cli.Option{{Short: 'f', Long: "force"}, {Short: 's', Long: "syslog"}, {Short: 'v', Long: "verbose"}}
	help := rmmodHelp34
	if e.Kmod == compat.Kmod30 {
		opts = append(opts, cli.Option{Short: 'w'}) // in kmod 30's option string, but no case handles it
		help = rmmodHelp
	}
	parsed, names, status, ok := e.getopt(args, opts, help)
	if !ok {
		return status
	}
	force, useSyslog, verbose := false, false, logErr
	for _, p := range parsed {
		switch p.Name {
		case "force":
			force = true
		case "syslog":
			useSyslog = true
		case "verbose":
			verbose++
		case "w":
			e.Errorf("unexpected getopt_long() value 'w'.\n")
			return 1
		}
	}
	if useSyslog {
		e.openSyslog() // log_open
		defer e.closeSyslog()
	}
	if len(names) == 0 {
		e.Errorf("missing module name.\n")
		return 1
	}
	ctx := newLibkmodCtx(e, e.Kmod, verbose)
	defer ctx.unref()
	// kmod_new(NULL, &null_config): no configuration, the running kernel's module
	// directory, its indexes not loaded. Its module objects and lookups print libkmod's
	// DEBUG lines at -vvvv under kmod 30.
	s, err := modprobe.New(modprobe.Options{Root: e.Host.Root, KernelRelease: e.Host.KernelRelease(), ConfigPaths: []string{},
		Host: e.Host, Log: ctx.log, LogPriority: verbose, Kmod: e.Kmod})
	if err != nil {
		e.Errorf("kmod_new() failed!\n")
		return 1
	}
	defer s.Close()
	failed := 0
	for _, arg := range names {
		var m *modprobe.Module
		if _, err := os.Stat(arg); err == nil {
			if m, err = s.ModuleFromPath(arg); err != nil {
				e.Errorf("could not use module %s: %s\n", arg, strerror(err))
				failed++
				break
			}
		} else {
			m = s.ModuleFromName(arg)
		}
		ok := e.removeModule(ctx, m, arg, force)
		modprobe.Release([]*modprobe.Module{m}) // kmod_module_unref
		if !ok {
			failed++
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// removeModule is the body of do_rmmod's loop: check_module_inuse unless forced, then
// kmod_module_remove_module. It says whether the module was removed.
func (e *Env) removeModule(ctx *libkmodCtx, m *modprobe.Module, arg string, force bool) bool {
	name := m.Name()
	if !force && !e.checkInUse(ctx, m) {
		return false
	}
	err := e.Host.Remove(name, force)
	if err == nil {
		return true
	}
	// libkmod logs its own line first (with its source location in kmod 30's debug
	// build), then the tool its summary.
	ctx.logf(logErr, modprobe.Source{File: "libkmod-module.c", Line: 856, Fn: "kmod_module_remove_module"},
		"could not remove '%s': %s\n", name, strerror(err))
	e.Errorf("could not remove module %s: %s\n", arg, strerror(err))
	return false
}

// checkInUse mirrors kmod's check_module_inuse: false (after printing why) when the
// module cannot be removed without force.
func (e *Env) checkInUse(ctx *libkmodCtx, m *modprobe.Module) bool {
	name := m.Name()
	state, err := m.InitState()
	switch {
	case err == nil && state == modprobe.StateBuiltin:
		e.Errorf("Module %s is builtin.\n", name)
		return false
	case err != nil:
		e.Errorf("Module %s is not currently loaded\n", name)
		return false
	}
	// kmod_module_get_holders logs libkmod's ERR() itself when the directory is missing
	// (with the source location Debian's debug build of kmod 30 logs).
	hm := m.Holders()
	defer modprobe.Release(hm) // kmod_module_unref_list(holders), after the message
	holders := make([]string, len(hm))
	for i, h := range hm {
		holders[i] = h.Name()
	}
	if len(holders) > 0 {
		if e.Kmod == compat.Kmod30 {
			// kmod 30: ERR() without a newline, then the holders by fprintf(stderr):
			// after -s, the first part goes to syslog and the list stays on stderr.
			e.Errorf("Module %s is in use by:", name)
			for _, h := range holders {
				fmt.Fprintf(e.Stderr, " %s", h)
			}
			fmt.Fprintln(e.Stderr)
			return false
		}
		// Debian's kmod 34.2 (34.2-2) carries upstream's c580af2e3b29 "tools/rmmod: fix
		// garbled error message": one ERR() with every holder, to stderr or to syslog.
		e.Errorf("Module %s is in use by:%s\n", name, " "+strings.Join(holders, " "))
		return false
	}
	n, err := m.RefCount()
	if err == nil && n > 0 {
		e.Errorf("Module %s is in use\n", name)
		return false
	}
	if errors.Is(err, os.ErrNotExist) {
		e.Errorf("Module unloading is not supported\n")
		return false
	}
	return true
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
