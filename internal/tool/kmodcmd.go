package tool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/kmod/compat"
)

// kmodTool is kmod's own front end (tools/kmod.c): `kmod list`, `kmod static-nodes`,
// `kmod help`, -h and -V. The compat commands (lsmod, insmod, …) are gokmod's tools
// reached through their symlinks, as kmod's are.
func kmodTool(e *Env, args []string) int {
	// getopt_long with "+hV": options end at the first command.
	parsed, operands, err := cli.Getopt(args, []cli.Option{{Short: 'h', Long: "help"}, {Short: 'V', Long: "version"}}, true)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", e.Prog, err)
		return 1
	}
	for _, p := range parsed {
		if p.Name == "help" {
			e.kmodHelp(e.Prog)
			return 0
		}
		e.printVersion(e.Stdout)
		return 0
	}
	if len(operands) == 0 {
		fmt.Fprint(e.Stderr, "missing command\n")
		e.kmodHelp(e.Prog)
		return 1
	}
	sub := *e
	sub.Prog = operands[0] // argv[0] of the command, which getopt's messages name
	switch operands[0] {
	case "help":
		name := e.Prog
		if e.Kmod == compat.Kmod30 {
			name = "help" // kmod 30 prints the shifted argv[0]
		}
		e.kmodHelp(name)
		return 0
	case "list":
		if e.Kmod == compat.Kmod30 {
			return lsmod30(&sub, operands[1:], false)
		}
		return lsmod34(&sub, e.Prog, operands[1:])
	case "static-nodes":
		return staticNodes(&sub, e.Prog, operands[1:])
	}
	fmt.Fprintf(e.Stderr, "invalid command '%s'\n", operands[0])
	e.kmodHelp(e.Prog)
	return 1
}

// kmodHelp is kmod_help, whose command lines kmod 34 reworded.
func (e *Env) kmodHelp(name string) {
	help, static := "show help message", "output the static-node information installed with the currently running kernel"
	if e.Kmod == compat.Kmod30 {
		help, static = "Show help message", "outputs the static-node information installed with the currently running kernel"
	}
	w := bufio.NewWriter(e.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "kmod - Manage kernel modules: list, load, unload, etc\nUsage:\n\t%s [options] command [command_options]\n\n"+
		"Options:\n\t-V, --version     show version\n\t-h, --help        show this help\n\nCommands:\n", name)
	for _, c := range [][2]string{{"help", help}, {"list", "list currently loaded modules"}, {"static-nodes", static}} {
		fmt.Fprintf(w, "  %-12s %s\n", c[0], c[1])
	}
	w.WriteString("\nkmod also handles gracefully if called from following symlinks:\n")
	for _, c := range []string{"lsmod", "rmmod", "insmod", "modinfo", "modprobe", "depmod"} {
		fmt.Fprintf(w, "  %-12s compat %s command\n", c, c)
	}
}

// staticNodeFormats are static-nodes' output formats, in its help's order.
var staticNodeFormats = []struct {
	name, description string
	write             func(w io.Writer, mod, dev string, typ byte, major, minor uint32)
}{
	{"human", "(default) a human readable format. Do not parse.", func(w io.Writer, mod, dev string, typ byte, major, minor uint32) {
		kind := "block"
		if typ == 'c' {
			kind = "character"
		}
		fmt.Fprintf(w, "Module: %s\n\tDevice node: /dev/%s\n\t\tType: %s device\n\t\tMajor: %d\n\t\tMinor: %d\n", mod, dev, kind, major, minor)
	}},
	{"tmpfiles", "the tmpfiles.d(5) format used by systemd-tmpfiles.", func(w io.Writer, _, dev string, typ byte, major, minor uint32) {
		if i := strings.LastIndexByte(dev, '/'); i >= 0 {
			fmt.Fprintf(w, "d /dev/%s 0755 - - -\n", dev[:i])
		}
		fmt.Fprintf(w, "%c! /dev/%s 0600 - - - %d:%d\n", typ, dev, major, minor)
	}},
	{"devname", "the modules.devname format.", func(w io.Writer, mod, dev string, typ byte, major, minor uint32) {
		fmt.Fprintf(w, "%s %s %c%d:%d\n", mod, dev, typ, major, minor)
	}},
}

// staticNodes is `kmod static-nodes` (tools/static-nodes.c): the device nodes in the
// running kernel's modules.devname, which systemd's kmod-static-nodes.service writes
// as tmpfiles.d lines at every boot so that opening /dev/fuse, /dev/loop-control… loads
// the module on demand. name is program_invocation_short_name ("kmod").
func staticNodes(e *Env, name string, args []string) int {
	help := func() {
		w := bufio.NewWriter(e.Stdout)
		defer w.Flush()
		fmt.Fprintf(w, "Usage:\n\t%s static-nodes [options]\n\n"+
			"kmod static-nodes outputs the static-node information of the currently running kernel.\n\n"+
			"Options:\n\t-f, --format=FORMAT  choose format to use: see \"Formats\"\n"+
			"\t-o, --output=FILE    write output to file\n\t-h, --help           show this help\n\nFormats:\n", name)
		for _, f := range staticNodeFormats {
			fmt.Fprintf(w, "\t%-12s %s\n", f.name, f.description)
		}
	}
	opts := []cli.Option{{Short: 'o', Long: "output", HasArg: true}, {Short: 'f', Long: "format", HasArg: true}, {Short: 'h', Long: "help"}}
	parsed, _, err := cli.Getopt(args, opts, false)
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", e.Prog, err)
		return 1
	}
	format, output := 0, ""
	for _, p := range parsed {
		switch p.Name {
		case "output":
			output = p.Arg
		case "format":
			found := false
			for i, f := range staticNodeFormats {
				if f.name == p.Arg {
					format, found = i, true
				}
			}
			if !found {
				fmt.Fprintf(e.Stderr, "Unknown format: '%s'.\n", p.Arg)
				help()
				return 1
			}
		case "help":
			help()
			return 0
		}
	}
	devname := "/lib/modules/" + e.Host.KernelRelease() + "/modules.devname"
	in, err := os.ReadFile(e.Host.Path(devname))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(e.Stderr, "Warning: %s not found - ignoring\n", devname)
			return 0
		}
		fmt.Fprintf(e.Stderr, "Error: could not open %s - %s\n", devname, strerror(unwrapPath(err)))
		return 1
	}
	// kmod 30 has no stdout case: its output defaults to the path /dev/stdout, opened
	// (and truncated) like any --output file. Where /dev/stdout does not exist, as on a
	// bare devtmpfs, kmod 30 creates a regular file of that name and prints nothing;
	// gokmod does the same. Under a test root the tool's own stdout stands for it.
	if output == "" && e.Kmod == compat.Kmod30 && (e.Host.Root == "" || e.Host.Root == "/") {
		output = "/dev/stdout"
	}
	out := e.Stdout
	if output != "" {
		path := e.Host.Path(output)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintf(e.Stderr, "Error: could not create parent directory for %s - %s.\n", output, strerror(unwrapPath(err)))
			return 1
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_CLOEXEC, 0o666)
		if err != nil {
			fmt.Fprintf(e.Stderr, "Error: could not create %s - %s\n", output, strerror(unwrapPath(err)))
			return 1
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	status := 0
	for len(in) > 0 {
		line := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, in = in[:i+1], in[i+1:]
		} else {
			in = nil
		}
		if line[0] == '#' {
			continue
		}
		mod, dev, typ, major, minor, ok := scanDevname(string(line))
		if !ok {
			fmt.Fprintf(e.Stderr, "Error: invalid devname entry: %s", line)
			status = 1
			continue
		}
		staticNodeFormats[format].write(w, mod, dev, typ, major, minor)
	}
	return status
}

// scanDevname is static-nodes' sscanf(buf, "%s %s %c%u:%u") with its check that the type
// is 'c' or 'b': the type letter follows the blanks after the device name, each number
// may be preceded by blanks and a sign, and what follows the minor number is ignored.
func scanDevname(line string) (mod, dev string, typ byte, major, minor uint32, ok bool) {
	word := func(s string) (string, string) {
		s = strings.TrimLeft(s, " \t\n\v\f\r")
		i := strings.IndexAny(s, " \t\n\v\f\r")
		if i < 0 {
			return s, ""
		}
		return s[:i], s[i:]
	}
	mod, rest := word(line)
	dev, rest = word(rest)
	rest = strings.TrimLeft(rest, " \t\n\v\f\r")
	if mod == "" || dev == "" || rest == "" || rest[0] != 'c' && rest[0] != 'b' {
		return "", "", 0, 0, 0, false
	}
	typ = rest[0]
	major, rest, ok = scanUnsigned(rest[1:])
	if !ok || !strings.HasPrefix(rest, ":") {
		return "", "", 0, 0, 0, false
	}
	minor, _, ok = scanUnsigned(rest[1:])
	return mod, dev, typ, major, minor, ok
}

// scanUnsigned is scanf's %u: blanks, an optional sign (a minus negates, modulo 2^32),
// then decimal digits, at least one.
func scanUnsigned(s string) (uint32, string, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v uint32
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + uint32(s[n]-'0')
		n++
	}
	if n == 0 {
		return 0, s, false
	}
	if neg {
		v = -v
	}
	return v, s[n:], true
}
