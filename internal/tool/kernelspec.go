package tool

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/kernel"
	"gokmod/load"
)

// kernelSpecHelp is the part of the model tools' --help about the target kernel.
const kernelSpecHelp = "\t--kernel SPEC     the target kernel (default host), resolved in this order:\n" +
	"\t                    host       the running system: /proc/sys/kernel/osrelease, /boot/config-REL\n" +
	"\t                               or /proc/config.gz, /lib/modules/REL, /proc/cmdline, /sys/module,\n" +
	"\t                               /proc/sys/kernel/modules_disabled\n" +
	"\t                    a path     (SPEC holds a '/': write ./DIR for a directory here) Debian's kernel\n" +
	"\t                               packages unpacked into one directory: boot/config-REL, lib/modules/REL,\n" +
	"\t                               usr/src/linux-headers-REL, and vmlinux or boot/vmlinuz-REL; or merged-/usr\n" +
	"\t                               (7.x): usr/lib/modules/REL with config and vmlinuz inside it\n" +
	"\t                    a release  installed on this system, if /boot/config-REL exists (then\n" +
	"\t                               /lib/modules/REL, /usr/src/linux-headers-REL, /boot/vmlinuz-REL);\n" +
	"\t                               else the release scripts/setup.sh prepared in $GOKMOD_CACHE/kernels/REL\n" +
	"\t                  The output says which was chosen.\n" +
	"\t--release REL     the release to use from a directory that holds several\n" +
	"\t--cmdline '...'   the kernel command line (e.g. module.sig_enforce=1, lockdown=integrity;\n" +
	"\t                  nomodule); for host it replaces /proc/cmdline and what the running\n" +
	"\t                  kernel shows of sig_enforce and lockdown\n" +
	"\t--trust CERT      a certificate (DER or PEM) the kernel trusts beyond its built-in keys:\n" +
	"\t                  an enrolled MOK, e.g. /var/lib/dkms/mok.pub (repeatable)\n" +
	"\t--comm NAME       the process the kernel names in its lockdown lines (default insmod)\n" +
	"\t--modules-disabled\n" +
	"\t                  model /proc/sys/kernel/modules_disabled = 1 (--kernel host reads it)\n" +
	"\t--as-caller       model this process's capabilities instead of root's: without\n" +
	"\t                  CAP_SYS_MODULE every load is EPERM (by default the verdict is for root,\n" +
	"\t                  and a missing capability is only noted)\n" +
	"\t--erratum-843419  (arm64) model a CPU with Cortex-A53 erratum 843419, which grows module\n" +
	"\t                  PLTs (default: without, as QEMU's virt CPUs); KASLR is assumed on\n" +
	"\t                  unless --cmdline has nokaslr\n"

// targetOptions are the options every model tool takes about its target.
var targetOptions = []cli.Option{
	{Long: "kernel", HasArg: true}, {Long: "release", HasArg: true}, {Long: "cmdline", HasArg: true},
	{Long: "modules-disabled"}, {Long: "as-caller"}, {Long: "trust", HasArg: true}, {Long: "comm", HasArg: true},
	{Long: "erratum-843419"},
}

// targetSpec is what the target options asked for.
type targetSpec struct {
	spec, release, cmdline    string
	modulesDisabled, asCaller bool
	trust                     []string // --trust CERT, repeatable
	comm                      string   // --comm NAME
	erratum843419             bool     // --erratum-843419
}

// option takes p if it is one of targetOptions, and says whether it was.
func (s *targetSpec) option(p cli.Parsed) bool {
	switch p.Name {
	case "kernel":
		s.spec = p.Arg
	case "release":
		s.release = p.Arg
	case "cmdline":
		s.cmdline = p.Arg
	case "modules-disabled":
		s.modulesDisabled = true
	case "as-caller":
		s.asCaller = true
	case "trust":
		s.trust = append(s.trust, p.Arg)
	case "comm":
		s.comm = p.Arg
	case "erratum-843419":
		s.erratum843419 = true
	default:
		return false
	}
	return true
}

// modelTarget is the kernel the model's tools predict for, with what the spec told about
// the machine and what every output must say about it.
type modelTarget struct {
	K *kernel.Kernel
	// Source says how SPEC was resolved: "host", "installed", "directory" or "cache".
	Source string
	// Where is the root the kernel's files were found under.
	Where string
	// Host is true for the running system: its /sys/module/compression is the kernel's.
	Host bool
	// Opts are the model options the target implies (modules_disabled, the caller).
	Opts load.Options
	// Fit says which followed version models the kernel and whether that is exact.
	Fit kernel.ModelFit
	// Notes are said once by every tool: what the kernel description lacks, an
	// approximated version, a caller without CAP_SYS_MODULE.
	Notes []string
	root  string // the system root prefix ("" for /)
}

// Describe says which kernel was chosen and from where, in one phrase.
func (t *modelTarget) Describe() string {
	switch t.Source {
	case "host":
		return fmt.Sprintf("%s, the running kernel", t.K.Release)
	case "installed":
		return fmt.Sprintf("%s, installed under %s", t.K.Release, t.Where)
	case "directory":
		return fmt.Sprintf("%s, unpacked in %s", t.K.Release, t.Where)
	}
	return fmt.Sprintf("%s, prepared in the cache (%s)", t.K.Release, t.Where)
}

// loadTarget resolves the target options (see kernelSpecHelp). The system root is
// e.Host.Root, so tests can give a fake installed system.
func (e *Env) loadTarget(s targetSpec) (*modelTarget, error) {
	root := ""
	if e.Host != nil {
		root = e.Host.Root
	}
	t, err := resolveKernel(root, s.spec, s.release)
	if err != nil {
		return nil, err
	}
	t.root = root
	if s.cmdline != "" {
		t.K.CmdLine = s.cmdline
		t.K.Security.BootWith() // another boot: not what the running kernel shows
	}
	if err := trustKeys(t.K, s.trust); err != nil {
		return nil, err
	}
	t.Opts.Comm = s.comm
	t.Opts.Arm64.Erratum843419 = s.erratum843419
	t.Opts.ModulesDisabled = s.modulesDisabled
	if t.Host {
		if b, err := os.ReadFile(filepath.Join(rootOrSlash(root), "proc/sys/kernel/modules_disabled")); err == nil && strings.TrimSpace(string(b)) == "1" {
			t.Opts.ModulesDisabled = true
		}
	}
	capable, known := callerCapSysModule(root)
	switch {
	case s.asCaller && !known:
		return nil, fmt.Errorf("--as-caller: this process's capabilities cannot be read from %s", filepath.Join(rootOrSlash(root), "proc/self/status"))
	case s.asCaller:
		t.Opts.Unprivileged = !capable
	case t.Host && known && !capable:
		t.Notes = append(t.Notes, "this process lacks CAP_SYS_MODULE: run as it is, insmod would fail with EPERM; the verdict is for root (--as-caller models this process)")
	}
	t.Fit = t.K.ModelFit()
	if n := t.Fit.Note(); n != "" {
		t.Notes = append(t.Notes, n)
	}
	t.Notes = append(t.Notes, t.K.Notes...)
	return t, nil
}

// resolveKernel finds the kernel SPEC names, below the system root.
func resolveKernel(root, spec, release string) (*modelTarget, error) {
	sys := rootOrSlash(root)
	switch {
	case spec == "" || spec == "host":
		if release != "" {
			return nil, fmt.Errorf("--release %s: the host's release is the running one; name it as --kernel %s", release, release)
		}
		k, err := kernel.FromHostRoot(sys)
		if err != nil {
			return nil, fmt.Errorf("kernel host: %w", err)
		}
		return &modelTarget{K: k, Source: "host", Where: sys, Host: true}, nil
	case strings.Contains(spec, "/") || spec == "." || spec == "..":
		return fromDirectory(spec, release)
	}
	if release != "" && release != spec {
		return nil, fmt.Errorf("kernel %q: --release %s names another release", spec, release)
	}
	var looked []string
	// Installed: the configuration is what tells a kernel from a leftover modules
	// directory (Debian keeps /lib/modules/REL when files not of the package remain).
	cfg := kernel.ConfigIn(sys, spec)
	if _, err := os.Stat(cfg); err == nil {
		k, err := kernel.FromInstalled(sys, spec)
		if err != nil {
			return nil, fmt.Errorf("kernel %q, installed under %s: %w", spec, sys, err)
		}
		return &modelTarget{K: k, Source: "installed", Where: sys}, nil
	}
	looked = append(looked, cfg)
	cache := filepath.Join(cacheDir(), "kernels", spec)
	if st, err := os.Stat(cache); err == nil && st.IsDir() {
		k, err := kernel.FromDebianRoot(cache, spec)
		if err != nil {
			return nil, fmt.Errorf("kernel %q, prepared in the cache: %w", spec, err)
		}
		return &modelTarget{K: k, Source: "cache", Where: cache}, nil
	}
	looked = append(looked, cache)
	return nil, fmt.Errorf("kernel %q: not installed on this system nor prepared in the cache (looked for %s): %w",
		spec, strings.Join(looked, ", "), fs.ErrNotExist)
}

// fromDirectory is a directory of Debian's kernel packages unpacked together, in any of
// Debian's layouts (kernel.FromDir): the one release under lib/modules or
// usr/lib/modules, or --release.
func fromDirectory(dir, release string) (*modelTarget, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("kernel %q: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("kernel %q: not a directory of unpacked kernel packages", dir)
	}
	k, err := kernel.FromDir(dir, release)
	if err != nil {
		return nil, fmt.Errorf("kernel %q: %w", dir, err)
	}
	return &modelTarget{K: k, Source: "directory", Where: dir}, nil
}

// callerCapSysModule reads whether this process has CAP_SYS_MODULE in its effective set
// (CapEff in proc/self/status below root), and whether that could be read.
func callerCapSysModule(root string) (capable, known bool) {
	b, err := os.ReadFile(filepath.Join(rootOrSlash(root), "proc/self/status"))
	if err != nil {
		return false, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_MODULE) != 0, err == nil
		}
	}
	return false, false
}

func rootOrSlash(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

// cacheDir is where scripts/setup.sh unpacks kernels: $GOKMOD_CACHE, else ./.cache.
func cacheDir() string {
	if c := os.Getenv("GOKMOD_CACHE"); c != "" {
		return c
	}
	return ".cache"
}
