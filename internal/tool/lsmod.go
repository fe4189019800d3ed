package tool

import (
	"bufio"
	"fmt"
	"io"

	"gokmod/internal/cli"
	"gokmod/kmod"
	"gokmod/kmod/compat"
)

// lsmod prints /proc/modules as kmod's lsmod does, byte for byte: name, size (coresize
// from sysfs), use count (refcnt) and the holders in sysfs directory order. It is also
// `kmod list`.
func lsmod(e *Env, args []string) int {
	if e.Kmod == compat.Kmod30 {
		return lsmod30(e, args, true)
	}
	return lsmod34(e, e.Prog, args)
}

// lsmod30 is kmod 30's lsmod, which takes no option: any argument is a usage error.
// With answerFlags (lsmod itself, not `kmod list`), gokmod answers -h and -V all the
// same, as every other tool does.
func lsmod30(e *Env, args []string, answerFlags bool) int {
	if len(args) == 1 && answerFlags {
		switch args[0] {
		case "-h", "--help":
			fmt.Fprintf(e.Stdout, "Usage: %s\nList the loaded modules, as /proc/modules and /sys/module show them.\n", e.Prog)
			return 0
		case "-V", "--version":
			e.printVersion(e.Stdout)
			return 0
		}
	}
	if len(args) != 0 {
		fmt.Fprintf(e.Stderr, "Usage: %s\n", e.Prog)
		return 1
	}
	mods, err := e.Host.LoadedModules()
	if err != nil {
		// libkmod's own logger (kmod 30's lsmod sets none up) prints its line first.
		fmt.Fprintf(e.Stderr, "libkmod: ERROR ../libkmod/libkmod-module.c:1725 kmod_module_new_from_loaded: %s\n", libkmodLoadedErr(err))
		fmt.Fprintf(e.Stderr, "Error: could not get list of modules: %s\n", strerror(unwrapPath(err)))
		return 1
	}
	e.printLoaded(mods)
	return 0
}

// lsmod34 is kmod 34's lsmod (and `kmod list`): -s, -v, -V, -h, and its messages in the
// tools' log format. helpName is program_invocation_short_name, which its help and
// errors name: "kmod" for `kmod list`.
func lsmod34(e *Env, helpName string, args []string) int {
	opts := []cli.Option{{Short: 's', Long: "syslog"}, {Short: 'v', Long: "verbose"},
		{Short: 'V', Long: "version"}, {Short: 'h', Long: "help"}}
	parsed, operands, err := cli.Getopt(args, opts, false)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", e.Prog, err)
		return 1
	}
	useSyslog := false
	for _, p := range parsed {
		switch p.Name {
		case "syslog":
			useSyslog = true
		case "help":
			fmt.Fprintf(e.Stdout, "Usage:\n\t%s [options]\nOptions:\n"+
				"\t-s, --syslog      print to syslog, not stderr\n"+
				"\t-v, --verbose     enables more messages\n"+
				"\t-V, --version     show version\n"+
				"\t-h, --help        show this help\n", helpName)
			return 0
		case "version":
			e.printVersion(e.Stdout)
			return 0
		}
	}
	log := *e
	log.Prog = helpName
	if useSyslog {
		log.openSyslog()
		defer log.closeSyslog()
	}
	if len(operands) > 0 {
		log.Errorf("too many arguments provided.\n")
		return 1
	}
	mods, err := e.Host.LoadedModules()
	if err != nil {
		// libkmod's message reaches the tool's log through log_setup_kmod_log.
		log.Errorf("%s\n", libkmodLoadedErr(err))
		log.Errorf("could not get list of modules: %s\n", strerror(unwrapPath(err)))
		return 1
	}
	e.printLoaded(mods)
	return 0
}

// libkmodLoadedErr is kmod_module_new_from_loaded's message for a /proc/modules it
// cannot open.
func libkmodLoadedErr(err error) string {
	return "could not open /proc/modules: " + strerror(unwrapPath(err))
}

// printLoaded writes lsmod's table.
func (e *Env) printLoaded(mods []kmod.Loaded) {
	w := bufio.NewWriter(e.Stdout)
	defer w.Flush()
	w.WriteString("Module                  Size  Used by\n")
	for _, m := range mods {
		refcnt, err := e.Host.RefCount(m.Name)
		if err != nil {
			refcnt = -2 // libkmod returns -ENOENT, and lsmod prints it as is
		}
		fmt.Fprintf(w, "%-19s %8d  %d", m.Name, e.Host.CoreSize(m.Name, m.Size), refcnt)
		holders, _ := e.Host.Holders(m.Name)
		for i, h := range holders {
			if i == 0 {
				w.WriteByte(' ')
			} else {
				w.WriteByte(',')
			}
			w.WriteString(h)
		}
		w.WriteByte('\n')
	}
}

// printVersion is -V: kmod's two lines for the behaviour gokmod has, so that scripts
// reading "kmod version N" and the feature line keep working, then gokmod's own.
func (e *Env) printVersion(w io.Writer) {
	fmt.Fprintf(w, "%sgokmod version %s\n", e.Kmod.VersionLines(), Version)
}
