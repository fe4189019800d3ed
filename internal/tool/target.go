package tool

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
	"gokmod/load"
)

// ModelVersion is, in --json, which followed version of load_module the prediction used
// for the target kernel and whether it is the kernel's own.
type ModelVersion struct {
	Target string `json:"target"` // the kernel's upstream version, e.g. 6.18.44
	Line   string `json:"line"`   // the target's line, e.g. 6.18 ("" when unknown)
	Model  string `json:"model"`  // the followed line modelled: "6.1", "6.12"
	Exact  bool   `json:"exact"`
	Note   string `json:"note,omitempty"` // set when not exact
	// Arch is the target's architecture (uname -m), from its configuration.
	Arch string `json:"arch"`
	// Distro is the distribution that built the kernel ("Debian"; "" when unknown) and
	// Patches its patches to the loader that the model applies.
	Distro  string   `json:"distro"`
	Patches []string `json:"patches"`
	// Judged is true when this project's tests boot the line in QEMU and compare.
	Judged bool `json:"judged"`
	// Changes are the upstream changes (load.Changes) the modelled version has.
	Changes []string `json:"changes"`
}

// modelVersion is t's fit for --json.
func (t *modelTarget) modelVersion() ModelVersion {
	v := ModelVersion{Target: t.Fit.Target.String(), Model: t.Fit.ModelVersion, Exact: t.Fit.Exact, Note: t.Fit.Note(),
		Arch: t.K.Arch(), Distro: t.K.Distro, Patches: load.Patches(t.K), Judged: t.Fit.Judged, Changes: []string{}}
	for _, c := range load.Changes {
		if c.In(t.Fit.Model) && c.For(t.K.Arch()) {
			v.Changes = append(v.Changes, fmt.Sprintf("%s (%s)", c.Name, c.Since.Line()))
		}
	}
	if t.Fit.Target != (kernel.Version{}) {
		v.Line = t.Fit.Target.Line()
	}
	return v
}

// simModel is the field sim adds to each operation when the model approximates the
// target's version ("" when exact): "6.12 for 6.18.44".
func (t *modelTarget) simModel() string {
	if t.Fit.Exact {
		return ""
	}
	return fmt.Sprintf("%s for %s", t.Fit.ModelVersion, t.Fit.Target)
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
		fmt.Fprintf(w, "Model: Linux %s, the kernel's own version (%s)%s\n", x.Model.Model, x.Model.Target, modelOf(x.Model))
	} else if x.Model.Note != "" {
		fmt.Fprintf(w, "Model: approximation: %s\n", x.Model.Note)
		if s := modelOf(x.Model); s != "" {
			fmt.Fprintf(w, "Model:%s\n", s)
		}
	}
	for _, p := range x.Model.Patches {
		fmt.Fprintf(w, "Model: distribution patch: %s\n", p)
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

// modelOf is the header's words on the arch, the distribution and the judge: ", x86_64,
// Debian; judged in QEMU by this project's tests".
func modelOf(m ModelVersion) string {
	var b strings.Builder
	if m.Arch != "" {
		b.WriteString(", " + m.Arch)
	}
	if m.Distro != "" {
		b.WriteString(", " + m.Distro)
	} else {
		b.WriteString(", distribution unknown")
	}
	switch {
	case m.Line == "":
		b.WriteString("; the kernel's version is unknown, so no judged line can be named")
	case m.Judged:
		fmt.Fprintf(&b, "; Linux %s is judged in QEMU by this project's tests", m.Line)
	case !kernel.JudgedArch(m.Arch):
		fmt.Fprintf(&b, "; Linux %s is not judged in QEMU on %s by this project's tests yet", m.Line, m.Arch)
	default:
		fmt.Fprintf(&b, "; Linux %s is not judged in QEMU by this project's tests", m.Line)
	}
	return b.String()
}
