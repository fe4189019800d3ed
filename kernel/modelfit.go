package kernel

import (
	"fmt"
	"slices"
	"strings"
)

// Line is a kernel line (major.minor) whose load_module the model follows: every
// behaviour that changed upstream is gated on the release that changed it (package
// load, changes.go), and a line is listed here once the gates are right for it.
type Line struct {
	Version Version // major.minor; Patch is 0
	// Judged lists the architectures (uname -m) on which this project's tests boot
	// Debian's kernel of this line in QEMU and compare the model with it (make test's
	// small corpus, make fidelity's whole trees, at least 99 % of operations agreeing).
	Judged []string
}

// JudgedOn reports whether the line is judged on arch (uname -m). A kernel of unknown
// architecture ("") is modelled as x86_64, and judged as such.
func (l Line) JudgedOn(arch string) bool {
	if arch == "" {
		arch = "x86_64"
	}
	return slices.Contains(l.Judged, arch)
}

// The architectures the lines are judged on.
var (
	x86    = []string{"x86_64"}
	x86A64 = []string{"x86_64", "aarch64"}
)

// Lines are the followed lines, oldest first. A kernel of any other line is modelled
// with its nearest lower line (the oldest, when it is older than all of them): see
// Kernel.ModelFit.
// internal/testing/fidelity's TestFidelitySmall checks that each judged line has a prepared
// kernel its guests boot.
//
// aarch64: make fidelity -arch arm64 on Debian's arm64 kernels of bookworm (6.1),
// trixie (6.12) and sid (7.2) in qemu-system-aarch64 (issue 14); bullseye's 5.10 and
// experimental's 7.3 are not booted on arm64.
var Lines = []Line{
	{Version{5, 10, 0}, x86},    // bullseye
	{Version{6, 1, 0}, x86A64},  // bookworm
	{Version{6, 12, 0}, x86A64}, // bookworm (+deb12) and trixie (+deb13)
	{Version{7, 2, 0}, x86A64},  // sid
	{Version{7, 3, 0}, x86},     // experimental: 7.2's changes; its struct module is read from its modules
}

// JudgedArch reports whether any line is judged on arch (uname -m).
func JudgedArch(arch string) bool {
	for _, l := range Lines {
		if l.JudgedOn(arch) {
			return true
		}
	}
	return false
}

// newestPatch stands for "the newest stable release of a line" when a kernel of an
// unfollowed line is modelled with a followed one: the followed line as it is today,
// with every backport its stable releases carry.
const newestPatch = 1 << 20

// ModelFit says how the model's version relates to a target kernel's: which followed
// line it is modelled with, and whether that is the kernel's own.
type ModelFit struct {
	// Target is the kernel's upstream version (zero when unknown).
	Target Version `json:"target"`
	// Model is the version the gates of package load are evaluated at: Target itself
	// when its line is followed, else the chosen line at its newest stable release.
	Model Version `json:"-"`
	// ModelVersion is the followed line as text ("6.12"), for --json.
	ModelVersion string `json:"model"`
	// Exact is true when the target's major.minor is a followed line.
	Exact bool `json:"exact"`
	// Judged is true when the target's own line is followed and this project's tests
	// judge it in QEMU.
	Judged bool `json:"judged"`
}

// ModelFit tells which followed line models k and whether it is exact. A kernel between
// two lines (6.6, 6.18) is modelled with the lower one: it has that line's changes and
// some unknown later ones, where the higher line would assume changes it may lack.
func (k *Kernel) ModelFit() ModelFit {
	line := Lines[0]
	for _, l := range Lines {
		if k.Version.AtLeast(l.Version.Major, l.Version.Minor) {
			line = l
		}
	}
	f := ModelFit{Target: k.Version, ModelVersion: line.Version.Line(),
		Model: Version{line.Version.Major, line.Version.Minor, newestPatch}}
	if k.Version.Major == line.Version.Major && k.Version.Minor == line.Version.Minor {
		f.Exact, f.Model, f.Judged = true, k.Version, line.JudgedOn(k.Arch())
	}
	return f
}

// Line is v's major.minor as text: "6.12".
func (v Version) Line() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Note is one sentence for the user when the fit is not exact ("" when it is): the
// target's version, the one used, and that results are an approximation.
func (f ModelFit) Note() string {
	if f.Exact {
		return ""
	}
	var followed []string
	for _, l := range Lines {
		followed = append(followed, l.Version.Line())
	}
	target := "a kernel of unknown version"
	if f.Target != (Version{}) {
		target = "Linux " + f.Target.Line()
	}
	return fmt.Sprintf("%s is not a version the model follows (%s): modelled as %s, the nearest; the prediction is an approximation",
		target, strings.Join(followed, ", "), f.ModelVersion)
}
