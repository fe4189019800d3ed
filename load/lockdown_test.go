package load_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/modsign"
	"gokmod/kernel"
	"gokmod/load"
)

// booted returns a copy of k booted with cmdline, trusting the certificates given.
func booted(t *testing.T, k *kernel.Kernel, cmdline string, trust ...*modsign.Key) *kernel.Kernel {
	t.Helper()
	c := *k
	c.CmdLine = cmdline
	c.Security = kernel.Security{}
	for i, key := range trust {
		p := filepath.Join(t.TempDir(), "mok"+string(rune('0'+i))+".der")
		if err := os.WriteFile(p, key.Cert.Raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.Trust(p); err != nil {
			t.Fatal(err)
		}
	}
	return &c
}

// module_sig_check under lockdown and with keys beyond vmlinux's: an unsigned module
// and one signed by an unknown key are EPERM under lockdown=integrity (the line names
// the calling process), a trusted MOK makes the latter load untainted, and without
// lockdown or enforcement it loads tainted E with its signer named.
func TestLockdownAndTrustedKeys(t *testing.T) {
	key, err := modsign.NewKey("gokmod test MOK")
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range kernels(t) {
		signed := inTree(t, tg.k, "minix")
		unsigned := stripSig(t, signed)
		mine, err := key.Sign(unsigned)
		if err != nil {
			t.Fatal(err)
		}

		locked := booted(t, tg.k, "quiet lockdown=integrity")
		wantErr(t, load.New(locked, load.Options{}).Load(signed, "", 0), 0)
		r := load.New(locked, load.Options{Comm: "modprobe"}).Load(unsigned, "", 0)
		wantErr(t, r, unix.EPERM)
		wantLog(t, r, "Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7")
		if r.Sig.Status != load.SigUnsigned || !strings.Contains(r.Sig.Lockdown, "integrity") {
			t.Errorf("%s: sig verdict %+v", tg.k.Release, r.Sig)
		}
		r = load.New(locked, load.Options{}).Load(mine, "", 0)
		wantErr(t, r, unix.EPERM)
		wantLog(t, r, "Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7")
		if r.Sig.Status != load.SigUntrusted || !strings.Contains(r.Sig.Signer, "gokmod test MOK") {
			t.Errorf("%s: sig verdict %+v", tg.k.Release, r.Sig)
		}
		// Forced: the signature is not looked at, so the module is unsigned.
		wantErr(t, load.New(locked, load.Options{}).Load(signed, "", load.IgnoreVermagic), unix.EPERM)

		trusted := booted(t, tg.k, "lockdown=integrity module.sig_enforce=1", key)
		r = load.New(trusted, load.Options{}).Load(mine, "", 0)
		wantErr(t, r, 0)
		wantLog(t, r)
		if r.Taint != 0 || r.Sig.Status != load.SigVerified {
			t.Errorf("%s: MOK-signed module: taint %q, sig %+v", tg.k.Release, r.Taint, r.Sig)
		}
		named := false
		for _, s := range r.Trace {
			named = named || strings.Contains(s.Note, "signed by \"gokmod test MOK\"") && strings.Contains(s.Note, ".machine keyring")
		}
		if !named {
			t.Errorf("%s: the trace does not name the MOK that verified the module: %v", tg.k.Release, r.Trace)
		}

		plain := booted(t, tg.k, "")
		r = load.New(plain, load.Options{}).Load(mine, "", 0)
		wantErr(t, r, 0)
		wantLog(t, r, "minix: "+sigFailed)
		if r.Taint.String() != "E" || r.Sig.Status != load.SigUntrusted {
			t.Errorf("%s: untrusted signer: taint %q, sig %+v", tg.k.Release, r.Taint, r.Sig)
		}

		enforced := booted(t, tg.k, "module.sig_enforce=1")
		r = load.New(enforced, load.Options{}).Load(mine, "", 0)
		wantErr(t, r, unix.EKEYREJECTED)
		wantLog(t, r, "Loading of module with unavailable key is rejected")

		// A hardware parameter is refused under lockdown, with its own reason.
		pc := inTree(t, tg.k, "parport_pc")
		m := load.New(locked, load.Options{})
		wantErr(t, m.Load(inTree(t, tg.k, "parport"), "", 0), 0)
		r = m.Load(pc, "io=0x378", 0)
		wantErr(t, r, unix.EPERM)
		wantLog(t, r, "Lockdown: insmod: unsafe module parameters is restricted; see man kernel_lockdown.7",
			"parport_pc: `0x378' invalid for parameter `io'")
	}
}
