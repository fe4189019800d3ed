package modprobe

import (
	"context"
	"time"
)

// LoadOptions are the knobs of Load, modprobe's options by another name.
type LoadOptions struct {
	Params          string // module parameters for the named module only, as on modprobe's command line
	IgnoreInstall   bool   // -i: load the modules themselves, ignoring install commands and softdeps
	UseBlacklist    bool   // -b: a blacklisted module is not loaded (aliases always honour it)
	FirstTime       bool   // --first-time: fail with EEXIST when already loaded
	Force           bool   // -f: ignore version magic and symbol versions
	DryRun          bool   // -n: only report (through Action)
	IgnoreLoaded    bool   // do not consult /sys/module first (modprobe -D)
	Action          func(Action)
	RunInstall      func(m *Module, cmd string) error
	ForceVermagic   bool
	ForceModversion bool
}

// Resolve returns the names a module name or alias stands for, as `modprobe -R` prints
// them; ErrNotFound (wrapped in *Error) when nothing matches.
func (s *Session) Resolve(ctx context.Context, name string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mods, err := s.Lookup(name)
	if err != nil {
		return nil, &Error{Op: "resolve", Module: name, Err: err}
	}
	if len(mods) == 0 {
		return nil, &Error{Op: "resolve", Module: name, Err: ErrNotFound}
	}
	defer Release(mods)
	out := make([]string, len(mods))
	for i, m := range mods {
		out[i] = m.Name()
	}
	return out, nil
}

// Load is `modprobe NAME PARAMS`: every module NAME resolves to is loaded with its
// dependencies, soft dependencies, configured options and install commands. A module
// already loaded is success unless FirstTime. The context is checked before each step.
func (s *Session) Load(ctx context.Context, name string, o LoadOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mods, err := s.Lookup(name)
	if err != nil {
		return &Error{Op: "resolve", Module: name, Err: err}
	}
	if len(mods) == 0 {
		return &Error{Op: "resolve", Module: name, Err: ErrNotFound}
	}
	defer Release(mods) // as modprobe's insmod() drops its lookup's list
	flags := ApplyBlacklistAliasOnly
	for _, f := range []struct {
		on   bool
		flag ProbeFlags
	}{
		{o.IgnoreInstall, IgnoreCommand}, {o.UseBlacklist, ApplyBlacklist}, {o.FirstTime, FailOnLoaded},
		{o.Force || o.ForceVermagic, ForceVermagic}, {o.Force || o.ForceModversion, ForceModversion},
		{o.DryRun, DryRun}, {o.IgnoreLoaded, IgnoreLoaded},
	} {
		if f.on {
			flags |= f.flag
		}
	}
	var extra *string
	if o.Params != "" {
		extra = &o.Params
	}
	hooks := ProbeHooks{Action: o.Action, RunInstall: o.RunInstall, ctx: ctx}
	if o.DryRun {
		hooks.States = NewStateMemo()
	}
	var last error
	for _, m := range mods {
		if _, err := s.Probe(m, flags, extra, hooks); err != nil {
			last = err
			if ctx.Err() != nil {
				return err
			}
		}
	}
	return last
}

// UnloadOptions are the knobs of Unload (modprobe -r).
type UnloadOptions struct {
	IgnoreRemove  bool          // -i: no remove commands, no softdeps
	RemoveHolders bool          // --remove-holders
	FirstTime     bool          // --first-time: not loaded is an error
	Force         bool          // -f
	DryRun        bool          // -n
	Wait          time.Duration // -w
	Show          func(line string)
}

// Unload is `modprobe -r NAME`: the module, its holders when asked, and the
// dependencies it leaves unused, in kmod's order. Problems kmod would print (in use,
// built in, not loaded with FirstTime) are returned as *Error with the errno.
func (s *Session) Unload(ctx context.Context, name string, o UnloadOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Remove(name, RemoveOptions{
		IgnoreCommands: o.IgnoreRemove, DryRun: o.DryRun, FirstTime: o.FirstTime,
		Force: o.Force, RemoveHolders: o.RemoveHolders, Wait: o.Wait,
	}, RemoveHooks{Show: o.Show})
}

// Loaded is a module in the kernel.
type Loaded struct {
	Name     string
	Size     int64
	RefCount int      // -1 when unknown
	Holders  []string // modules using it
}

// List returns the loaded modules in /proc/modules order, with their use counts and
// holders from /sys/module, as lsmod shows them.
func (s *Session) List(ctx context.Context) ([]Loaded, error) {
	mods, err := s.host.LoadedModules()
	if err != nil {
		return nil, err
	}
	out := make([]Loaded, 0, len(mods))
	for _, m := range mods {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l := Loaded{Name: m.Name, Size: s.host.CoreSize(m.Name, m.Size), RefCount: -1}
		if n, err := s.host.RefCount(m.Name); err == nil {
			l.RefCount = n
		}
		l.Holders, _ = s.host.Holders(m.Name)
		out = append(out, l)
	}
	return out, nil
}

// IsLoaded reports whether a module is live in the kernel or built in.
func (s *Session) IsLoaded(name string) bool {
	return s.ModuleFromName(name).inKernel()
}
