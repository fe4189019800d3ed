package load

import (
	"fmt"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
)

// Flags are finit_module's flags (include/uapi/linux/module.h).
type Flags uint32

const (
	// IgnoreModversions is MODULE_INIT_IGNORE_MODVERSIONS (modprobe --force-modversion).
	IgnoreModversions Flags = 1
	// IgnoreVermagic is MODULE_INIT_IGNORE_VERMAGIC (modprobe --force-vermagic).
	IgnoreVermagic Flags = 2
	// CompressedFile is MODULE_INIT_COMPRESSED_FILE: the kernel decompresses the image.
	CompressedFile Flags = 4
)

// DeleteFlags are delete_module's flags; only O_TRUNC (force) matters to the kernel.
const (
	DeleteNonblock = unix.O_NONBLOCK
	DeleteForce    = unix.O_TRUNC
)

// Options are the facts about the target machine that the .ko and the kernel files do
// not tell. The zero value is Debian's guest as the tests boot it: root, no lockdown,
// spectre v2 mitigated (so modules without retpoline=Y are reported), every module's
// init returning 0.
type Options struct {
	// Unprivileged makes may_init_module fail (no CAP_SYS_MODULE).
	Unprivileged bool
	// ModulesDisabled is /proc/sys/kernel/modules_disabled = 1.
	ModulesDisabled bool
	// Lockdown forces lockdown at integrity level whatever the kernel's configuration,
	// command line and Security say (kernel.Kernel.LockedDown decides otherwise):
	// unsigned modules are refused with EPERM.
	Lockdown bool
	// NoSpectreV2Mitigation says the CPU needs no retpoline, so check_modinfo_retpoline
	// stays silent for modules built without it.
	NoSpectreV2Mitigation bool
	// InitResult returns what the module's init function returns (default 0); the model
	// cannot run module code.
	InitResult func(name string) int
	// Comm is current->comm, the name of the process making the system call, printed
	// in the lockdown message: "insmod" (the default) for kmod's insmod, "modprobe"
	// for modprobe, "judge" for the test guests' judge (internal/cmd/judge).
	Comm string
	// KeepImage puts the relocated module memory in Result.Image.
	KeepImage bool
	// Arm64 are the CPU and boot facts an arm64 kernel's loader depends on (ignored
	// for other architectures).
	Arm64 Arm64Options
}

// Model is one target kernel's module state across operations: the boot the model
// simulates.
type Model struct {
	K    *kernel.Kernel
	Opts Options

	// v is the version the changes (changes.go) are evaluated at: kernel.Kernel.ModelFit.
	v       kernel.Version
	modules []*module // the global modules list, newest first (list_add_rcu at the head)
	taint   Taints
	// locksOff is debug_locks == 0: the first taint that makes lockdep unreliable turns
	// lock debugging off, once per boot, and says so.
	locksOff bool
	once     map[string]bool // pr_*_once call sites already printed
	// exportIdx finds the modules exporting a name (find_symbol's walk of the list).
	exportIdx map[string][]exportRef
	space     addressSpace      // the target architecture's model addresses
	nextVA    uint64            // next free module-area address
	nextPCPU  uint64            // next free per-cpu offset in the reserved chunk
	kaddr     map[uint64]string // vmlinux export addresses, for naming param ops
	// st are the kernel's struct layouts (kernel.Structs), with the ABI's defaults for
	// a Kernel made by hand.
	st kernel.Structs
}

// New returns a model of kernel k just after boot: no modules loaded, not tainted.
func New(k *kernel.Kernel, opts Options) *Model {
	m := &Model{K: k, Opts: opts, v: k.ModelFit().Model, once: map[string]bool{}, st: k.Structs.OrDefaults()}
	m.space = m.newArchHooks().space()
	m.nextVA, m.nextPCPU = m.space.moduleArea, m.space.percpuModule
	return m
}

// Taint returns the global taint set.
func (m *Model) Taint() Taints { return m.taint }

// Modules returns the loaded modules as /proc/modules lists them, newest first.
func (m *Model) Modules() []*ModuleState {
	var out []*ModuleState
	for _, mod := range m.modules {
		if mod.state != stateUnformed {
			out = append(out, mod.snapshot())
		}
	}
	return out
}

// Module returns the state of the loaded module name, or nil.
func (m *Model) Module(name string) *ModuleState {
	if mod := m.find(name, false); mod != nil {
		return mod.snapshot()
	}
	return nil
}

// Load predicts finit_module(fd of a file holding image, params, flags), the way kmod's
// insmod loads a module. Use InitModule for init_module(2).
func (m *Model) Load(image []byte, params string, flags Flags) *Result {
	return m.FinitModule(image, params, flags)
}

// call is the state of one syscall: the result being built and the load_info.
type call struct {
	m    *Model
	res  *Result
	arch archHooks // the target architecture's hooks, fresh for this call
}

func (m *Model) newCall() *call {
	return &call{m: m, res: &Result{Relocs: map[string]int{}}, arch: m.newArchHooks()}
}

// finish stamps the global taint on the result.
func (c *call) finish(err unix.Errno) *Result {
	if err != 0 {
		c.res.Err = err
	}
	c.res.Taint = c.m.taint
	return c.res
}

// log appends a kernel log line.
func (c *call) log(level int, format string, args ...any) {
	c.res.Log = append(c.res.Log, LogLine{Level: level, Text: fmt.Sprintf(format, args...)})
}

// logOnce is pr_*_once: site names the call site, which prints once per boot.
func (c *call) logOnce(site string, level int, format string, args ...any) {
	if c.m.once[site] {
		return
	}
	c.m.once[site] = true
	c.log(level, format, args...)
}

// step records a stage in the trace.
func (c *call) step(fn string, err unix.Errno, format string, args ...any) unix.Errno {
	c.res.Trace = append(c.res.Trace, Step{Func: fn, Note: fmt.Sprintf(format, args...), Errno: err})
	return err
}

// uncertain records an assumption the prediction depends on.
func (c *call) uncertain(format string, args ...any) {
	c.res.Uncertain = append(c.res.Uncertain, fmt.Sprintf(format, args...))
}

// addTaint is add_taint: global only.
func (c *call) addTaint(bit int) { c.m.taint |= 1 << bit }

// addTaintModule is add_taint_module: global and on the module.
func (c *call) addTaintModule(mod *module, bit int) {
	c.m.taint |= 1 << bit
	mod.taints |= 1 << bit
}

// lockdepUnreliable is add_taint's LOCKDEP_NOW_UNRELIABLE case: the first such taint
// of a boot switches lock debugging off (__debug_locks_off) and warns.
func (c *call) lockdepUnreliable() {
	if !c.m.locksOff {
		c.m.locksOff = true
		c.log(LevelWarn, "Disabling lock debugging due to kernel taint")
	}
}

// testTaint is test_taint on the global set.
func (c *call) testTaint(bit int) bool { return c.m.taint.Has(bit) }
