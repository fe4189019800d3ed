package modprobe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kmod"
)

// ProbeFlags are kmod_module_probe_insert_module's flags, with libkmod's values.
type ProbeFlags int

// The flags of a probe.
const (
	ForceVermagic           ProbeFlags = 0x00001 // ignore the version magic
	ForceModversion         ProbeFlags = 0x00002 // ignore symbol versions
	IgnoreCommand           ProbeFlags = 0x00004 // ignore install commands and softdeps
	IgnoreLoaded            ProbeFlags = 0x00008 // do not check whether modules are loaded
	DryRun                  ProbeFlags = 0x00010 // only report what would be done
	FailOnLoaded            ProbeFlags = 0x00020 // the module already loaded is an error (EEXIST)
	ApplyBlacklistAll       ProbeFlags = 0x10000 // stop if the module or a dependency is blacklisted
	ApplyBlacklist          ProbeFlags = 0x20000 // stop if the module is blacklisted
	ApplyBlacklistAliasOnly ProbeFlags = 0x40000 // stop if the module, found through an alias, is blacklisted
)

// Action is one step of a probe, reported before it is taken (print_action).
type Action struct {
	Module  *Module
	Install bool   // run the install command instead of loading
	Command string // the install command, as configured (before $CMDLINE_OPTS)
	Options string // the module's options ("" when none)
}

// ProbeHooks let a caller watch and steer a probe, as the callbacks of
// kmod_module_probe_insert_module do.
type ProbeHooks struct {
	// Action is called before each load or install command (print_action).
	Action func(Action)
	// RunInstall runs an install command ($CMDLINE_OPTS already replaced); nil runs it
	// with /bin/sh -c, MODPROBE_MODULE set to the module name, as system(3) does.
	RunInstall func(m *Module, cmd string) error
	// States, when not nil, keeps the kernel's answer about each module for the probes
	// of one dry run. A dry run changes nothing, and kmod asks /sys/module again for
	// every module on every list it walks: an alias that resolves to two drivers
	// sharing ten dependencies reads each of those twice or three times over. It is
	// used only with DryRun; a probe that loads modules asks every time, as kmod.
	States *StateMemo

	ctx context.Context // Load's: checked before each step
}

// StateMemo remembers whether modules are in the kernel, for ProbeHooks.States. Make a
// new one for each dry run: it never forgets, so a module loaded meanwhile by someone
// else stays absent in it.
type StateMemo struct{ in map[*Module]bool }

// NewStateMemo returns an empty memo.
func NewStateMemo() *StateMemo { return &StateMemo{in: map[*Module]bool{}} }

// inKernel is module_is_inkernel, answered from the memo in a dry run.
// At -vvv under kmod 30 every question is asked again, as kmod's DEBUG lines show.
func (h *ProbeHooks) inKernel(m *Module, flags ProbeFlags) bool {
	if h.States == nil || flags&DryRun == 0 || m.s.debug {
		return m.inKernel()
	}
	in, ok := h.States.in[m]
	if !ok {
		in = m.inKernel()
		h.States.in[m] = in
	}
	return in
}

// probeList is kmod_module_get_probe_list. The list holds a reference on each entry.
func (s *Session) probeList(m *Module, ignorecmd bool) []*Module {
	s.resetProbeState()
	var list []*Module
	s.getProbeList(m, true, ignorecmd, &list)
	return list
}

func (s *Session) getProbeList(m *Module, required, ignorecmd bool, list *[]*Module) {
	if m.visited {
		if s.debug {
			s.dbg("libkmod-module.c", 1195, "__kmod_module_get_probe_list", "Ignore module '%s': already visited\n", m.name)
		}
		return
	}
	m.visited = true
	deps := m.Dependencies() // kmod_module_get_dependencies: a referenced copy
	for _, d := range deps {
		d.ref()
	}
	defer unrefList(deps)
	if required {
		m.required = true
		for _, d := range deps {
			d.required = true
		}
	}
	for _, d := range deps {
		s.fillSoftdep(d, list)
	}
	if ignorecmd {
		*list = append(*list, m.ref())
		m.ignorecmd = true
	} else {
		s.fillSoftdep(m, list)
	}
}

// fillSoftdep is __kmod_module_fill_softdep: pre-softdeps, the module, post-softdeps.
// Unlike getProbeList it does not check visited, which is why kmod's dry runs repeat
// modules.
func (s *Session) fillSoftdep(m *Module, list *[]*Module) {
	pre, post := m.Softdeps()
	for _, p := range pre {
		s.getProbeList(p, false, false, list)
	}
	*list = append(*list, m.ref())
	m.ignorecmd = len(pre) > 0 || len(post) > 0
	for _, p := range post {
		s.getProbeList(p, false, false, list)
	}
	unrefList(pre)
	unrefList(post)
}

// Probe is kmod_module_probe_insert_module: load m with its dependencies and soft
// dependencies (or run install commands), options from the configuration, extra options
// for m itself. It returns the blacklist flag that stopped the probe (> 0) or 0, and
// the error of the first required module that failed (an *InsertError or a
// *CommandError, both unwrapping to the errno). A module already loaded is success.
func (s *Session) Probe(m *Module, flags ProbeFlags, extra *string, hooks ProbeHooks) (ProbeFlags, error) {
	if flags&IgnoreLoaded == 0 && hooks.inKernel(m, flags) {
		if flags&FailOnLoaded != 0 {
			return 0, &Error{Op: "insert", Module: m.name, Err: unix.EEXIST}
		}
		return 0, nil
	}
	if m.isAlias && flags&ApplyBlacklistAliasOnly != 0 && m.isBlacklisted() {
		return ApplyBlacklistAliasOnly, nil
	}
	for _, f := range []ProbeFlags{ApplyBlacklistAll, ApplyBlacklist} {
		if flags&f != 0 && m.isBlacklisted() {
			return f, nil
		}
	}
	list := s.probeList(m, flags&IgnoreCommand != 0)
	if flags&ApplyBlacklistAll != 0 {
		var kept []*Module // kmod_module_apply_filter: a referenced copy
		for _, x := range list {
			if !x.isBlacklisted() {
				kept = append(kept, x.ref())
			}
		}
		unrefList(list)
		if len(kept) == 0 {
			return ApplyBlacklistAll, nil
		}
		list = kept
	}
	defer unrefList(list)
	var err error
	for _, x := range list {
		if hooks.ctx != nil && hooks.ctx.Err() != nil {
			return 0, hooks.ctx.Err()
		}
		mopts, hasOpts := x.Options()
		cmd, hasCmd := x.InstallCommand()
		if flags&IgnoreLoaded == 0 && hooks.inKernel(x, flags) {
			if s.debug {
				s.dbg("libkmod-module.c", 1373, "kmod_module_probe_insert_module", "Ignoring module '%s': already loaded\n", x.name)
			}
			err = &Error{Op: "insert", Module: x.name, Err: unix.EEXIST}
		} else {
			var xopts *string
			if x == m {
				xopts = extra
			}
			options := concatOptions(mopts, hasOpts, xopts)
			if hasCmd && !x.ignorecmd {
				if hooks.Action != nil {
					hooks.Action(Action{Module: x, Install: true, Command: cmd, Options: options})
				}
				if flags&DryRun == 0 {
					err = s.runInstall(x, cmd, options, hooks)
				}
			} else {
				if hooks.Action != nil {
					hooks.Action(Action{Module: x, Options: options})
				}
				if flags&DryRun == 0 {
					err = s.insert(x, flags, options)
				}
			}
		}
		if errors.Is(err, unix.EEXIST) && x == m && flags&FailOnLoaded != 0 {
			break
		}
		if errors.Is(err, unix.EEXIST) || !x.required {
			err = nil
		} else if err != nil {
			break
		}
	}
	return 0, err
}

// concatOptions is module_options_concat: configured options, a space, extra options.
// With configured options and no extra ones the result keeps a trailing space, as kmod's.
func concatOptions(opt string, hasOpt bool, xopt *string) string {
	if !hasOpt && (xopt == nil || *xopt == "") {
		return ""
	}
	var b strings.Builder
	if hasOpt {
		b.WriteString(opt)
		b.WriteByte(' ')
	}
	if xopt != nil {
		b.WriteString(*xopt)
	}
	return b.String()
}

// expandCmdlineOpts replaces every $CMDLINE_OPTS in an install or remove command.
func expandCmdlineOpts(cmd, opts string) string {
	return strings.ReplaceAll(cmd, "$CMDLINE_OPTS", opts)
}

// CommandError is an install or remove command that failed.
type CommandError struct {
	Kind    string // "install" or "remove"
	Module  string
	Command string
	Status  int   // exit status; -1 when it could not run
	Err     error // why it could not run
}

func (e *CommandError) Error() string {
	if e.Status < 0 {
		return "could not run " + e.Kind + " command '" + e.Command + "' for module " + e.Module + ": " + e.Err.Error()
	}
	return "error running " + e.Kind + " command '" + e.Command + "' for module " + e.Module
}

// Unwrap gives EINVAL, the errno libkmod returns for a failed command.
func (e *CommandError) Unwrap() error { return unix.EINVAL }

func (s *Session) runInstall(m *Module, cmd, options string, hooks ProbeHooks) error {
	cmd = expandCmdlineOpts(cmd, options)
	// libkmod's command_do announces the command; a RunInstall hook stands for the rest
	// of it (kmod's modprobe passes no run_install callback).
	if s.debug {
		s.dbg("libkmod-module.c", 1034, "command_do", "%s %s\n", "install", cmd)
	}
	if hooks.RunInstall != nil {
		return hooks.RunInstall(m, cmd)
	}
	status, err := RunCommand(m.name, cmd)
	if err != nil {
		s.logf(LogErr, "command_do", 1041, "Could not run %s command '%s' for module %s: %s\n", "install", cmd, m.name, strerrorText(err))
		return &CommandError{Kind: "install", Module: m.name, Command: cmd, Status: -1, Err: err}
	}
	if status != 0 {
		s.logf(LogErr, "command_do", 1047, "Error running %s command '%s' for module %s: retcode %d\n", "install", cmd, m.name, status)
		return &CommandError{Kind: "install", Module: m.name, Command: cmd, Status: status}
	}
	return nil
}

// RunCommand runs cmd as system(3) does — /bin/sh -c, standard streams inherited — with
// MODPROBE_MODULE set to the module name. It returns the exit status.
func RunCommand(module, cmd string) (int, error) {
	// As system(3) runs it, which kmod calls: /bin/sh named "sh", so that the shell's
	// own messages read "sh: 1: ...", as under kmod.
	c := &exec.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", cmd}}
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.Env = append(os.Environ(), "MODPROBE_MODULE="+module)
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode() & 0xff, nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// insert is kmod_module_insert_module for a module in the probe list.
func (s *Session) insert(m *Module, flags ProbeFlags, options string) error {
	path := m.Path()
	if path == "" {
		s.logf(LogErr, "kmod_module_insert_module", 895, "could not find module by name='%s'\n", m.name)
		return &Error{Op: "insert", Module: m.name, Err: unix.ENOENT}
	}
	var iflags kmod.InsertFlags
	if flags&ForceVermagic != 0 {
		iflags |= kmod.ForceVermagic
	}
	if flags&ForceModversion != 0 {
		iflags |= kmod.ForceModversion
	}
	_, err := s.host.Insert(s.real(path), options, iflags)
	if err != nil {
		var ie *kmod.InsertError
		if errors.As(err, &ie) {
			ie.Path = path
		}
		s.logf(LogInfo, "kmod_module_insert_module", 949, "Failed to insert module '%s': %s\n", path, strerrorText(err))
		return &Error{Op: "insert", Module: m.name, Err: err}
	}
	return nil
}
