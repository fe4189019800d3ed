package modprobe

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// RemoveOptions are modprobe -r's settings.
type RemoveOptions struct {
	IgnoreCommands bool          // -i: no remove commands, no softdeps
	IgnoreLoaded   bool          // do not look at the kernel's state first (-D)
	DryRun         bool          // -n: report only
	FirstTime      bool          // --first-time: a module not loaded is an error
	Force          bool          // -f: O_TRUNC
	RemoveHolders  bool          // --remove-holders
	Wait           time.Duration // -w: retry while the module is busy
}

// RemoveHooks receive modprobe's messages during a removal. Each may be nil.
type RemoveHooks struct {
	// Show gets the steps ("rmmod NAME", "remove NAME CMD"), as modprobe -v prints them.
	Show func(line string)
	// Log gets modprobe's LOG() messages ("Module NAME is in use."). An error returned
	// ends the whole removal with it, as kmod's FATAL log exits.
	Log func(msg string) error
	// Error gets ERR() messages.
	Error func(msg string)
	// RunRemove runs a remove command; nil runs it with RunCommand.
	RunRemove func(m *Module, cmd string) error
}

type removeFlags int

const (
	removeHolders removeFlags = 1 << iota
	ignoreBuiltin
)

// Remove is modprobe's rmmod() for one name or alias: every module it resolves to,
// with its post-softdeps, holders (with RemoveHolders), itself — or its remove command
// — then the dependencies left unused and its pre-softdeps, as kmod 30 does.
func (s *Session) Remove(name string, o RemoveOptions, h RemoveHooks) error {
	mods, err := s.Lookup(name)
	if err != nil {
		return err
	}
	if len(mods) == 0 {
		if err := h.log("Module " + name + " not found.\n"); err != nil {
			return err
		}
		return &Error{Op: "remove", Module: name, Err: unix.ENOENT}
	}
	for _, m := range mods {
		var f removeFlags
		if o.RemoveHolders {
			f = removeHolders
		}
		if err = s.removeModule(m, f, o, h); err != nil {
			break
		}
	}
	if !isFatal(err) { // a FATAL message exits at once, releasing nothing
		unrefList(mods) // kmod_module_unref_list(list): -vvv names each release
	}
	return err
}

func (h RemoveHooks) log(msg string) error {
	if h.Log != nil {
		return h.Log(msg)
	}
	return nil
}

func (h RemoveHooks) err(msg string) {
	if h.Error != nil {
		h.Error(msg)
	}
}

func (h RemoveHooks) show(msg string) {
	if h.Show != nil {
		h.Show(msg)
	}
}

// errFatal marks an error a hook returned: it ends everything.
type errFatal struct{ error }

// Unwrap gives the hook's own error, so that the caller recognises its FATAL (and, as
// kmod's exit, prints nothing after it: not even -vv's "context released").
func (e errFatal) Unwrap() error { return e.error }

func fatal(err error) error {
	if err == nil {
		return nil
	}
	return errFatal{err}
}

func isFatal(err error) bool {
	var f errFatal
	return errors.As(err, &f)
}

// removeModule is rmmod_do_module.
//
// kmod's rmmod_do_module recurses through softdeps with no memory of where it has been:
// a cycle of softdeps that meets a remove command (or --ignore-loaded, where nothing
// stops it) recurses until kmod 30 and 34.2 crash on the stack (SIGSEGV). gokmod
// stops at a module it is already removing, as kmod's probe path skips a module
// already visited, and says so.
func (s *Session) removeModule(m *Module, flags removeFlags, o RemoveOptions, h RemoveHooks) (err error) {
	if s.removing[m.name] {
		h.err("softdep loop: " + m.name + " is already being removed; not removing it again (kmod crashes here)\n")
		return nil
	}
	if s.removing == nil {
		s.removing = map[string]bool{}
	}
	s.removing[m.name] = true
	defer delete(s.removing, m.name)
	var pre, post []*Module
	cmd, hasCmd := "", false
	if !o.IgnoreCommands {
		pre, post = m.Softdeps()
		defer func() {
			if !isFatal(err) { // as in Remove
				unrefList(pre)
				unrefList(post)
			}
		}()
		cmd, hasCmd = m.RemoveCommand()
	}
	if !hasCmd && !o.IgnoreLoaded {
		st, err := m.InitState()
		if err != nil {
			if o.FirstTime {
				if e := h.log("Module " + m.name + " is not in kernel.\n"); e != nil {
					return fatal(e)
				}
				return &Error{Op: "remove", Module: m.name, Err: unix.ENOENT}
			}
			return nil
		}
		if st == StateBuiltin {
			if flags&ignoreBuiltin != 0 {
				return nil
			}
			if e := h.log("Module " + m.name + " is builtin.\n"); e != nil {
				return fatal(e)
			}
			return &Error{Op: "remove", Module: m.name, Err: unix.ENOENT}
		}
	}
	if err := s.removeList(post, false, o, h); isFatal(err) {
		return err
	}
	if flags&removeHolders != 0 {
		if err := s.removeList(m.Holders(), true, o, h); err != nil {
			return err
		}
	}
	if !hasCmd && !o.IgnoreLoaded && o.Wait == 0 {
		if n, err := m.RefCount(); err == nil && n > 0 {
			if e := h.log("Module " + m.name + " is in use.\n"); e != nil {
				return fatal(e)
			}
			return &Error{Op: "remove", Module: m.name, Err: unix.EBUSY}
		}
	}
	if !hasCmd {
		err = s.removeOne(m, o, h)
	} else {
		err = s.runRemove(m, cmd, o, h)
	}
	if err != nil {
		return err
	}
	if !hasCmd {
		for _, d := range m.Dependencies() {
			if n, err := d.RefCount(); err == nil && n == 0 {
				if err := s.removeOne(d, o, h); isFatal(err) {
					return err
				}
			}
		}
	}
	if err := s.removeList(pre, false, o, h); isFatal(err) {
		return err
	}
	return nil
}

// removeList is rmmod_do_modlist: in reverse order, built-in modules skipped.
func (s *Session) removeList(list []*Module, stopOnErrors bool, o RemoveOptions, h RemoveHooks) error {
	for i := len(list) - 1; i >= 0; i-- {
		err := s.removeModule(list[i], ignoreBuiltin, o, h)
		if isFatal(err) || (err != nil && stopOnErrors) {
			return err
		}
	}
	return nil
}

// removeOne is rmmod_do_remove_module: delete_module, retried while busy with Wait.
func (s *Session) removeOne(m *Module, o RemoveOptions, h RemoveHooks) error {
	h.show("rmmod " + m.name + "\n")
	if o.DryRun {
		return nil
	}
	var deadline time.Time
	interval := time.Millisecond
	for {
		err := s.host.Remove(m.name, o.Force)
		if err != nil && o.Wait == 0 {
			s.logf(LogErr, "kmod_module_remove_module", 856, "could not remove '%s': %s\n", m.name, strerrorText(err))
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EEXIST):
			if !o.FirstTime {
				return nil
			}
			if e := h.log("Module " + m.name + " is not in kernel.\n"); e != nil {
				return fatal(e)
			}
			return &Error{Op: "remove", Module: m.name, Err: err}
		case errors.Is(err, unix.EAGAIN) && o.Wait > 0:
			if deadline.IsZero() {
				deadline = time.Now().Add(o.Wait)
			}
			if time.Now().After(deadline) {
				if h.Error != nil {
					h.Error("could not remove '" + m.name + "': " + strerrorText(err) + "\n")
				}
				return &Error{Op: "remove", Module: m.name, Err: err}
			}
			time.Sleep(min(interval, time.Until(deadline)))
			interval = min(interval*2, time.Second)
		default:
			if o.Wait > 0 && h.Error != nil {
				h.Error("could not remove '" + m.name + "': " + strerrorText(err) + "\n")
			}
			return &Error{Op: "remove", Module: m.name, Err: err}
		}
	}
}

// runRemove is modprobe's command_do for a remove command.
func (s *Session) runRemove(m *Module, cmd string, o RemoveOptions, h RemoveHooks) error {
	cmd = expandCmdlineOpts(cmd, "")
	h.show("remove " + cmd + "\n")
	if o.DryRun {
		return nil
	}
	if h.RunRemove != nil {
		return h.RunRemove(m, cmd)
	}
	status, err := RunCommand(m.name, cmd)
	if err != nil || status != 0 {
		if e := h.log("Error running remove command for " + m.name + "\n"); e != nil {
			return fatal(e)
		}
		if err == nil {
			return &CommandError{Kind: "remove", Module: m.name, Command: cmd, Status: status}
		}
		return &CommandError{Kind: "remove", Module: m.name, Command: cmd, Status: -1, Err: err}
	}
	return nil
}
