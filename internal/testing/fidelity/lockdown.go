package fidelity

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gokmod/internal/simop"
	"gokmod/internal/testing/modsign"
	"gokmod/internal/testing/playground"
	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/vmtest"
	"gokmod/ko"
)

// LockdownCmdlines are the boots the signature and lockdown corpus runs under: lockdown
// at integrity level, signatures enforced, neither (where a module signed by an
// unknown key loads and taints E), and lockdown with an lsm= list that leaves lockdown
// out (Debian's lockdown LSM is an early LSM, which lsm= does not choose).
//
// Not lockdown=confidentiality: the guest's own start-up then meets enough refusals
// that the ratelimited Lockdown line (10 a burst per 5 s) is suppressed for the first
// loads, depending on timing ("lockdown_is_locked_down: 7 callbacks suppressed" on 6.1).
var LockdownCmdlines = []string{
	"lockdown=integrity",
	"module.sig_enforce=1",
	"",
	"lsm=landlock,yama lockdown=integrity",
}

// LockdownBatches builds, for each of LockdownCmdlines, one batch loading: the
// Debian-signed minix, minix with its signature stripped (by finit_module and by
// init_module), minix signed by a freshly generated key the kernel does not trust
// (intact, and with a byte of the module changed after signing), minix with a byte of
// Debian's signature flipped, minix whose signature claims to be X.509 rather than
// PKCS#7 (unsupported crypto), the signed minix forced (the flags make it unsigned), an
// unsigned out-of-tree module from the playground, and, under lockdown, parport_pc
// with a hardware parameter (module_param_hw, refused by lockdown).
func LockdownBatches(k testenv.Kernel, dir string) ([]*Batch, error) {
	signed, err := intree(k, "kernel/fs/minix/minix.ko")
	if err != nil {
		return nil, err
	}
	f, err := ko.Parse("minix.ko", signed)
	if err != nil {
		return nil, err
	}
	unsigned := append([]byte(nil), f.ModuleImage()...)
	key, err := modsign.NewKey("gokmod fidelity: untrusted test key")
	if err != nil {
		return nil, err
	}
	self, err := key.Sign(unsigned)
	if err != nil {
		return nil, err
	}
	// The byte changed after signing is in .comment (compiler versions, not loaded):
	// the module stays sound, only its signature no longer matches.
	comment := f.Section(".comment")
	if comment == nil || comment.Size == 0 {
		return nil, fmt.Errorf("minix.ko: no .comment")
	}
	flip := func(b []byte, off int) []byte {
		out := append([]byte(nil), b...)
		out[off] ^= 1
		return out
	}
	selfChanged := flip(self, int(comment.Offset))
	sigFlipped := flip(signed, len(signed)-len(ko.SignatureMagic)-12-10)
	// struct module_signature's id_type 1 (X.509) instead of 2 (PKCS#7): ENOPKG,
	// "module with unsupported crypto".
	idType := append([]byte(nil), signed...)
	idType[len(idType)-len(ko.SignatureMagic)-12+2] = 1
	pg, err := playground.Build(k)
	if err != nil {
		return nil, err
	}
	pgMod, err := os.ReadFile(pg.Path(playground.NoDeps))
	if err != nil {
		return nil, err
	}
	parport, parportPC := inTreePath(k, "parport"), inTreePath(k, "parport_pc")
	if parport == "" || parportPC == "" {
		return nil, fmt.Errorf("%s: parport or parport_pc not in modules.dep", k.Release)
	}

	var batches []*Batch
	for i, cmdline := range LockdownCmdlines {
		b := &Batch{Name: fmt.Sprintf("lockdown-%d", i+1), Append: cmdline}
		sub := filepath.Join(dir, b.Name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return nil, err
		}
		written := map[string]string{}
		type load struct {
			name, kind string
			data       []byte
		}
		for _, l := range []load{
			{"minix-signed.ko", simop.Insmod, signed},
			{"minix-unsigned.ko", simop.Insmod, unsigned},
			{"minix-unsigned.ko", simop.Init, unsigned},
			{"minix-untrusted.ko", simop.Insmod, self},
			{"minix-untrusted-changed.ko", simop.Insmod, selfChanged},
			{"minix-sig-flipped.ko", simop.Insmod, sigFlipped},
			{"minix-id-type-x509.ko", simop.Insmod, idType},
			{"minix-signed.ko", simop.InsmodForce, signed},
			{"pg_nodeps.ko", simop.Insmod, pgMod},
		} {
			p, ok := written[l.name]
			if !ok {
				if p, err = b.file(sub, l.name, l.data); err != nil {
					return nil, err
				}
				written[l.name] = p
			}
			b.add(l.kind, p, "")
			name := strings.TrimSuffix(l.name, ".ko")
			if strings.HasPrefix(name, "minix") {
				name = "minix"
			}
			b.add(simop.RmmodForce, name, "")
		}
		b.After = insmodHint(cmdline)
		if strings.Contains(cmdline, "lockdown=") {
			b.Modules = append(b.Modules, "parport", "parport_pc")
			b.add(simop.Insmod, parport, "")
			b.add(simop.Insmod, parportPC, "io=0x378")
			b.add(simop.Rmmod, "parport", "")
		}
		batches = append(batches, b)
	}
	return batches, nil
}

// inTreePath is the modules.dep path of an in-tree module ("" when there is none).
func inTreePath(k testenv.Kernel, name string) string {
	data, err := os.ReadFile(filepath.Join(k.ModDir(), "modules.dep"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		mod, _, ok := strings.Cut(line, ":")
		if ok && moduleName(mod) == name {
			return mod
		}
	}
	return ""
}

// insmodHint checks gokmod's own insmod in the batch's guest on the stripped minix: kmod's
// exit status, the kernel's line as the tool relays it (the process is insmod, the
// name the model assumes by default), and the hint for that cause.
func insmodHint(cmdline string) func(vm *vmtest.VM) error {
	var line, hint string
	switch {
	case strings.Contains(cmdline, "lockdown="):
		line, hint = "insmod: kernel: Lockdown: insmod: unsigned module loading is restricted", "insmod: hint: the kernel is locked down"
	case strings.Contains(cmdline, "module.sig_enforce=1"):
		line, hint = "insmod: kernel: Loading of unsigned module is rejected", "insmod: hint: the module is unsigned and the kernel enforces signatures"
	default:
		return nil
	}
	return func(vm *vmtest.VM) error {
		r, err := vm.Run(vmtest.GokmodDir + "/insmod " + GuestDir + "/minix-unsigned.ko")
		if err != nil {
			return err
		}
		if r.Exit != 1 || !strings.Contains(r.Stderr, line) || !strings.Contains(r.Stderr, hint) {
			return fmt.Errorf("gokmod insmod of the unsigned module: exit %d, want 1 with %q and %q:\n%s", r.Exit, line, hint, r.Stderr)
		}
		return nil
	}
}
