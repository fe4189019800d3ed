package tool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gokmod/internal/cli"
	"gokmod/kmod"
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
	failed := 0
	for _, arg := range names {
		name := kmod.Normalize(arg)
		if _, err := os.Stat(arg); err == nil {
			name = kmod.NameFromPath(arg)
		}
		if !force && !e.checkInUse(ctx, name) {
			failed++
			continue
		}
		if err := e.Host.Remove(name, force); err != nil {
			// libkmod logs its own line first (with its source location in kmod 30's
			// debug build), then the tool its summary.
			ctx.logf(logErr, modprobe.Source{File: "libkmod-module.c", Line: 856, Fn: "kmod_module_remove_module"},
				"could not remove '%s': %s\n", name, strerror(err))
			e.Errorf("could not remove module %s: %s\n", arg, strerror(err))
			failed++
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// checkInUse mirrors kmod's check_module_inuse: false (after printing why) when the
// module cannot be removed without force.
func (e *Env) checkInUse(ctx *libkmodCtx, name string) bool {
	state, err := e.Host.State(name)
	switch {
	case err == nil && state == kmod.Builtin:
		e.Errorf("Module %s is builtin.\n", name)
		return false
	case err != nil:
		e.Errorf("Module %s is not currently loaded\n", name)
		return false
	}
	holders, herr := e.Host.Holders(name)
	if herr != nil {
		// libkmod's ERR(), so with the source location Debian's debug build of kmod 30
		// logs; kmod 34.2's build logs none.
		ctx.logf(logErr, modprobe.Source{File: "libkmod-module.c", Line: 1998, Fn: "kmod_module_get_holders"},
			"could not open '/sys/module/%s/holders': %s\n", name, strerror(unwrapPath(herr)))
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
	n, err := e.Host.RefCount(name)
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
