package load

import (
	"golang.org/x/sys/unix"
)

// moduleState is enum module_state.
type moduleState int

const (
	stateLive moduleState = iota
	stateComing
	stateGoing
	stateUnformed
)

func (s moduleState) String() string {
	return [...]string{"live", "coming", "going", "unformed"}[s]
}

// module is a module in the model's list: the parts of struct module that later
// operations look at.
type module struct {
	Name   string
	state  moduleState
	taints Taints
	layout *Layout

	// syms and gplSyms are the module's __ksymtab and __ksymtab_gpl, in table order
	// (find_symbol bsearches them); hasCRCs/hasGPLCRCs say whether __kcrctab exists.
	syms, gplSyms       []export
	hasCRCs, hasGPLCRCs bool
	// hasFlags says whether __kflagstab exists (KFlagstab: since 7.1).
	hasFlags bool

	users []*module // source_list: modules using this one, most recent first
	uses  []*module // target_list: modules this one uses
	// refcnt is atomic refcnt: MODULE_REF_BASE (1) + references (one per user, plus
	// one held while COMING).
	refcnt int

	hasInit, hasExit    bool
	usingGPLOnlySymbols bool
	livepatch           bool
	version, srcversion string
	params              []*kparam
	percpu, percpuSize  uint64 // the module's per-cpu area (mod_percpu) and its size
}

// export is one struct kernel_symbol of a module, resolved after relocation.
type export struct {
	name, namespace string
	crc             uint32
	addr            uint64
}

// moduleRefBase is MODULE_REF_BASE.
const moduleRefBase = 1

// snapshot returns the sysfs/procfs view of mod.
func (mod *module) snapshot() *ModuleState {
	s := &ModuleState{Name: mod.Name, Taint: mod.taints, State: mod.state.String(),
		RefCount: mod.refcnt - moduleRefBase, Version: mod.version, SrcVersion: mod.srcversion}
	if mod.layout != nil {
		s.CoreSize, s.InitSize = mod.layout.CoreSize(), mod.layout.InitSize()
		if mod.state == stateLive {
			s.InitSize = 0 // do_init_module frees init and zeroes its sizes
		}
		s.Size = s.CoreSize + s.InitSize
	}
	for _, u := range mod.users {
		s.Holders = append(s.Holders, u.Name)
	}
	for _, p := range mod.params {
		if p.perm != 0 {
			s.Params = append(s.Params, p.name)
		}
	}
	return s
}

// find mirrors find_module_all: the first module of that name in list order,
// UNFORMED ones included only when evenUnformed.
func (m *Model) find(name string, evenUnformed bool) *module {
	for _, mod := range m.modules {
		if !evenUnformed && mod.state == stateUnformed {
			continue
		}
		if mod.Name == name {
			return mod
		}
	}
	return nil
}

// patientCheckExists mirrors the duplicate check of add_unformed_module (6.1) and
// module_patient_check_exists (6.12). The model runs one syscall at a time, so a
// COMING or UNFORMED namesake never exists here and there is nothing to wait for.
func (c *call) patientCheckExists(name, fn string) unix.Errno {
	old := c.m.find(name, true)
	if old == nil {
		return 0
	}
	if old.state == stateLive {
		return c.step(fn, unix.EEXIST, "module %s is already loaded", name)
	}
	return c.step(fn, unix.EBUSY, "module %s is %v", name, old.state)
}

// addUnformedModule mirrors add_unformed_module: the duplicate check, then the module
// joins the head of the list as UNFORMED.
func (c *call) addUnformedModule(mod *module) unix.Errno {
	mod.state = stateUnformed
	if e := c.patientCheckExists(mod.Name, "add_unformed_module"); e != 0 {
		return e
	}
	c.m.modules = append([]*module{mod}, c.m.modules...)
	c.step("add_unformed_module", 0, "joined the module list")
	return 0
}

// unlink removes mod from the list and drops its references on the modules it uses
// (module_unload_free + list_del_rcu): what every failure after add_unformed_module and
// free_module do.
func (m *Model) unlink(mod *module) {
	for _, t := range mod.uses {
		t.refcnt--
		for i, u := range t.users {
			if u == mod {
				t.users = append(t.users[:i:i], t.users[i+1:]...)
				break
			}
		}
	}
	mod.uses = nil
	for i, x := range m.modules {
		if x == mod {
			m.modules = append(m.modules[:i:i], m.modules[i+1:]...)
			m.unindexExports(mod)
			break
		}
	}
}

// refModule mirrors ref_module: a uses b. b in COMING → EBUSY (resolve_symbol_wait
// would wait 30 s), not live → ENOENT; otherwise b's refcount goes up and a appears
// in b's holders.
func refModule(a, b *module) unix.Errno {
	if b == nil {
		return 0
	}
	for _, u := range b.users {
		if u == a {
			return 0
		}
	}
	if b.state == stateComing {
		return unix.EBUSY
	}
	if b.state != stateLive || b.refcnt == 0 {
		return unix.ENOENT
	}
	b.refcnt++
	b.users = append([]*module{a}, b.users...)
	a.uses = append([]*module{b}, a.uses...)
	return 0
}

// Delete predicts delete_module(name, flags) (SYSCALL delete_module in
// kernel/module/main.c, as backported to Debian's 6.1.192 and 6.12.117: an empty or
// over-long name is ENOENT). No log line is printed on any path.
func (m *Model) Delete(name string, flags int) *Result {
	c := m.newCall()
	const fn = "delete_module"
	if e := c.syscallExists(fn); e != 0 {
		return c.finish(e)
	}
	if e := c.mayModule(fn); e != 0 {
		return c.finish(e)
	}
	if len(name) == 0 || uint64(len(name)) >= m.st.Module.NameLen {
		return c.finish(c.step(fn, unix.ENOENT, "name length %d", len(name)))
	}
	mod := m.find(name, false)
	if mod == nil {
		return c.finish(c.step(fn, unix.ENOENT, "no module %s", name))
	}
	if len(mod.users) > 0 {
		return c.finish(c.step(fn, unix.EWOULDBLOCK, "used by %s", mod.users[0].Name))
	}
	if mod.state != stateLive {
		return c.finish(c.step(fn, unix.EBUSY, "module is %v", mod.state))
	}
	forced := false
	if mod.hasInit && !mod.hasExit {
		if forced = c.tryForceUnload(flags); !forced {
			return c.finish(c.step(fn, unix.EBUSY, "module has init but no exit: permanent"))
		}
	}
	// try_stop_module: references beyond the base block unloading unless forced.
	if mod.refcnt-moduleRefBase != 0 {
		if forced = c.tryForceUnload(flags); !forced {
			return c.finish(c.step(fn, unix.EWOULDBLOCK, "refcount %d", mod.refcnt-moduleRefBase))
		}
	}
	mod.state = stateGoing
	m.unlink(mod)
	c.step(fn, 0, "unloaded %s", name)
	return c.finish(0)
}

// tryForceUnload mirrors try_force_unload: O_TRUNC with CONFIG_MODULE_FORCE_UNLOAD
// forces and taints R.
func (c *call) tryForceUnload(flags int) bool {
	if !c.m.K.Config.ForceUnload() || flags&DeleteForce == 0 {
		return false
	}
	c.addTaint(TaintForcedRmmod) // LOCKDEP_NOW_UNRELIABLE
	c.lockdepUnreliable()
	return true
}
