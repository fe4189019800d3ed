package depmod

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/internal/sysfile"
	"gokmod/kmod/compat"
	"gokmod/kmod/config"
	"gokmod/ko"
)

// Options are depmod's command-line settings (tools/depmod.c do_depmod).
type Options struct {
	// BaseDir is -b: the tree is BaseDir/lib/modules/RELEASE. A relative BaseDir is made
	// absolute against the working directory, as kmod does (without cleaning the path).
	BaseDir string
	// KernelRelease is the release to work on; "" means uname -r.
	KernelRelease string
	// ModuleDir replaces "/lib/modules" (kmod ≥ 33's --moduledir); "" keeps it. As kmod
	// 34, a relative directory is taken from the root ("foobar" is "/foobar").
	ModuleDir string
	// OutDir is kmod ≥ 31's --outdir: files are written to OutDir/lib/modules/RELEASE
	// (with ModuleDir applied) instead of the tree itself; "" writes into the tree.
	OutDir string
	// ConfigPaths replaces depmod.d's default directories (-C, repeatable); nil keeps
	// them. Like kmod 30, the defaults are read from the real root even with -b; ConfigRoot
	// prefixes them instead (a seam for tests).
	ConfigPaths []string
	ConfigRoot  string
	// Symvers (-E) or SystemMap (-F) name the kernel's own exports.
	Symvers, SystemMap string
	ErrSyms            bool // -e: report unresolved symbols (needs Symvers or SystemMap)
	WarnDups           bool // -w: report duplicate index entries
	Verbose            int  // -v, repeatable
	DryRun             bool // -n: write the text files to Stdout, no index, touch nothing
	Quick              bool // -A: do nothing when modules.dep is newer than every module
	All                bool // -a (also implied when Files is empty)
	SymPrefix          byte // -P
	// Files, when All is false, are the only modules considered (absolute paths).
	Files []string
	// Jobs bounds the modules read at once; 0 means GOMAXPROCS.
	Jobs int
	// Cache says whether a full run (-a) reads and updates gokmod's per-module cache
	// (cache.go). CachePath, when set, is where it lives instead of CacheFile in the
	// output directory (a real path: Root does not apply), and implies CacheAuto means on.
	Cache     CacheMode
	CachePath string
	// Root prefixes every absolute path depmod reads or writes — the module directory,
	// depmod.d, external directories — while the paths written into the files stay as
	// depmod names them, as kmod's test suite remaps paths. "" is the real root.
	Root string
	// Extensions, when not nil, replaces the module file endings depmod considers
	// (default: Extensions, Debian's build without zlib).
	Extensions []string
	// Kmod is the kmod release depmod behaves as: compat.Kmod34 (also the zero value)
	// writes modules.weakdep and pre-order indexes, compat.Kmod30 neither. The tools take
	// it from GOKMOD_KMOD (compat.FromEnv); the library never reads the environment.
	Kmod compat.Kmod

	Prog           string    // name in messages; "depmod" when empty
	Stdout, Stderr io.Writer // nil means os.Stdout, os.Stderr
}

// CacheMode is Options.Cache.
type CacheMode int

const (
	// CacheAuto uses the cache for the system's own tree — no -b, -o or Root — which
	// depmod is run on again and again as packages come and go, and not for a tree
	// under a base directory, most often an image being built (mkinitramfs runs
	// depmod -b on the initramfs tree), which would carry the cache file.
	CacheAuto CacheMode = iota
	CacheOn
	CacheOff
)

// ErrFailed is returned (wrapped) when depmod fails after reporting why on Stderr, as
// kmod's depmod exits with status 1. A FATAL message has then been printed.
var ErrFailed = errors.New("depmod failed")

// kmod's log priorities (syslog.h).
const (
	logCrit    = 2
	logErr     = 3
	logWarning = 4
	logNotice  = 5
	logInfo    = 6
)

type logger struct {
	w        io.Writer
	prog     string
	priority int  // messages above it are dropped (log_printf)
	debug    bool // libkmod's messages name their source, as Debian's kmod 30 (a debug build) does
	fatal    bool // a FATAL message was printed: kmod's log_printf has exited
}

func (l *logger) printf(prio int, format string, args ...any) {
	if prio > l.priority {
		return
	}
	name := map[int]string{logCrit: "FATAL", logErr: "ERROR", logWarning: "WARNING", logNotice: "NOTICE", logInfo: "INFO"}[prio]
	fmt.Fprintf(l.w, "%s: %s: "+format, append([]any{l.prog, name}, args...)...)
}

func (l *logger) crit(format string, args ...any) error {
	l.printf(logCrit, format, args...)
	l.fatal = true
	return ErrFailed
}

// libkmod is a libkmod message through tools/log.c's log_kmod: file, line and fn locate
// it in kmod 30, whose Debian build prints them.
func (l *logger) libkmod(prio int, file string, line int, fn, format string, args ...any) {
	if l.debug {
		format = fmt.Sprintf("../libkmod/%s:%d %s() ", file, line, fn) + format
	}
	l.printf(prio, format, args...)
}
func (l *logger) err(format string, args ...any)  { l.printf(logErr, format, args...) }
func (l *logger) warn(format string, args ...any) { l.printf(logWarning, format, args...) }
func (l *logger) info(format string, args ...any) { l.printf(logInfo, format, args...) }

// depmod is one run: tools/depmod.c's struct depmod and struct cfg.
type depmod struct {
	o       *Options
	kmod    compat.Kmod  // the release behaved as (never zero)
	outs    []outputFile // its output table
	log     *logger
	stdout  io.Writer
	cfg     *config.DepmodConfig
	dirname string // the module directory, as kmod spells it (root + /lib/modules/REL)
	outdir  string // where files go
	kver    string

	fds  kmodFds // the descriptors kmod's walk would hold (fds.go)
	walk []byte  // the path the walk is at (scan.go)
	// walkLinks counts the symbolic links to directories on the walk's path (scan.go).
	walkLinks int
	dirsRun   []dirRun // the directories searched, for the cache (cache_dirs.go)
	euid      uint64   // the effective user ID a listing is recorded with (cache_dirs.go)

	dirsCached, dirsListed int // directories whose listing came from the cache, or not

	order    []byte // modules.order, read before the search
	orderErr error

	mods    []*module          // depmod->modules, in final order once sorted
	byName  map[string]*module // modules_by_name
	byUnc   map[string]*module // modules_by_uncrelpath
	symbols map[string]*symbol
	symSlab []symbol         // backing for the modules' exports (loadModules)
	owned   func() []*symbol // the symbols modules export, in kmod's order (ownedSymbols)
	depL    *lazyLines       // modules.dep's lines, shared by the goroutines that need them
	t0      time.Time

	cache  *moduleCache // nil: not used
	digest [32]byte     // of the outputs' inputs besides module data, once computed

	// builtin and builtinModinfo read modules.builtin and modules.builtin.modinfo once:
	// the cache's digest and the outputs made from them see the same bytes.
	builtin, builtinModinfo func() ([]byte, error)
	written                 map[string]fileKey // the output files written quietly (for the cache)
	reused                  bool
	readq                   chan []*module // modules found, read while the search goes on
	pending                 []*module      // found, not yet handed to the readers
	readWG                  *sync.WaitGroup
}

// Run does what `depmod` does with these options. It returns nil on success; on failure
// the reason has been printed to Stderr and the error wraps ErrFailed.
func Run(o Options) error {
	d := &depmod{o: &o, kmod: o.Kmod}
	if d.kmod != compat.Kmod30 {
		d.kmod = compat.Kmod34
	}
	d.outs = outputsFor(d.kmod)
	if o.Prog == "" {
		o.Prog = "depmod"
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	d.stdout = o.Stdout
	d.phase("start")
	// Until log_setup_kmod_log, tools log at LOG_WARNING; afterwards at the verbosity.
	d.log = &logger{w: o.Stderr, prog: o.Prog, priority: logWarning}

	d.kver = o.KernelRelease
	if d.kver == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return d.log.crit("uname() failed: %s\n", strerror(err))
		}
		d.kver = unix.ByteSliceToString(u.Release[:])
	}
	root := ""
	if o.BaseDir != "" {
		root = makeAbsolute(o.BaseDir)
	}
	moddir := "/lib/modules"
	if o.ModuleDir != "" {
		moddir = o.ModuleDir
		if d.kmod == compat.Kmod34 {
			// kmod 34 strips the directory's leading slashes and joins with one:
			// "-m foobar" is "/foobar" under the root, not relative to anything.
			moddir = "/" + strings.TrimLeft(moddir, "/")
		}
	}
	d.dirname = root + moddir + "/" + d.kver
	d.outdir = d.dirname
	d.builtin = sync.OnceValues(func() ([]byte, error) { return sysfile.ReadFile(d.real(d.dirname+"/modules.builtin"), nil, 0) })
	d.builtinModinfo = sync.OnceValues(func() ([]byte, error) {
		return sysfile.ReadFile(d.real(d.dirname+"/modules.builtin.modinfo"), nil, 0)
	})
	if o.OutDir != "" {
		d.outdir = makeAbsolute(o.OutDir) + moddir + "/" + d.kver
	}
	all := o.All || len(o.Files) == 0
	if o.Quick {
		if o.DryRun {
			return nil
		}
		if d.upToDate() == 1 {
			return nil
		}
		all = true
	}
	d.log.priority = logWarning + o.Verbose
	// log_setup_kmod_log after kmod_new: kmod_set_log_fn announces the tool's logger, and
	// depmod_shutdown's kmod_unref releases the context on every way out but a FATAL
	// message's exit. The pointers are gokmod's own.
	d.log.debug = d.kmod == compat.Kmod30
	d.log.libkmod(logInfo, "libkmod.c", 367, "kmod_set_log_fn", "custom logging function %p registered\n", d.log)
	defer func() {
		if !d.log.fatal {
			d.log.libkmod(logInfo, "libkmod.c", 334, "kmod_unref", "context %p released\n", d)
		}
	}()
	// modules.order is read now, for sortByOrder: its lines, a module each, size the
	// module tables, which grown entry by entry rehash a dozen times for Debian's tree.
	d.order, d.orderErr = sysfile.ReadFile(d.real(d.dirname+"/modules.order"), nil, 0)
	n := bytes.Count(d.order, []byte{'\n'})
	d.byName = make(map[string]*module, n+n/8)
	d.byUnc = make(map[string]*module, n+n/8)
	d.symbols = map[string]*symbol{}

	checkSymvers, printUnknown := false, o.ErrSyms
	switch {
	case o.Symvers != "":
		checkSymvers = true
		if err := d.loadSymvers(o.Symvers); err != nil {
			return d.log.crit("could not load %s: %s\n", o.Symvers, strerror(err))
		}
	case o.SystemMap != "":
		if err := d.loadSystemMap(o.SystemMap); err != nil {
			return d.log.crit("could not load %s: %s\n", o.SystemMap, strerror(err))
		}
	case printUnknown:
		d.log.warn("-e needs -E or -F\n")
		printUnknown = false
	}

	d.fds = newKmodFds() // before the readers and the cache open anything
	d.euid = uint64(unix.Geteuid())
	d.startReaders()
	defer d.stopReaders()
	if all {
		croot := o.ConfigRoot
		if croot == "" {
			croot = o.Root
		}
		d.cfg = config.LoadDepmod(config.DepmodOptions{Root: croot, KernelRelease: d.kver, ConfigPaths: o.ConfigPaths, Kmod: d.kmod})
		for _, w := range d.cfg.Warnings {
			d.log.err("%s\n", w.Msg)
		}
		d.openCache()
		defer d.closeCache()
		d.phase("cache")
		if err := d.search(); err != nil {
			return d.log.crit("could not search modules: %s\n", strerror(err))
		}
	} else {
		d.cfg = &config.DepmodConfig{Search: []string{"updates"}}
		for _, p := range o.Files {
			if !strings.HasPrefix(p, "/") {
				return d.log.crit("%s: not absolute path.\n", p)
			}
			if _, err := os.Stat(d.real(p)); err != nil {
				return d.log.crit("could not create module %s: %s\n", p, strerror(err))
			}
			name := config.PathToModname(p)
			if name == "" {
				return d.log.crit("could not create module %s: %s\n", p, strerror(unix.ENOENT))
			}
			if err := d.add(p, name, cacheSlot{}); err != nil {
				return d.log.crit("could not add module %s: %s\n", p, strerror(err))
			}
		}
	}

	if d.cache != nil {
		d.cache.wait() // a tree without modules has no reader to wait for it
	}
	d.phase("search")
	d.buildArray()
	d.sortByOrder()
	d.stopReaders()
	if d.reusable() {
		d.reused = true
		if err := d.keepOutputs(); err == nil {
			d.phase("kept")
			d.saveCache(d.written)
			return nil
		}
		d.reused = false // the files changed under us: compute them after all
	}
	if d.cache != nil && d.digest == ([32]byte{}) {
		// Before the outputs are computed: inputs that change afterwards then make
		// the digest differ next time, never match outputs computed from older ones.
		d.digest = d.inputsDigest()
	}
	var gen generation
	d.startGenerating(&gen, afterRead)
	if err := d.loadModules(); err != nil {
		gen.wg.Wait()
		return err
	}
	d.phase("read")
	d.startGenerating(&gen, afterSymbols)
	d.loadDependencies(checkSymvers, printUnknown)
	if !d.calculateDependencies() {
		gen.wg.Wait()
		d.saveCache(nil)
		return ErrFailed
	}
	d.phase("deps")
	err := d.output(&gen)
	d.phase("output")
	d.saveCache(d.written)
	d.phase("cache")
	return err
}

// phase reports how long each step took when GOKMOD_DEPMOD_TRACE is set.
func (d *depmod) phase(name string) {
	if !trace {
		return
	}
	now := time.Now()
	if d.t0.IsZero() {
		fmt.Fprintf(d.o.Stderr, "depmod: trace: started %v after the process\n", now.Sub(processStart).Round(time.Millisecond/10))
	} else {
		fmt.Fprintf(d.o.Stderr, "depmod: trace: %-7s %v\n", name, now.Sub(d.t0).Round(time.Millisecond/10))
	}
	d.t0 = now
}

var trace = os.Getenv("GOKMOD_DEPMOD_TRACE") != ""

var processStart = time.Now()

// real maps a path depmod names below Options.Root.
func (d *depmod) real(p string) string {
	if d.o.Root == "" || d.o.Root == "/" || !strings.HasPrefix(p, "/") {
		return p
	}
	return d.o.Root + p
}

// makeAbsolute is path_make_absolute_cwd: relative paths are joined to the working
// directory with a '/', nothing else is cleaned.
func makeAbsolute(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	cwd, err := os.Getwd()
	if err != nil {
		return p
	}
	return cwd + "/" + p
}

// strerror is glibc's strerror text for an error's errno.
func strerror(err error) string {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		var fe *ko.FormatError
		if errors.As(err, &fe) {
			errno = unix.EINVAL
		} else {
			return err.Error()
		}
	}
	s := errno.Error()
	if s == "" {
		return "Success"
	}
	if strings.HasPrefix(s, "errno ") {
		return "Unknown error " + s[len("errno "):]
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func jobs(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}
