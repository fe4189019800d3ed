package config

import (
	"strings"

	"gokmod/kmod/index"
)

// LookupAlias returns the config aliases whose pattern matches name (fnmatch), in
// order: kmod_lookup_alias_from_config, the first source modprobe consults. name
// should already be normalized (AliasNormalize).
func (c *Config) LookupAlias(name string) []Alias {
	var out []Alias
	for _, a := range c.Aliases {
		if index.Fnmatch(a.Pattern, name) {
			out = append(out, a)
		}
	}
	return out
}

// IsBlacklisted reports whether a "blacklist" line (or modprobe.blacklist=) names the
// module exactly; kmod compares names, not patterns.
func (c *Config) IsBlacklisted(module string) bool {
	for _, b := range c.Blacklist {
		if b == module {
			return true
		}
	}
	return false
}

// ModuleOptions returns the options for a module as kmod_module_get_options builds
// them: every options entry for the module's name or for the alias it was found
// through ("" for none), in order, joined by single spaces, empty entries skipped.
func (c *Config) ModuleOptions(module, alias string) string {
	var parts []string
	for _, o := range c.Options {
		if o.Module != module && (alias == "" || o.Module != alias) {
			continue
		}
		if o.Options != "" {
			parts = append(parts, o.Options)
		}
	}
	return strings.Join(parts, " ")
}

// InstallCommand returns the first install command whose module pattern matches
// (fnmatch) the module name; kmod uses only the first, as module-init-tools did.
func (c *Config) InstallCommand(module string) (string, bool) {
	return firstCommand(c.Install, module)
}

// RemoveCommand is InstallCommand for "remove" lines.
func (c *Config) RemoveCommand(module string) (string, bool) {
	return firstCommand(c.Remove, module)
}

func firstCommand(cmds []Command, module string) (string, bool) {
	for _, cmd := range cmds {
		if index.Fnmatch(cmd.Module, module) {
			return cmd.Command, true
		}
	}
	return "", false
}

// CommandModule reports whether name is exactly the module of an install line, or
// failing that of a remove line — kmod_lookup_alias_from_commands, which lets
// `modprobe NAME` succeed for a module that exists only as a command. It returns the
// command and whether it came from an install line.
func (c *Config) CommandModule(name string) (cmd string, install, ok bool) {
	for _, ic := range c.Install {
		if ic.Module == name {
			return ic.Command, true, true
		}
	}
	for _, rc := range c.Remove {
		if rc.Module == name {
			return rc.Command, false, true
		}
	}
	return "", false, false
}

// SoftdepOf returns the soft dependencies of a module: those of the first softdep
// whose module pattern matches. Later matching lines are ignored, as in kmod 30 (kmod
// issue #33), so a modules.softdep line is shadowed by a config file sorted before it.
func (c *Config) SoftdepOf(module string) (Softdep, bool) {
	for _, d := range c.Softdeps {
		if index.Fnmatch(d.Module, module) {
			return d, true
		}
	}
	return Softdep{}, false
}

// WeakdepOf returns the weak dependencies of the first weakdep whose module pattern
// matches (kmod ≥ 33's kmod_module_get_weakdeps). Empty unless Options.Weakdep was set.
func (c *Config) WeakdepOf(module string) (Weakdep, bool) {
	for _, d := range c.Weakdeps {
		if index.Fnmatch(d.Module, module) {
			return d, true
		}
	}
	return Weakdep{}, false
}
