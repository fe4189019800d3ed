package kernel

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// The lockdown level as the kernel decides it: it only rises (FORCE config, every
// lockdown= on the command line, integrity and confidentiality only), and it has no
// effect when the lockdown LSM is not active (not built, or, without
// SECURITY_LOCKDOWN_LSM_EARLY, not in lsm=/CONFIG_LSM).
func TestLockdownLevel(t *testing.T) {
	debian := Config{"SECURITY_LOCKDOWN_LSM": "y", "SECURITY_LOCKDOWN_LSM_EARLY": "y", "LSM": `"landlock,lockdown,yama"`}
	late := Config{"SECURITY_LOCKDOWN_LSM": "y", "LSM": `"landlock,lockdown,yama"`}
	for _, c := range []struct {
		config  Config
		cmdline string
		level   Lockdown
		locked  bool
	}{
		{debian, "", LockdownNone, false},
		{debian, "lockdown=integrity", LockdownIntegrity, true},
		{debian, "lockdown=confidentiality lockdown=integrity", LockdownConfidentiality, true},
		{debian, "lockdown=none", LockdownNone, false},
		{debian, "lockdown=Integrity", LockdownNone, false},
		{debian, "lsm=yama lockdown=integrity", LockdownIntegrity, true}, // early LSM: lsm= does not choose it
		{late, "lsm=yama lockdown=integrity", LockdownIntegrity, false},
		{late, "lsm=yama,lockdown lockdown=integrity", LockdownIntegrity, true},
		{late, "lockdown=integrity", LockdownIntegrity, true},
		{Config{"SECURITY_LOCKDOWN_LSM": "y", "LSM": `"yama"`}, "lockdown=integrity", LockdownIntegrity, false},
		{Config{}, "lockdown=integrity", LockdownIntegrity, false},
		{Config{"SECURITY_LOCKDOWN_LSM": "y", "SECURITY_LOCKDOWN_LSM_EARLY": "y", "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": "y"}, "", LockdownIntegrity, true},
		{Config{"SECURITY_LOCKDOWN_LSM": "y", "SECURITY_LOCKDOWN_LSM_EARLY": "y", "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY": "y"}, "lockdown=integrity", LockdownConfidentiality, true},
	} {
		k := &Kernel{Config: c.config, CmdLine: c.cmdline}
		level, why := k.LockdownLevel()
		locked, whyLocked := k.LockedDown(LockdownIntegrity)
		if level != c.level || locked != c.locked {
			t.Errorf("%v %q: level %v (%s), locked %v (%s); want %v, %v", c.config, c.cmdline, level, why, locked, whyLocked, c.level, c.locked)
		}
	}
}

// module.sig_enforce is bool_enable_only: any true value on the command line sticks;
// the value read from the running kernel wins over everything.
func TestSigEnforce(t *testing.T) {
	for _, c := range []struct {
		config  Config
		cmdline string
		seen    string
		want    bool
	}{
		{Config{}, "", "", false},
		{Config{}, "module.sig_enforce", "", true},
		{Config{}, "module.sig_enforce=on", "", true},
		{Config{}, "module.sig-enforce=y", "", true},
		{Config{}, "module.sig_enforce=1 module.sig_enforce=0", "", true},
		{Config{}, "module.sig_enforce=0", "", false},
		{Config{}, "module.sig_enforce=off", "", false},
		{Config{"MODULE_SIG_FORCE": "y"}, "module.sig_enforce=0", "", true},
		{Config{}, "", "Y", true},
		{Config{}, "module.sig_enforce=1", "N", false},
	} {
		k := &Kernel{Config: c.config, CmdLine: c.cmdline, Security: Security{SigEnforceSeen: c.seen}}
		if got := k.SigEnforce(); got != c.want {
			t.Errorf("%v %q seen %q: %v, want %v", c.config, c.cmdline, c.seen, got, c.want)
		}
	}
}

// readHostSecurity on a fake root: the lockdown file's bracketed word, sig_enforce,
// SecureBoot, the MOKs in MokListRT (trusted, machine keyring) and DKMS's key on disk
// (not enrolled: remembered for the fix only).
func TestReadHostSecurity(t *testing.T) {
	root := t.TempDir()
	write := func(p string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(root+p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mok, dkms := testCert(t, "enrolled MOK"), testCert(t, "DKMS module signing key")
	write("/sys/kernel/security/lockdown", []byte("none [integrity] confidentiality\n"))
	write("/sys/module/module/parameters/sig_enforce", []byte("Y\n"))
	write("/sys/firmware/efi/efivars/SecureBoot-"+efiGlobalVariable, []byte{6, 0, 0, 0, 1})
	write("/sys/firmware/efi/efivars/MokListRT-"+shimLockGUID, efiSigList(mok.Raw))
	write(DKMSKey, dkms.Raw)
	k := &Kernel{Config: Config{"MODULE_SIG": "y", "SECURITY_LOCKDOWN_LSM": "y", "SECURITY_LOCKDOWN_LSM_EARLY": "y",
		"LOCK_DOWN_IN_EFI_SECURE_BOOT": "y", "IMA": "y", "IMA_ARCH_POLICY": "y"}}
	k.readHostSecurity(root)
	s := k.Security
	if s.LockdownSeen != "integrity" || s.SigEnforceSeen != "Y" || !s.SecureBoot || !s.SecureBootKnown {
		t.Errorf("security %+v", s)
	}
	if len(s.Trusted) != 1 || !bytes.Equal(s.Trusted[0].Cert.Raw, mok.Raw) || s.Trusted[0].Keyring != "machine" {
		t.Errorf("trusted %+v, want the MOK", s.Trusted)
	}
	if len(s.Unenrolled) != 1 || !bytes.Equal(s.Unenrolled[0].Cert.Raw, dkms.Raw) || s.Unenrolled[0].Source != DKMSKey {
		t.Errorf("unenrolled %+v, want DKMS's key", s.Unenrolled)
	}
	if l, _ := k.LockdownLevel(); l != LockdownIntegrity || !k.SigEnforce() {
		t.Errorf("level %v, enforce %v", l, k.SigEnforce())
	}
	k.Security.BootWith()
	if l, _ := k.LockdownLevel(); l != LockdownIntegrity {
		t.Errorf("after BootWith, Secure Boot no longer implies integrity: %v", l)
	}
	if !k.SigEnforce() {
		t.Error("after BootWith, Secure Boot no longer enforces signatures through IMA")
	}
	k.Security.SecureBoot = false
	if l, _ := k.LockdownLevel(); l != LockdownNone || k.SigEnforce() {
		t.Errorf("without Secure Boot: level %v, enforce %v", l, k.SigEnforce())
	}
}

// efiSigList is an efivarfs file: attributes, one EFI_SIGNATURE_LIST of one X.509.
func efiSigList(der []byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 6)
	b = append(b, efiCertX509GUID...)
	b = le.AppendUint32(b, uint32(28+16+len(der)))
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, uint32(16+len(der)))
	b = append(b, make([]byte, 16)...) // SignatureOwner
	return append(b, der...)
}
