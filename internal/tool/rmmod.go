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
)

// libkmodRemoveWhere is where Debian's kmod 30 says its delete_module error comes from;
// it prints it, and byte-identical output means printing it too.
const libkmodRemoveWhere = "../libkmod/libkmod-module.c:856 kmod_module_remove_module() "

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

// rmmod removes modules by name or by file, as kmod's rmmod: unless forced it refuses a
// module that is built in, not loaded, or in use, with kmod's messages, before calling
// delete_module(O_NONBLOCK [|O_TRUNC]).
func rmmod(e *Env, args []string) int {
	parsed, names, status, ok := e.getopt(args, []cli.Option{
		{Short: 'f', Long: "force"}, {Short: 's', Long: "syslog"}, {Short: 'v', Long: "verbose"}, {Short: 'w'},
	}, rmmodHelp)
	if !ok {
		return status
	}
	force, useSyslog := false, false
	for _, p := range parsed {
		switch p.Name {
		case "force":
			force = true
		case "syslog":
			useSyslog = true
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
	failed := 0
	for _, arg := range names {
		name := kmod.Normalize(arg)
		if _, err := os.Stat(arg); err == nil {
			name = kmod.NameFromPath(arg)
		}
		if !force && !e.checkInUse(name) {
			failed++
			continue
		}
		if err := e.Host.Remove(name, force); err != nil {
			// libkmod logs its own line first, then the tool its summary. Debian builds
			// kmod 30 with debug logging, so libkmod's line names its source location;
			// kmod 34.2 without (ENABLE_DEBUG off).
			where := ""
			if e.Kmod == compat.Kmod30 {
				where = libkmodRemoveWhere
			}
			e.Errorf("%scould not remove '%s': %s\n", where, name, strerror(err))
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
func (e *Env) checkInUse(name string) bool {
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
		where := ""
		if e.Kmod == compat.Kmod30 {
			where = "../libkmod/libkmod-module.c:1998 kmod_module_get_holders() "
		}
		e.Errorf("%scould not open '/sys/module/%s/holders': %s\n", where, name, strerror(unwrapPath(herr)))
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
