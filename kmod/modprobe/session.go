// Package modprobe is libkmod's module resolution and loading as kmod 30's modprobe uses
// it: lookups in libkmod's order (configuration aliases, modules.dep, modules.symbols,
// install/remove commands, modules.alias, modules.builtin, modules.builtin.alias),
// dependencies from modules.dep, soft dependencies, options from modprobe.d and the kernel
// command line, install and remove commands, the blacklist — and the loads and unloads
// themselves through kmod.Host's system calls.
//
// A Session is libkmod's struct kmod_ctx: the configuration, the indexes and the pool of
// module objects. The pool matters for byte-identical behaviour: libkmod keys a module
// found through an alias by "name\alias", so one module can exist as several objects,
// and a dry run repeats modules exactly as kmod's does.
//
// kmod 30 behaviours kept on purpose, though later kmods changed them: only the first
// matching softdep line counts (kmod issue #33); install commands are ignored for a
// module whose softdeps resolve to something; softdeps and multi-match aliases are
// expanded independently, so dry runs repeat modules; blacklist lines apply to alias
// lookups even without -b; weakdep lines are rejected as bad lines under Options.Kmod =
// compat.Kmod30 (kmod 34 reads them, never loads them); modprobe -r looks at
// the dependencies left unused once, in load order (so an inner one still held by the
// next may stay loaded).
//
// Deliberate divergences from Debian's kmod 30 modprobe (everything else is meant to be
// byte-identical, and tested so):
//   - After kmod's line for a failed load, gokmod adds what the kernel logged during the
//     load ("modprobe: kernel: ...") and hints ("modprobe: hint: ..."): the real reason,
//     which kmod leaves in dmesg. With -s they go to syslog, as kmod's messages do.
//   - libkmod's messages that print a pointer (a dependency file that vanished:
//     "ctx=%p"; -vv's "custom logging function %p registered" and "context %p
//     released"; -vvv's DEBUG lines "add %p", "found=%p", "kmod_module %p released")
//     print gokmod's own.
//   - After libkmod's message for a damaged index (kmod_load_resources), gokmod names
//     the file and says to run depmod (Options.Note): kmod then silently treats it as
//     missing, so a lookup it served says only "not found".
//   - -V prints gokmod's version.
package modprobe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/kmod/config"
	"gokmod/kmod/index"
)

// Options say what a Session reads and where it acts.
type Options struct {
	// Root prefixes every absolute path read or acted on — configuration, the module
	// directory, /proc and /sys — as kmod's test suite remaps them; "" is the real root.
	Root string
	// Dirname is the module directory as libkmod names it (modprobe -d ROOT gives
	// ROOT/lib/modules/RELEASE); "" means /lib/modules/KernelRelease. Relative names are
	// taken from the working directory, as kmod does.
	Dirname string
	// KernelRelease is uname -r; "" asks the kernel.
	KernelRelease string
	// ConfigPaths replaces the modprobe.d directories (modprobe -C, repeatable).
	ConfigPaths []string
	// Host does the system calls and reads /sys; nil means the running kernel under Root.
	Host *kmod.Host
	// Log receives libkmod's messages: the priority as syslog's, where the C code logs it
	// in Debian's kmod 30 (a debug build, whose messages name it), and the text with its
	// newline. nil drops them.
	Log func(prio int, at Source, msg string)
	// Note receives gokmod's own lines, which kmod does not print (a damaged index named,
	// with its remedy), each with its newline; nil drops them.
	Note func(msg string)
	// LogPriority drops messages above it (kmod_set_log_priority); 0 means LOG_ERR.
	LogPriority int
	// Kmod is the kmod release whose configuration reading the session reproduces:
	// compat.Kmod34 (also the zero value) accepts weakdep lines, reads modules.weakdep
	// and only ".conf" files; compat.Kmod30 rejects weakdep lines and also reads
	// ".alias" files. Resolution and loading are kmod 30's under both (kmod 34's
	// modprobe gives the same results on the differential tests).
	Kmod compat.Kmod
}

// Session is libkmod's kmod_ctx.
type Session struct {
	opts    Options
	dirname string // the module directory as libkmod names it (logical, absolute)
	cfg     *config.Config
	tree    *kmod.Tree
	host    *kmod.Host
	pool    map[string]*Module
	prio    int
	debug   bool            // DBG lines are printed (debuglog.go)
	loaded  map[string]bool // the indexes kmod_load_resources left mapped
	// removing names the modules rmmod_do_module is inside of, to cut softdep cycles
	// (remove.go).
	removing map[string]bool
}

// Source is where libkmod logs a message: the file under libkmod/, the line in kmod 30,
// and the function.
type Source struct {
	File string
	Line int
	Fn   string
}

// Syslog priorities, for Options.Log.
const (
	LogErr   = 3
	LogInfo  = 6
	LogDebug = 7
)

// New reads the configuration and opens the module directory, as kmod_new plus
// kmod_load_resources. Configuration problems are in Config().Warnings.
func New(o Options) (*Session, error) {
	s := &Session{opts: o, pool: map[string]*Module{}}
	if o.LogPriority == 0 {
		o.LogPriority = LogErr
	}
	s.setPriority(o.LogPriority)
	rel := o.KernelRelease
	if rel == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return nil, err
		}
		rel = unix.ByteSliceToString(u.Release[:])
	}
	if o.Dirname != "" {
		s.dirname = o.Dirname
		if !strings.HasPrefix(s.dirname, "/") {
			cwd, err := os.Getwd()
			if err != nil {
				return nil, err
			}
			s.dirname = cwd + "/" + s.dirname
		}
	} else {
		s.dirname = "/lib/modules/" + rel
	}
	k := compat.Kmod34
	if o.Kmod == compat.Kmod30 {
		k = compat.Kmod30
	}
	cfg, err := config.Load(config.Options{Root: o.Root, KernelRelease: rel, ModuleDir: s.dirname, ConfigPaths: o.ConfigPaths, Kmod: k})
	if err != nil {
		return nil, err
	}
	s.cfg = cfg
	s.tree = kmod.NewTree(s.real(s.dirname), cfg)
	s.host = o.Host
	if s.host == nil {
		s.host = &kmod.Host{Root: o.Root, Sys: kmod.Linux{}, Release: rel}
	}
	return s, nil
}

// Close releases the indexes.
func (s *Session) Close() { s.tree.Close() }

// Config is the configuration read.
func (s *Session) Config() *config.Config { return s.cfg }

// Dirname is the module directory as libkmod names it (kmod_get_dirname).
func (s *Session) Dirname() string { return s.dirname }

// Host is where loads and unloads go.
func (s *Session) Host() *kmod.Host { return s.host }

// SetLogPriority changes which messages reach Options.Log (kmod_set_log_priority).
func (s *Session) SetLogPriority(p int) { s.setPriority(p) }

// real maps a logical absolute path below Root.
func (s *Session) real(p string) string {
	if s.opts.Root == "" || s.opts.Root == "/" || !strings.HasPrefix(p, "/") {
		return p
	}
	return s.opts.Root + p
}

// logf is libkmod's ERR/INFO/DBG in libkmod-module.c: fn and line locate the call in
// Debian's kmod 30.
func (s *Session) logf(prio int, fn string, line int, format string, args ...any) {
	s.logAt(prio, Source{"libkmod-module.c", line, fn}, format, args...)
}

// logAt is libkmod's ERR/INFO/DBG anywhere.
func (s *Session) logAt(prio int, at Source, format string, args ...any) {
	if s.opts.Log == nil || prio > s.prio {
		return
	}
	s.opts.Log(prio, at, fmt.Sprintf(format, args...))
}

// SetupLog is what tools/log.c's log_setup_kmod_log does to the context: the priority,
// then kmod_set_log_fn, which announces the new function at INFO (-vv in modprobe). The
// pointer is gokmod's own, as libkmod's is its process's.
func (s *Session) SetupLog(prio int) {
	s.setPriority(prio)
	s.logAt(LogInfo, Source{"libkmod.c", 367, "kmod_set_log_fn"}, "custom logging function %p registered\n", s.opts.Log)
}

// Unref is kmod_unref dropping the tool's last reference: the context announces its
// release at INFO. kmod's tools do it on their way out, except after a FATAL message,
// which exits at once. Close, not Unref, unmaps the indexes (a process about to exit
// need not).
func (s *Session) Unref() {
	s.logAt(LogInfo, Source{"libkmod.c", 334, "kmod_unref"}, "context %p released\n", s)
}

// resourceIndexes are libkmod's index_files, in kmod_load_resources' order.
var resourceIndexes = [...]string{"modules.dep", "modules.alias", "modules.symbols", "modules.builtin.alias", "modules.builtin"}

// LoadResources is kmod_load_resources: every index opened up front, stopping at the
// first that cannot be (modules.builtin.alias, added later, may fail). libkmod's
// index_mm_open reports a bad magic or major version (ERR; a file too short for the
// header, or missing, silently); its lookups then read the indexes one file at a time
// and treat the bad one as missing, as the Tree does. After libkmod's words, Note gets
// a line naming the damaged file and the remedy, which kmod never gives.
//
// As libkmod, a failure (but modules.builtin.alias's) unmaps them all
// (kmod_unload_resources): every later lookup then opens its file, and says so at DEBUG.
func (s *Session) LoadResources() {
	s.loaded = map[string]bool{}
	for _, name := range resourceIndexes {
		path := s.dirname + "/" + name + ".bin"
		if s.debug {
			s.dbg("libkmod-index.c", 757, "index_mm_open", "file=%s\n", path)
		}
		err := s.tree.OpenIndex(name)
		if err == nil {
			s.loaded[name] = true
			continue
		}
		var he *index.HeaderError
		if errors.As(err, &he) {
			s.reportBadIndex(he)
		} else if s.debug {
			s.dbg("libkmod-index.c", 766, "index_mm_open", "open(%s, O_RDONLY|O_CLOEXEC): %s\n", path, strerrorText(errnoOf(err)))
		}
		if name != "modules.builtin.alias" {
			s.loaded = map[string]bool{}
			break
		}
	}
}

// reportBadIndex logs index_mm_open's message for a refused header (Debian's kmod 30:
// libkmod-index.c lines 790 and 797 at v30) and gokmod's note after it.
func (s *Session) reportBadIndex(he *index.HeaderError) {
	switch {
	case he.Short():
	case he.BadMagic():
		s.logAt(LogErr, Source{"libkmod-index.c", 790, "index_mm_open"}, "magic check fail: %x instead of %x\n", he.Magic, index.Magic)
	default:
		s.logAt(LogErr, Source{"libkmod-index.c", 797, "index_mm_open"}, "major version check fail: %d instead of %d\n", he.MajorVersion(), index.Version>>16)
	}
	if note := kmod.BadIndexNote(he); note != "" && s.opts.Note != nil && LogErr <= s.prio {
		s.opts.Note(note)
	}
}

// ShowConfig writes `modprobe -c`: the configuration, then the alias and symbol indexes.
func (s *Session) ShowConfig(w io.Writer) error {
	if err := s.cfg.WriteConfig(w); err != nil {
		return err
	}
	return s.ShowConfigIndexes(w)
}

// ShowConfigIndexes writes the index half of `modprobe -c`: kmod_dump_index of
// modules.alias, then of modules.symbols, each announced at DEBUG (stderr, so that
// saying both first changes nothing on either stream).
func (s *Session) ShowConfigIndexes(w io.Writer) error {
	for _, name := range [...]string{"modules.alias", "modules.symbols"} {
		switch {
		case !s.debug:
		case s.mmapped(name):
			s.dbg("libkmod.c", 955, "kmod_dump_index", "use mmaped index '%s'\n", name)
		default:
			s.dbg("libkmod.c", 965, "kmod_dump_index", "file=%s\n", s.dirname+"/"+name+".bin")
		}
	}
	return config.DumpIndexes(w, s.real(s.dirname))
}

// RealPath maps a path as libkmod names it (relative ones from the working directory)
// to where it is below the session's root.
func (s *Session) RealPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		if cwd, err := os.Getwd(); err == nil {
			p = cwd + "/" + p
		}
	}
	return s.real(p)
}
