package load_test

import (
	"maps"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
	"gokmod/load"
)

// withConfig is a copy of k whose configuration is edited by edit.
func withConfig(k *kernel.Kernel, edit func(kernel.Config)) *kernel.Kernel {
	kk := *k
	kk.Config = maps.Clone(k.Config)
	edit(kk.Config)
	return &kk
}

// TestRefusals: the three ways a module system call is refused before the module is
// looked at are told apart: no CONFIG_MODULES (ENOSYS, from sys_ni_syscall, whatever
// the privilege), modules_disabled (EPERM) and no CAP_SYS_MODULE (EPERM).
func TestRefusals(t *testing.T) {
	for _, tg := range kernels(t) {
		img := inTree(t, tg.k, "minix")
		noMods := withConfig(tg.k, func(c kernel.Config) { delete(c, "MODULES") })
		nomodule := *tg.k
		nomodule.CmdLine = "ro nomodule"
		for _, tt := range []struct {
			name  string
			k     *kernel.Kernel
			opts  load.Options
			errno unix.Errno
			why   load.Refusal
			fn    string
			note  string
		}{
			{"no CONFIG_MODULES", noMods, load.Options{}, unix.ENOSYS, load.RefusedNoModules, "sys_ni_syscall", "CONFIG_MODULES"},
			{"no CONFIG_MODULES, unprivileged", noMods, load.Options{Unprivileged: true, ModulesDisabled: true}, unix.ENOSYS, load.RefusedNoModules, "sys_ni_syscall", "CONFIG_MODULES"},
			{"modules_disabled", tg.k, load.Options{ModulesDisabled: true}, unix.EPERM, load.RefusedDisabled, "may_init_module", "modules_disabled is 1"},
			{"nomodule", &nomodule, load.Options{}, unix.EPERM, load.RefusedDisabled, "may_init_module", "nomodule"},
			{"no CAP_SYS_MODULE", tg.k, load.Options{Unprivileged: true}, unix.EPERM, load.RefusedCapability, "may_init_module", "CAP_SYS_MODULE"},
			{"both EPERMs", tg.k, load.Options{Unprivileged: true, ModulesDisabled: true}, unix.EPERM, load.RefusedCapability, "may_init_module", "CAP_SYS_MODULE"},
		} {
			for call, r := range map[string]*load.Result{
				"finit_module":  load.New(tt.k, tt.opts).FinitModule(img, "", 0),
				"init_module":   load.New(tt.k, tt.opts).InitModule(img, ""),
				"delete_module": load.New(tt.k, tt.opts).Delete("minix", load.DeleteNonblock),
			} {
				fn := tt.fn
				if call == "delete_module" && fn == "may_init_module" {
					fn = "delete_module"
				}
				last := r.Trace[len(r.Trace)-1]
				if r.Errno() != tt.errno || r.Refused != tt.why || len(r.Trace) != 1 || last.Func != fn || !strings.Contains(last.Note, tt.note) || len(r.Log) != 0 {
					t.Errorf("%s: %s, %s: %v refused %q trace %v log %v", tg.k.Release, tt.name, call, r.Err, r.Refused, r.Trace, r.Log)
				}
			}
		}
		noUnload := withConfig(tg.k, func(c kernel.Config) { delete(c, "MODULE_UNLOAD") })
		if r := load.New(noUnload, load.Options{}).Delete("minix", load.DeleteNonblock); r.Errno() != unix.ENOSYS || r.Refused != load.RefusedNoUnload {
			t.Errorf("%s: delete_module without CONFIG_MODULE_UNLOAD: %v %q", tg.k.Release, r.Err, r.Refused)
		}
		if r := load.New(tg.k, load.Options{}).FinitModule(img, "", 0); r.Err != nil || r.Refused != "" {
			t.Errorf("%s: minix: %v %q", tg.k.Release, r.Err, r.Refused)
		}
	}
}
