package load

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Log levels of printk (KERN_ERR...): what dmesg -r shows as <N>.
const (
	LevelErr    = 3
	LevelWarn   = 4
	LevelNotice = 5
	LevelInfo   = 6
)

// LogLine is one kernel log record: its level and text without the trailing newline.
// Texts contain raw bytes where the kernel prints them (ELFMAG's 0x7f byte).
type LogLine struct {
	Level int
	Text  string
}

func (l LogLine) String() string { return fmt.Sprintf("<%d>%s", l.Level, l.Text) }

// Step is one stage of the kernel's path in the trace: the kernel function it mirrors,
// what the model saw there, and the errno it ended with (0: passed).
type Step struct {
	Func  string
	Note  string
	Errno unix.Errno
}

func (s Step) String() string {
	if s.Errno != 0 {
		return fmt.Sprintf("%s: %s -> %v", s.Func, s.Note, s.Errno)
	}
	if s.Note == "" {
		return s.Func + ": ok"
	}
	return s.Func + ": " + s.Note
}

// Result is the predicted outcome of one syscall.
type Result struct {
	// Err is nil on success, else the unix.Errno the syscall returns (errors.Is works).
	Err error
	// Log holds the kernel log lines printed during the call, in order.
	Log []LogLine
	// Taint is the global taint set after the call (/proc/sys/kernel/tainted).
	Taint Taints
	// Module is the module's state after a successful load (nil otherwise).
	Module *ModuleState
	// Trace lists the stages the call went through, for explanations.
	Trace []Step
	// Layout is the memory layout computed by layout_and_allocate (nil if not reached).
	Layout *Layout
	// Relocs counts the relocations applied, by type name ("R_X86_64_PC32": 812).
	Relocs map[string]int
	// PLT is what arm64's module_frob_arch_sections reserved; nil on other
	// architectures or when the load stopped before it.
	PLT *PLTCount
	// RelocSamples works through the first relocation of each type, and the failing
	// one, for explanations (detail.go).
	RelocSamples []RelocSample
	// Image is the module memory after apply_relocations, one entry per SHF_ALLOC
	// section at its model address (only with Options.KeepImage).
	Image []SectionImage
	// Symbols tells, for each undefined symbol simplify_symbols looked up, where it
	// resolved and what the CRC check found.
	Symbols []SymbolUse
	// Refused says why the call was refused before the kernel looked at the module
	// (no such system call, no privilege, loading disabled); "" otherwise.
	Refused Refusal
	// Uncertain lists what the model had to assume (init's return value, a module's own
	// parameter setter, a livepatch section...); empty when the prediction only relies on
	// the inputs.
	Uncertain []string
	// Sig is what module_sig_check found (zero when it did not run).
	Sig SigVerdict
}

// Refusal names why a module system call was refused before the kernel looked at the
// module: the three reasons share errnos (ENOSYS; EPERM) but not their remedies.
type Refusal string

// The refusals, each with its own remedy.
const (
	// RefusedNoModules: the kernel is built without CONFIG_MODULES (ENOSYS): no module
	// can ever be loaded; what the module provides must be built in.
	RefusedNoModules Refusal = "no CONFIG_MODULES"
	// RefusedNoUnload: delete_module on a kernel without CONFIG_MODULE_UNLOAD (ENOSYS).
	RefusedNoUnload Refusal = "no CONFIG_MODULE_UNLOAD"
	// RefusedDisabled: modules_disabled is 1 (the sysctl, or nomodule on the command
	// line) (EPERM): nothing loads until reboot.
	RefusedDisabled Refusal = "modules_disabled"
	// RefusedCapability: the caller lacks CAP_SYS_MODULE (EPERM): run as root.
	RefusedCapability Refusal = "no CAP_SYS_MODULE"
)

// Errno returns the errno of a failed call, or 0.
func (r *Result) Errno() unix.Errno {
	if e, ok := r.Err.(unix.Errno); ok {
		return e
	}
	return 0
}

// LogText returns the log lines' texts.
func (r *Result) LogText() []string {
	out := make([]string, len(r.Log))
	for i, l := range r.Log {
		out[i] = l.Text
	}
	return out
}

// String summarizes the result in a few lines.
func (r *Result) String() string {
	var b strings.Builder
	if r.Err != nil {
		fmt.Fprintf(&b, "error: %v (%d)\n", r.Err, int(r.Errno()))
	} else {
		b.WriteString("ok\n")
	}
	for _, l := range r.Log {
		fmt.Fprintf(&b, "log: %s\n", l)
	}
	fmt.Fprintf(&b, "taint: %q\n", r.Taint.String())
	if m := r.Module; m != nil {
		fmt.Fprintf(&b, "module: %s coresize %d initsize %d refcnt %d holders %v taint %q\n",
			m.Name, m.CoreSize, m.InitSize, m.RefCount, m.Holders, m.Taint.ModuleString())
	}
	return b.String()
}

// SectionImage is one section of relocated module memory.
type SectionImage struct {
	Name string
	Addr uint64
	Data []byte
}

// Explain renders the trace: one line per stage, then the assumptions.
func (r *Result) Explain() string {
	var b strings.Builder
	for _, s := range r.Trace {
		fmt.Fprintf(&b, "%s\n", s)
	}
	for _, u := range r.Uncertain {
		fmt.Fprintf(&b, "assumed: %s\n", u)
	}
	return b.String()
}

// SymbolUse is one undefined symbol of the module and how resolve_symbol treated it.
type SymbolUse struct {
	Name      string
	Owner     string // "vmlinux", a module name, or "" when not found
	GPLOnly   bool
	Namespace string
	Verdict   string // the CRC check, or why it was not found
}

// ModuleState is what /proc/modules and /sys/module/NAME show for a loaded module.
type ModuleState struct {
	Name     string
	CoreSize uint32 // /sys/module/NAME/coresize
	InitSize uint32 // /sys/module/NAME/initsize (0 once live)
	Size     uint32 // the /proc/modules size column
	RefCount int    // /sys/module/NAME/refcnt
	Holders  []string
	Taint    Taints // per-module taint (/sys/module/NAME/taint)
	State    string // "live", "coming", "going"
	// Params are the sysfs-visible parameters (perm != 0) with the value set by the
	// load's arguments, if any.
	Params []string
	// Version and SrcVersion are the modinfo version/srcversion ("" when absent: then
	// the sysfs files do not exist).
	Version, SrcVersion string
}

// PLTCount is arm64's module PLT reservation (module-plts.c): the entries counted for
// core and init code, each section holding one more than counted, and the CPU and
// boot choices that were assumed.
type PLTCount struct {
	Core int `json:"core"`
	Init int `json:"init"`
	// Erratum843419 and KASLR are the choices made (Options.Arm64 and the kernel's
	// configuration and command line).
	Erratum843419 bool `json:"erratum_843419"`
	KASLR         bool `json:"kaslr"`
	// Emitted is how many entries apply_relocate_add filled (branches out of range at
	// the model's addresses, and erratum veneers): it depends on where the module was
	// placed, never on the sizes.
	Emitted int `json:"emitted"`
}

// CoreBytes and InitBytes are the sizes of .plt and .init.plt: (count + 1) entries of
// 12 bytes.
func (p *PLTCount) CoreBytes() int { return (p.Core + 1) * pltEntrySize }

// InitBytes is the size of .init.plt.
func (p *PLTCount) InitBytes() int { return (p.Init + 1) * pltEntrySize }
