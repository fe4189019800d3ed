package tool

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"gokmod/internal/cli"
	"gokmod/kmod/compat"
	"gokmod/kmod/depmod"
)

// depmodHelpHead is the start of depmod's help text, the same in kmod 30 and 34.2.
const depmodHelpHead = "Usage:\n" +
	"\tdepmod -[aA] [options] [forced_version]\n" +
	"\n" +
	"If no arguments (except options) are given, \"depmod -a\" is assumed\n" +
	"\n" +
	"depmod will output a dependency list suitable for the modprobe utility.\n" +
	"\n" +
	"Options:\n" +
	"\t-a, --all            Probe all modules\n" +
	"\t-A, --quick          Only does the work if there's a new module\n" +
	"\t-e, --errsyms        Report not supplied symbols\n" +
	"\t-n, --show           Write the dependency file on stdout only\n" +
	"\t-P, --symbol-prefix  Architecture symbol prefix\n" +
	"\t-C, --config=PATH    Read configuration from PATH\n" +
	"\t-v, --verbose        Enable verbose mode\n" +
	"\t-w, --warn           Warn on duplicates\n" +
	"\t-V, --version        show version\n" +
	"\t-h, --help           show this help\n" +
	"\n" +
	"The following options are useful for people managing distributions:\n"

// depmodHelp is kmod 30's help text with gokmod's extensions.
func depmodHelp(w io.Writer) {
	fmt.Fprintf(w, depmodHelpHead+
		"\t-b, --basedir=DIR    Use an image of a module tree.\n"+
		"\t-F, --filesyms=FILE  Use the file instead of the\n"+
		"\t                     current kernel symbols.\n"+
		"\t-E, --symvers=FILE   Use Module.symvers file to check\n"+
		"\t                     symbol versions.\n"+
		"\n"+
		"gokmod extensions (kmod 31+ options; kmod 30 rejects them):\n"+
		"\t-o, --outdir=DIR     Output directory for generated files\n"+
		"\t    --moduledir=DIR  Use DIR instead of /lib/modules\n"+
		"\t-j, --jobs=N         Read N modules at once (default: one per CPU)\n"+
		"\t    --cache          Use the per-module cache (modules.gokmod-cache beside\n"+
		"\t                     the output files); the default without -b and -o\n"+
		"\t    --cache-file=FILE  Keep the cache in FILE (implies --cache)\n"+
		"\t    --no-cache       Read every module, neither reading nor writing the cache\n")
}

// depmodHelp34 is kmod 34.2's help text (-b changed meaning in words, -m and -o are
// kmod's own) with gokmod's extensions.
func depmodHelp34(w io.Writer) {
	fmt.Fprintf(w, depmodHelpHead+
		"\t-b, --basedir=DIR    Root path (default: /).\n"+
		"\t-m, --moduledir=DIR  Module directory (default: /lib/modules).\n"+
		"\t-o, --outdir=DIR     Output root path (default: same as <basedir>).\n"+
		"\t-F, --filesyms=FILE  Use the file instead of the\n"+
		"\t                     current kernel symbols.\n"+
		"\t-E, --symvers=FILE   Use Module.symvers file to check\n"+
		"\t                     symbol versions.\n"+
		"\n"+
		"gokmod extensions:\n"+
		"\t-j, --jobs=N         Read N modules at once (default: one per CPU)\n"+
		"\t    --cache          Use the per-module cache (modules.gokmod-cache beside\n"+
		"\t                     the output files); the default without -b and -o\n"+
		"\t    --cache-file=FILE  Keep the cache in FILE (implies --cache)\n"+
		"\t    --no-cache       Read every module, neither reading nor writing the cache\n")
}

// depmodOptions are the options of kmod 30's depmod (with gokmod's extensions); kmod 34
// dropped the deprecated ones and made -m --moduledir.
func depmodOptions(k compat.Kmod) []cli.Option {
	opts := []cli.Option{
		{Short: 'a', Long: "all"}, {Short: 'A', Long: "quick"},
		{Short: 'b', Long: "basedir", HasArg: true}, {Short: 'C', Long: "config", HasArg: true},
		{Short: 'E', Long: "symvers", HasArg: true}, {Short: 'F', Long: "filesyms", HasArg: true},
		{Short: 'e', Long: "errsyms"}, {Short: 'v', Long: "verbose"},
		{Short: 'n', Long: "show"}, {Long: "dry-run"},
		{Short: 'P', Long: "symbol-prefix", HasArg: true}, {Short: 'w', Long: "warn"},
		{Short: 'o', Long: "outdir", HasArg: true},
		{Short: 'j', Long: "jobs", HasArg: true},
		{Long: "cache"}, {Long: "cache-file", HasArg: true}, {Long: "no-cache"},
	}
	if k == compat.Kmod30 {
		return append(opts,
			// Deprecated and ignored; short and long forms apart, since kmod names the one used.
			cli.Option{Short: 'u'}, cli.Option{Long: "unresolved-error"}, cli.Option{Short: 'q'}, cli.Option{Long: "quiet"},
			cli.Option{Short: 'r'}, cli.Option{Long: "root"}, cli.Option{Short: 'm'}, cli.Option{Long: "map"},
			cli.Option{Long: "moduledir", HasArg: true})
	}
	return append(opts, cli.Option{Short: 'm', Long: "moduledir", HasArg: true})
}

// depmodTool is kmod's depmod (tools/depmod.c do_depmod) over kmod/depmod, as the
// release GOKMOD_KMOD selects (kmod 34.2 by default).
func depmodTool(e *Env, args []string) int {
	k, err := compat.FromEnv()
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: ERROR: %v\n", e.Prog, err)
		return 1
	}
	help := depmodHelp
	if k == compat.Kmod34 {
		help = depmodHelp34
	}
	parsed, operands, status, ok := e.getopt(args, depmodOptions(k), help)
	if !ok {
		return status
	}
	o := depmod.Options{Prog: e.Prog, Stdout: e.Stdout, Stderr: e.Stderr, Kmod: k}
	if e.Host != nil && e.Host.Root != "" && e.Host.Root != "/" {
		o.ConfigRoot = e.Host.Root
	}
	for _, p := range parsed {
		switch p.Name {
		case "all":
			o.All = true
		case "quick":
			o.Quick = true
		case "basedir":
			o.BaseDir = p.Arg
		case "config":
			o.ConfigPaths = append(o.ConfigPaths, p.Arg)
		case "symvers":
			o.Symvers = p.Arg
		case "filesyms":
			o.SystemMap = p.Arg
		case "errsyms":
			o.ErrSyms = true
		case "verbose":
			o.Verbose++
		case "show", "dry-run":
			o.DryRun = true
		case "symbol-prefix":
			if len(p.Arg) != 1 {
				fmt.Fprintf(e.Stderr, "%s: FATAL: -P only takes a single char\n", e.Prog)
				return 1
			}
			o.SymPrefix = p.Arg[0]
		case "warn":
			o.WarnDups = true
		case "u", "q", "r", "m":
			fmt.Fprintf(e.Stderr, "%s: WARNING: Ignored deprecated option -%s\n", e.Prog, p.Name)
		case "unresolved-error", "quiet", "root", "map":
			fmt.Fprintf(e.Stderr, "%s: WARNING: Ignored deprecated option --%s\n", e.Prog, p.Name)
		case "outdir":
			o.OutDir = p.Arg
		case "moduledir":
			o.ModuleDir = p.Arg
		case "cache":
			o.Cache = depmod.CacheOn
		case "cache-file":
			o.Cache, o.CachePath = depmod.CacheOn, p.Arg
		case "no-cache":
			o.Cache = depmod.CacheOff
		case "jobs":
			if _, err := fmt.Sscanf(p.Arg, "%d", &o.Jobs); err != nil || o.Jobs < 1 {
				fmt.Fprintf(e.Stderr, "%s: ERROR: bad --jobs value '%s'\n", e.Prog, p.Arg)
				return 1
			}
		}
	}
	if len(operands) > 0 {
		if !isVersionNumber(operands[0]) {
			e.Errorf("Bad version passed %s\n", operands[0])
			return 1
		}
		o.KernelRelease = operands[0]
		o.Files = operands[1:]
	}
	// depmod allocates a little per module and symbol and exits soon after: collecting
	// rarely saves a tenth of its time, within a bound on the heap. 1000 rather than 400
	// (measured: after one module was added, 62 -> 56 ms median; peak RSS on a fresh
	// 6.1 tree 44 -> 46 MB): with the outputs sized up front, a collection cycle's
	// write barriers cost more than the pages a larger heap touches.
	defer debug.SetGCPercent(debug.SetGCPercent(1000))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(192 << 20))
	if err := depmod.Run(o); err != nil {
		if !errors.Is(err, depmod.ErrFailed) {
			e.Errorf("%v\n", err)
		}
		return 1
	}
	return 0
}

// isVersionNumber is depmod's sscanf(version, "%u.%u", ...) == 2.
func isVersionNumber(s string) bool {
	num := func(s string) (string, bool) {
		s = strings.TrimLeft(s, " \t\n\v\f\r")
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[i:], i > 0
	}
	rest, ok := num(s)
	if !ok || rest == "" || rest[0] != '.' {
		return false
	}
	_, ok = num(rest[1:])
	return ok
}
