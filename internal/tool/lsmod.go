package tool

import (
	"bufio"
	"fmt"
)

// lsmod prints /proc/modules as kmod's lsmod does, byte for byte: name, size (coresize
// from sysfs), use count (refcnt) and the holders in sysfs directory order.
func lsmod(e *Env, args []string) int {
	// kmod's lsmod knows no option; gokmod answers -h and -V like every other tool.
	if len(args) == 1 {
		switch args[0] {
		case "-h", "--help":
			fmt.Fprintf(e.Stdout, "Usage: %s\nList the loaded modules, as /proc/modules and /sys/module show them.\n", e.Prog)
			return 0
		case "-V", "--version":
			fmt.Fprintf(e.Stdout, "gokmod version %s\n", Version)
			return 0
		}
	}
	if len(args) != 0 {
		fmt.Fprintf(e.Stderr, "Usage: %s\n", e.Prog)
		return 1
	}
	mods, err := e.Host.LoadedModules()
	if err != nil {
		fmt.Fprintf(e.Stderr, "Error: could not get list of modules: %s\n", strerror(unwrapPath(err)))
		return 1
	}
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
	return 0
}
