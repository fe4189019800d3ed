package kernel

import (
	"fmt"
	"strings"
)

// Followed lists the kernel versions (major.minor) whose load_module the model follows,
// oldest first, with the generation each one is. A kernel of any other version is
// modelled with the nearest of them (see Kernel.ModelFit).
var Followed = []struct {
	Version    Version
	Generation Generation
}{
	{Version{6, 1, 0}, Gen61},
	{Version{6, 12, 0}, Gen612},
}

// ModelFit says how the model's version relates to a target kernel's: which followed
// version it is modelled with, and whether that is the kernel's own.
type ModelFit struct {
	// Target is the kernel's upstream version (zero when unknown).
	Target Version `json:"target"`
	// Model is the followed version used, "6.1" or "6.12".
	Model Generation `json:"-"`
	// ModelVersion is Model as text, for --json.
	ModelVersion string `json:"model"`
	// Exact is true when the target's major.minor is one the model follows.
	Exact bool `json:"exact"`
}

// ModelFit tells which of the followed versions models k and whether it is exact. The
// nearest version is the one whose load_module k's shares: 6.4 reworked module memory
// (mod->mem[]) and the x86 relocation code, so from 6.4 on (6.18, 7.2) the 6.12 model
// applies, and before it (5.10, 6.3) the 6.1 model (Kernel.Generation).
func (k *Kernel) ModelFit() ModelFit {
	g := k.Generation()
	f := ModelFit{Target: k.Version, Model: g, ModelVersion: g.String()}
	for _, v := range Followed {
		if v.Version.Major == k.Version.Major && v.Version.Minor == k.Version.Minor {
			f.Exact = true
		}
	}
	return f
}

// Note is one sentence for the user when the fit is not exact ("" when it is): the
// target's version, the one used, and that results are an approximation.
func (f ModelFit) Note() string {
	if f.Exact {
		return ""
	}
	var followed []string
	for _, v := range Followed {
		followed = append(followed, fmt.Sprintf("%d.%d", v.Version.Major, v.Version.Minor))
	}
	target := "a kernel of unknown version"
	if f.Target != (Version{}) {
		target = fmt.Sprintf("Linux %d.%d", f.Target.Major, f.Target.Minor)
	}
	return fmt.Sprintf("%s is not a version the model follows (%s): modelled as %s, the nearest; the prediction is an approximation",
		target, strings.Join(followed, ", "), f.ModelVersion)
}
