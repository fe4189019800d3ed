package tool

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"gokmod/load"
)

// ModelVersion is, in --json, which followed version of load_module the prediction used
// for the target kernel and whether it is the kernel's own.
type ModelVersion struct {
	Target string `json:"target"` // the kernel's upstream version, e.g. 6.18.44
	Model  string `json:"model"`  // the version modelled: 6.1 or 6.12
	Exact  bool   `json:"exact"`
	Note   string `json:"note,omitempty"` // set when not exact
}

// modelVersion is t's fit for --json.
func (t *modelTarget) modelVersion() ModelVersion {
	return ModelVersion{Target: t.Fit.Target.String(), Model: t.Fit.Model.String(), Exact: t.Fit.Exact, Note: t.Fit.Note()}
}

// simModel is the field sim adds to each operation when the model approximates the
// target's version ("" when exact): "6.12 for 6.18.44".
func (t *modelTarget) simModel() string {
	if t.Fit.Exact {
		return ""
	}
	return fmt.Sprintf("%s for %s", t.Fit.Model, t.Fit.Target)
}

// printNotes writes the target's notes, one "note: " line each, with prefix before.
func (t *modelTarget) printNotes(w io.Writer, prefix string) {
	for _, n := range t.Notes {
		fmt.Fprintf(w, "%snote: %s\n", prefix, n)
	}
}

// refusalFixes is what to do about a call refused before the module was looked at:
// each reason its own remedy.
func refusalFixes(r *load.Result) []string {
	switch r.Refused {
	case load.RefusedNoModules:
		return []string{"this kernel is built without CONFIG_MODULES: no module can ever be loaded into it; build what the module provides into the kernel (=y), or boot a kernel built with CONFIG_MODULES=y"}
	case load.RefusedNoUnload:
		return []string{"this kernel is built without CONFIG_MODULE_UNLOAD: a loaded module stays until reboot"}
	case load.RefusedDisabled:
		return []string{"module loading is disabled (modules_disabled=1, or nomodule on the command line) and stays off until reboot: load the module at boot, before modules_disabled is set (initramfs, /etc/modules)"}
	case load.RefusedCapability:
		return []string{"loading a module needs CAP_SYS_MODULE, which the caller lacks: run insmod as root"}
	}
	if r.Errno() == unix.ENOSYS {
		return []string{"the kernel does not implement this system call"}
	}
	return nil
}

// printTarget writes explain's lines about the target: which kernel, which model, notes.
func printTarget(w io.Writer, x *Explanation) {
	if x.KernelSource != "" {
		fmt.Fprintf(w, "Kernel: %s\n", x.KernelSource)
	}
	if x.Model.Exact {
		fmt.Fprintf(w, "Model: Linux %s, the kernel's own version (%s)\n", x.Model.Model, x.Model.Target)
	} else if x.Model.Note != "" {
		fmt.Fprintf(w, "Model: approximation: %s\n", x.Model.Note)
	}
	for _, n := range x.Notes {
		if n != x.Model.Note {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
}

// bootOpts are the options modules loaded before the one explained met (--loaded,
// --with-deps): loaded at boot, as root, before modules_disabled was set.
func (t *modelTarget) bootOpts() load.Options {
	o := t.Opts
	o.Unprivileged, o.ModulesDisabled = false, false
	return o
}
