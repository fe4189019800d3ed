package load

import (
	"fmt"
	"strings"
)

// ProcModules renders /proc/modules as m_show (kernel/module/procfs.c) prints it, newest
// module first. The address column is printed as a reader without kernel-pointer
// permission sees it (all zeros): the real one depends on the allocator.
func (m *Model) ProcModules() string {
	var b strings.Builder
	for _, mod := range m.modules {
		if mod.state == stateUnformed {
			continue
		}
		s := mod.snapshot()
		fmt.Fprintf(&b, "%s %d", mod.Name, s.Size)
		b.WriteString(mod.unloadInfo())
		state := map[moduleState]string{stateLive: "Live", stateComing: "Loading", stateGoing: "Unloading"}[mod.state]
		fmt.Fprintf(&b, " %s 0x%016x", state, 0)
		if mod.taints != 0 {
			fmt.Fprintf(&b, " %s", mod.flags())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// unloadInfo mirrors print_unload_info: " refcount " then each user followed by ",",
// "[permanent]," for a module with init but no exit, or "-" when nothing was printed.
func (mod *module) unloadInfo() string {
	s := fmt.Sprintf(" %d ", mod.refcnt-moduleRefBase)
	printed := false
	for _, u := range mod.users {
		s += u.Name + ","
		printed = true
	}
	if mod.hasInit && !mod.hasExit {
		s += "[permanent],"
		printed = true
	}
	if !printed {
		s += "-"
	}
	return s
}

// flags mirrors module_flags(mod, buf, true): "(" taint letters, "-" if GOING, "+" if
// COMING, ")".
func (mod *module) flags() string {
	s := "(" + mod.taints.ModuleString()
	switch mod.state {
	case stateGoing:
		s += "-"
	case stateComing:
		s += "+"
	}
	return s + ")"
}
