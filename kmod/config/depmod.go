package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"syscall"

	"gokmod/kmod/compat"
)

// DefaultDepmodPaths are depmod 30's configuration directories, highest precedence
// first (tools/depmod.c default_cfg_paths with SYSCONFDIR=/etc).
var DefaultDepmodPaths = []string{
	"/etc/depmod.d",
	"/run/depmod.d",
	"/usr/local/lib/depmod.d",
	"/lib/depmod.d",
}

// Search keywords of depmod.d's "search" command.
const (
	SearchBuiltin  = "built-in" // the module directory's own tree (kernel/ and others)
	SearchExternal = "external" // the directories of "external" lines
)

// DepmodOptions say where LoadDepmod reads from.
type DepmodOptions struct {
	Root string // prefixes every absolute path, as Options.Root
	// KernelRelease is matched against "override" and "external" version patterns; it
	// must be the release depmod is run for.
	KernelRelease string
	// ConfigPaths, when non-nil, replaces DefaultDepmodPaths (depmod -C).
	ConfigPaths []string
	// Kmod, when compat.Kmod34, drops a backslash at the very end of a file as kmod 34
	// does (kmod 30, the zero value, reads it as byte 0xff).
	Kmod compat.Kmod
}

// Override is an "override MODULE KVER SUBDIR" line whose KVER matched: the module file
// under SUBDIR wins over same-named modules elsewhere.
type Override struct {
	Module string // as written, not normalized: it is compared with file names
	Subdir string
}

// DepmodConfig is depmod.d's configuration. Lists are in file order (depmod keeps them
// reversed internally; Prefers accounts for that).
type DepmodConfig struct {
	// Search lists "search" words: subdirectories of the module directory, SearchBuiltin
	// or SearchExternal. Earlier entries take precedence. Without any search line it is
	// ["updates"], depmod's backward-compatible default.
	Search    []string
	Overrides []Override
	Externals []string // absolute directories of matching "external" lines
	Excludes  []string // directory names skipped anywhere in the tree (besides build, source, . and ..)
	Files     []string // files parsed, as logical paths, in order
	Warnings  []*Warning

	k34 bool // DepmodOptions.Kmod is kmod 34
}

// LoadDepmod reads depmod.d the way depmod's cfg_load does: "*.conf" files ordered by
// base name across the directories, earlier directories masking later ones.
func LoadDepmod(opts DepmodOptions) *DepmodConfig {
	fs := fsys{root: opts.Root}
	c := &DepmodConfig{k34: opts.Kmod == compat.Kmod34}
	paths := opts.ConfigPaths
	if paths == nil {
		paths = DefaultDepmodPaths
	}
	var files confList
	for _, p := range paths {
		fs.listConfigs(&files, p, depmodAccepts, func(dir, name string) {
			c.Warnings = append(c.Warnings, &Warning{
				File: dir + "/" + name, Err: ErrNestedDir,
				Msg: fmt.Sprintf("Directories inside directories are not supported: %s/%s", dir, name),
			})
		})
	}
	var buf []byte // the parser keeps no reference to a file's bytes
	for _, f := range files {
		data, err := fs.readFile(f.logical, buf)
		if err != nil {
			// depmod logs "file parse FILE: STRERROR" and goes on.
			c.Warnings = append(c.Warnings, &Warning{File: f.logical, Err: err,
				Msg: fmt.Sprintf("file parse %s: %s", f.logical, strerror(err))})
			continue
		}
		buf = data
		c.Files = append(c.Files, f.logical)
		c.parse(f.logical, data, opts.KernelRelease)
	}
	if len(c.Search) == 0 {
		c.Search = []string{"updates"}
	}
	return c
}

// parse is depmod's cfg_file_parse.
func (c *DepmodConfig) parse(file string, data []byte, kver string) {
	r := lineReader{data: data, dropEOFBackslash: c.k34}
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
		switch cmd {
		case "search":
			for w, ok := t.next("\t "); ok; w, ok = t.next("\t ") {
				c.Search = append(c.Search, w)
			}
		case "override":
			mod, ok1 := t.next("\t ")
			ver, ok2 := t.next("\t ")
			sub, ok3 := t.next("\t ")
			if bad = !ok1 || !ok2 || !ok3; !bad && kernelMatches(ver, kver) {
				c.Overrides = append(c.Overrides, Override{Module: mod, Subdir: sub})
			}
		case "external":
			ver, ok1 := t.next("\t ")
			dir, ok2 := t.next("\t ")
			if bad = !ok1 || !ok2; !bad && kernelMatches(ver, kver) {
				c.Externals = append(c.Externals, dir)
			}
		case "exclude":
			for w, ok := t.next("\t "); ok; w, ok = t.next("\t ") {
				c.Excludes = append(c.Excludes, w)
			}
		case "include", "make_map_files":
			// depmod: "command not implemented yet", at info level.
		default:
			bad = true
		}
		if bad {
			c.Warnings = append(c.Warnings, &Warning{File: file, Line: linenum, Err: ErrBadLine,
				Msg: fmt.Sprintf("%s:%d: ignoring bad line starting with '%s'", file, linenum, cmd)})
		}
	}
}

// kernelMatches is cfg_kernel_matches: "*" matches any release, anything else is a
// POSIX extended regular expression searched in the release; one that does not compile
// matches nothing.
func kernelMatches(pattern, kver string) bool {
	if pattern == "*" {
		return true
	}
	re, err := regexp.CompilePOSIX(pattern)
	if err != nil {
		return false
	}
	return re.MatchString(kver)
}

// Excluded reports whether depmod skips a directory of this name while scanning
// (should_exclude_dir).
func (c *DepmodConfig) Excluded(name string) bool {
	if name == "." || name == ".." || name == "build" || name == "source" {
		return true
	}
	for _, e := range c.Excludes {
		if e == name {
			return true
		}
	}
	return false
}

// Prefers decides between two module files with the same module name, as depmod's
// depmod_module_is_higher_priority does: it reports whether the module already found
// at oldPath stays (true) or newPath replaces it (false). moddir is the module
// directory; paths are as depmod builds them (moddir + "/" + relative path, or an
// external directory's path). The decision uses overrides first, then the search
// order; external directories rank at the "external" search entry, and modules outside
// every searched subdirectory rank at "built-in".
func (c *DepmodConfig) Prefers(moddir, oldPath, newPath string) bool {
	// depmod compares paths only up to the module name's length in the file name
	// (the extension is ignored), and relative to moddir when below it.
	trim := func(p string) string {
		// The directory and as many bytes of the file name as the module name has:
		// a prefix of p, cut rather than copied, as depmod meets the same module again
		// at each level of a directory loop.
		return p[:strings.LastIndexByte(p, '/')+1+len(PathToModname(p))]
	}
	oldT, newT := trim(oldPath), trim(newPath)
	rel := func(p string) (string, bool) {
		if strings.HasPrefix(p, moddir) {
			return p[min(len(moddir)+1, len(p)):], true
		}
		return "", false
	}
	relOld, okOld := rel(oldT)
	relNew, okNew := rel(newT)
	for i := len(c.Overrides) - 1; i >= 0; i-- {
		ov := c.Overrides[i].Subdir + "/" + c.Overrides[i].Module
		if okNew && relNew == ov {
			return false
		}
		if okOld && relOld == ov {
			return true
		}
	}
	under := func(p, dir string) bool {
		return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
	}
	bprio, oldprio, newprio := -1, -1, -1
	i := 0
	for k := len(c.Search) - 1; k >= 0; k, i = k-1, i+1 {
		switch s := c.Search[k]; s {
		case SearchBuiltin:
			bprio = i
		case SearchExternal:
			// depmod advances the same counter while walking the externals.
			for e := len(c.Externals) - 1; e >= 0; e, i = e-1, i+1 {
				if under(newT, c.Externals[e]) {
					newprio = i
				}
				if under(oldT, c.Externals[e]) {
					oldprio = i
				}
			}
		default:
			if okNew && under(relNew, s) {
				newprio = i
			} else if okOld && under(relOld, s) {
				oldprio = i
			}
		}
	}
	if newprio < 0 {
		newprio = bprio
	}
	if oldprio < 0 {
		oldprio = bprio
	}
	return newprio <= oldprio
}

// strerror approximates glibc's strerror for an os error: Go's errno texts are glibc's
// with a lower-case first letter.
func strerror(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	msg := errno.Error()
	if msg != "" && msg[0] >= 'a' && msg[0] <= 'z' {
		msg = string(msg[0]-'a'+'A') + msg[1:]
	}
	return msg
}
