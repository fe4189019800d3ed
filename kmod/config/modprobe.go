package config

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kmod/compat"
)

// DefaultModprobePaths are libkmod 30's configuration directories, highest precedence
// first (libkmod.c default_config_paths with Debian's SYSCONFDIR=/etc). kmod 30 reads
// no /etc/modprobe.conf.
var DefaultModprobePaths = []string{
	"/etc/modprobe.d",
	"/run/modprobe.d",
	"/usr/local/lib/modprobe.d",
	"/lib/modprobe.d",
}

// Options say where Load reads from. The zero value reads the running system's
// configuration, as modprobe without options does.
type Options struct {
	// Root prefixes every absolute path read: configuration directories, the module
	// directory and /proc/cmdline. It is the seam for test root file systems such as
	// kmod's own; "" means the real root.
	Root string
	// KernelRelease names /lib/modules/RELEASE; "" means uname -r.
	KernelRelease string
	// ModuleDir is where modules.softdep (and modules.weakdep) are read; "" means
	// /lib/modules/KernelRelease. `modprobe -d DIR` corresponds to DIR/lib/modules/REL.
	ModuleDir string
	// ConfigPaths, when non-nil, replaces DefaultModprobePaths, as modprobe's -C does
	// (each -C adds one path). Paths may name directories or single files.
	ConfigPaths []string
	// Weakdep accepts "weakdep" lines and reads modules.weakdep, as kmod ≥ 33 does.
	// kmod 30 rejects such lines as bad, which is the default.
	Weakdep bool
	// Kmod, when compat.Kmod34, reads as kmod 34.2 does: weakdep lines and
	// modules.weakdep (Weakdep implied), only files ending in ".conf" from the
	// configuration directories (kmod 30 also reads ".alias" files), and a backslash at
	// the very end of a file dropped (kmod 30 reads it as byte 0xff). The zero value reads
	// as kmod 30, this package's historical default; modprobe.Options, whose zero value
	// is kmod 34.2, always sets it.
	Kmod compat.Kmod
	// NoKernelCmdline skips /proc/cmdline. kmod always reads it; this is for callers
	// that model a configuration without a running kernel.
	NoKernelCmdline bool
}

// Alias is an "alias PATTERN MODULE" line. Both are normalized with Underscores; the
// pattern is matched with fnmatch against the name being looked up.
type Alias struct {
	Pattern string
	Module  string
}

// Option is one "options MODULE ..." line or one "MODULE.param" of the kernel command
// line. Options accumulate: see Config.ModuleOptions.
type Option struct {
	Module  string
	Options string // tabs turned into spaces, otherwise as written
}

// Command is an "install" or "remove" line. Module may be an fnmatch pattern.
type Command struct {
	Module  string
	Command string
}

// Softdep is a "softdep MODULE pre: ... post: ..." line (or a modules.softdep line).
// Module is normalized and may be a pattern; the listed names are kept as written.
type Softdep struct {
	Module string
	Pre    []string
	Post   []string
}

// Weakdep is a "weakdep MODULE ..." line (kmod ≥ 33 only; see Options.Weakdep).
type Weakdep struct {
	Module string
	Deps   []string
}

// Config is the parsed configuration. Every list is in kmod's order: files by base
// name, lines in file order, the kernel command line last. Lookups that kmod answers
// with "the first match" depend on that order, so keep it when editing.
type Config struct {
	Aliases   []Alias
	Blacklist []string
	Options   []Option
	Install   []Command
	Remove    []Command
	Softdeps  []Softdep
	Weakdeps  []Weakdep

	// ModuleDir is the module directory that was used (a logical path, without Root).
	ModuleDir string
	// Files lists the configuration files parsed, as logical paths, in parse order.
	Files []string
	// Warnings are the problems kmod 30 would have logged, in order.
	Warnings []*Warning

	root string
}

// Load reads the configuration the way kmod_new does: files from the configuration
// paths plus the module directory's modules.softdep, ordered by base name, then the
// kernel command line. Unreadable or missing files are skipped as kmod skips them; the
// only error is failing to learn the kernel release.
func Load(opts Options) (*Config, error) {
	fs := fsys{root: opts.Root}
	moddir := opts.ModuleDir
	if moddir == "" {
		rel := opts.KernelRelease
		if rel == "" {
			var u unix.Utsname
			if err := unix.Uname(&u); err != nil {
				return nil, fmt.Errorf("config: uname: %w", err)
			}
			rel = unix.ByteSliceToString(u.Release[:])
		}
		moddir = "/lib/modules/" + rel
	}
	c := &Config{ModuleDir: moddir, root: opts.Root}

	var files confList
	files.insert("modules.softdep", moddir+"/modules.softdep")
	k34 := opts.Kmod == compat.Kmod34
	weakdep := opts.Weakdep || k34
	if weakdep {
		files.insert("modules.weakdep", moddir+"/modules.weakdep")
	}
	paths := opts.ConfigPaths
	if paths == nil {
		paths = DefaultModprobePaths
	}
	for _, p := range paths {
		accept := modprobeAccepts
		if k34 {
			accept = depmodAccepts // the same rule: ".conf" only
		}
		fs.listConfigs(&files, p, accept, func(dir, name string) {
			c.Warnings = append(c.Warnings, &Warning{
				Origin: originNestedDir, File: dir + "/" + name, Err: ErrNestedDir,
				Msg: fmt.Sprintf("Directories inside directories are not supported: %s/%s", dir, name),
			})
		})
	}
	var buf []byte // the parsers keep no reference to a file's bytes
	for _, f := range files {
		data, err := fs.readFile(f.logical, buf)
		if err != nil {
			continue // kmod opens and silently skips what it cannot read
		}
		buf = data
		c.Files = append(c.Files, f.logical)
		c.parse(f.logical, data, weakdep, k34)
	}
	if !opts.NoKernelCmdline {
		if data, err := fs.readFile("/proc/cmdline", buf); err == nil {
			c.parseKcmdline(data)
		}
	}
	return c, nil
}

// parse is kmod_config_parse.
func (c *Config) parse(file string, data []byte, weakdep, k34 bool) {
	r := lineReader{data: data, dropEOFBackslash: k34}
	for {
		b, linenum, ok := r.nextBytes()
		if !ok {
			return
		}
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		line := string(b)
		t := tokenizer{s: line}
		cmd, ok := t.next("\t ")
		if !ok {
			continue
		}
		bad := false
		switch {
		case cmd == "alias":
			alias, ok1 := t.next("\t ")
			mod, ok2 := t.next("\t ")
			a, err1 := underscoresOK(alias, ok1)
			m, err2 := underscoresOK(mod, ok2)
			if bad = err1 != nil || err2 != nil; !bad {
				c.Aliases = append(c.Aliases, Alias{Pattern: a, Module: m})
			}
		case cmd == "blacklist":
			mod, ok := t.next("\t ")
			m, err := underscoresOK(mod, ok)
			if bad = err != nil; !bad {
				c.Blacklist = append(c.Blacklist, m)
			}
		case cmd == "options" || cmd == "install" || cmd == "remove" || cmd == "softdep" ||
			(cmd == "weakdep" && weakdep):
			mod, ok := t.next("\t ")
			m, err := underscoresOK(mod, ok)
			rest, ok := t.next("")
			if bad = err != nil || !ok; bad {
				break
			}
			switch cmd {
			case "options":
				c.Options = append(c.Options, Option{Module: m, Options: strings.ReplaceAll(rest, "\t", " ")})
			case "install":
				c.Install = append(c.Install, Command{Module: m, Command: rest})
			case "remove":
				c.Remove = append(c.Remove, Command{Module: m, Command: rest})
			case "softdep":
				c.Softdeps = append(c.Softdeps, parseSoftdep(m, rest))
			case "weakdep":
				c.Weakdeps = append(c.Weakdeps, Weakdep{Module: m, Deps: splitDeps(rest)})
			}
		case cmd == "include" || cmd == "config":
			c.Warnings = append(c.Warnings, &Warning{
				Origin: originDeprecated, File: file, Line: linenum, Err: ErrDeprecated,
				Msg: fmt.Sprintf("%s: command %s is deprecated and not parsed anymore", file, cmd),
			})
		default:
			bad = true
		}
		if bad {
			c.Warnings = append(c.Warnings, &Warning{
				Origin: originBadLine, File: file, Line: linenum, Err: ErrBadLine,
				Msg: fmt.Sprintf("%s line %d: ignoring bad line starting with '%s'", file, linenum, cmd),
			})
		}
	}
}

// underscoresOK is Underscores on a token that may be missing (NULL in kmod, which
// underscores() rejects).
func underscoresOK(s string, ok bool) (string, error) {
	if !ok {
		return "", ErrBadLine
	}
	return Underscores(s)
}

// parseSoftdep is kmod_config_add_softdep: words after "pre:" and "post:" go to those
// lists; words before either keyword are dropped.
func parseSoftdep(mod, rest string) Softdep {
	d := Softdep{Module: mod}
	mode := 0
	for _, w := range splitDeps(rest) {
		switch {
		case w == "pre:":
			mode = 1
		case w == "post:":
			mode = 2
		case mode == 1:
			d.Pre = append(d.Pre, w)
		case mode == 2:
			d.Post = append(d.Post, w)
		}
	}
	return d
}
