package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Lockdown is a kernel lockdown level (enum lockdown_reason's LOCKDOWN_NONE,
// LOCKDOWN_INTEGRITY_MAX and LOCKDOWN_CONFIDENTIALITY_MAX), as
// /sys/kernel/security/lockdown names them.
type Lockdown int

// The three levels; each includes the restrictions of the ones before it.
const (
	LockdownNone Lockdown = iota
	LockdownIntegrity
	LockdownConfidentiality
)

// String is the level's name as /sys/kernel/security/lockdown and lockdown= spell it.
func (l Lockdown) String() string {
	switch l {
	case LockdownIntegrity:
		return "integrity"
	case LockdownConfidentiality:
		return "confidentiality"
	}
	return "none"
}

// Security is what decides module signature enforcement and lockdown on a target
// kernel beyond its configuration and command line: what the running system shows
// (for --kernel host) and the keys trusted beyond those built into vmlinux.
type Security struct {
	// Observed is true when the values below were read from the running kernel; they
	// then win over what the configuration and command line imply.
	Observed bool
	// LockdownSeen is the bracketed word of /sys/kernel/security/lockdown ("" when the
	// file could not be read: it is root-only, mode 0600).
	LockdownSeen string
	// SigEnforceSeen is /sys/module/module/parameters/sig_enforce ("Y" or "N"; ""
	// unread). It is the final value, including what IMA's arch policy set under
	// Secure Boot.
	SigEnforceSeen string
	// SecureBoot is the firmware's SecureBoot variable (efivarfs), when readable.
	SecureBoot, SecureBootKnown bool
	// Trusted are keys trusted in addition to Kernel.Certs (MOK/machine, secondary,
	// platform), with where each came from.
	Trusted []TrustedKey
	// Unenrolled are module signing keys found on disk but not trusted (DKMS's
	// /var/lib/dkms/mok.pub, shim-signed's MOK.der): a fix can name the file to enroll.
	Unenrolled []TrustedKey
	// Notes are facts about the inputs worth showing in an explanation (files that
	// could not be read, keys found on disk and enrolled).
	Notes []string
}

// SigEnforce is is_module_sig_enforced(): CONFIG_MODULE_SIG_FORCE, or
// module.sig_enforce with a true value on the command line (the parameter is
// bool_enable_only: once true, a later false cannot clear it), or EFI Secure Boot
// with CONFIG_IMA_ARCH_POLICY (IMA's arch_get_ima_policy calls
// set_module_sig_enforced), or, on the running system,
// /sys/module/module/parameters/sig_enforce, which says the final word.
func (k *Kernel) SigEnforce() bool {
	if k.Security.SigEnforceSeen != "" {
		return k.Security.SigEnforceSeen == "Y"
	}
	if k.Config.ModuleSigForce() || k.imaSecureBootEnforces() {
		return true
	}
	for _, v := range k.cmdLineParams("module.sig_enforce") {
		if b, ok := kstrtobool(v); ok && b {
			return true
		}
	}
	return false
}

// imaSecureBootEnforces is IMA's Secure Boot arch policy setting sig_enforce
// (security/integrity/ima/ima_efi.c): Debian builds CONFIG_IMA_ARCH_POLICY, so under
// Secure Boot unsigned modules meet EKEYREJECTED before lockdown is asked.
func (k *Kernel) imaSecureBootEnforces() bool {
	return k.Security.SecureBootKnown && k.Security.SecureBoot &&
		k.Config.Enabled("IMA") && k.Config.Enabled("IMA_ARCH_POLICY") && k.Config.ModuleSig()
}

// kstrtobool is the kernel's kstrtobool as param_set_bool uses it: a missing value
// (the bare name) is true.
func kstrtobool(v string) (val, ok bool) {
	if v == "" {
		return true, true
	}
	switch v[0] {
	case 'y', 'Y', 't', 'T', '1':
		return true, true
	case 'n', 'N', 'f', 'F', '0':
		return false, true
	case 'o', 'O':
		if len(v) > 1 {
			switch v[1] {
			case 'n', 'N':
				return true, true
			case 'f', 'F':
				return false, true
			}
		}
	}
	return false, false
}

// cmdLineParams returns every value of name= on the command line, in order (parameq:
// '-' and '_' are the same).
func (k *Kernel) cmdLineParams(name string) []string {
	var out []string
	want := strings.ReplaceAll(name, "-", "_")
	for _, f := range strings.Fields(k.CmdLine) {
		n, v, _ := strings.Cut(f, "=")
		if strings.ReplaceAll(n, "-", "_") == want {
			out = append(out, strings.Trim(v, "\""))
		}
	}
	return out
}

// LockdownLSMActive reports whether the lockdown LSM's locked_down hook is
// registered, and why. With CONFIG_SECURITY_LOCKDOWN_LSM_EARLY it is an early LSM,
// initialized by early_security_init whatever lsm= says; otherwise it is active only
// when "lockdown" is in the ordered list: the last lsm= on the command line, else
// CONFIG_LSM (security/security.c, ordered_lsm_parse).
func (k *Kernel) LockdownLSMActive() (bool, string) {
	if !k.Config.Enabled("SECURITY_LOCKDOWN_LSM") {
		return false, "kernel built without CONFIG_SECURITY_LOCKDOWN_LSM"
	}
	if k.Config.Enabled("SECURITY_LOCKDOWN_LSM_EARLY") {
		return true, "early LSM (CONFIG_SECURITY_LOCKDOWN_LSM_EARLY): always active"
	}
	list, from := k.Config.String("LSM"), "CONFIG_LSM"
	if v := k.cmdLineParams("lsm"); len(v) > 0 {
		list, from = v[len(v)-1], "lsm="
	}
	for _, n := range strings.Split(list, ",") {
		if n == "lockdown" {
			return true, "\"lockdown\" is in " + from
		}
	}
	return false, "\"lockdown\" is not in " + from + " (" + list + "): lockdown= has no effect"
}

// LockdownLevel returns the lockdown level security_locked_down compares against,
// and how it was decided. The level only rises: CONFIG_LOCK_DOWN_KERNEL_FORCE_* in
// lockdown_lsm_init, each lockdown=integrity|confidentiality on the command line
// (lockdown_param; any other value, "none" included, is refused), Debian's
// "EFI Secure Boot mode" (CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT). On the running
// system the root-only /sys/kernel/security/lockdown says it directly. The level
// matters only when LockdownLSMActive.
func (k *Kernel) LockdownLevel() (Lockdown, string) {
	if s := k.Security.LockdownSeen; s != "" {
		return parseLockdown(s), "/sys/kernel/security/lockdown"
	}
	level, why := LockdownNone, "no lockdown= on the command line"
	raise := func(l Lockdown, from string) {
		if l > level {
			level, why = l, from
		}
	}
	switch {
	case k.Config.Enabled("LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY"):
		raise(LockdownConfidentiality, "CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY")
	case k.Config.Enabled("LOCK_DOWN_KERNEL_FORCE_INTEGRITY"):
		raise(LockdownIntegrity, "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY")
	}
	for _, v := range k.cmdLineParams("lockdown") {
		switch v {
		case "integrity":
			raise(LockdownIntegrity, "lockdown=integrity on the command line")
		case "confidentiality":
			raise(LockdownConfidentiality, "lockdown=confidentiality on the command line")
		}
	}
	if k.Security.SecureBootKnown && k.Security.SecureBoot && k.Config.Enabled("LOCK_DOWN_IN_EFI_SECURE_BOOT") {
		raise(LockdownIntegrity, "EFI Secure Boot mode (CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT; assumed: /sys/kernel/security/lockdown is root-only)")
	}
	return level, why
}

// LockedDown is security_locked_down(what) for a reason at the given level
// (LOCKDOWN_MODULE_SIGNATURE and LOCKDOWN_MODULE_PARAMETERS are integrity reasons):
// whether it is refused, and why.
func (k *Kernel) LockedDown(what Lockdown) (bool, string) {
	active, whyLSM := k.LockdownLSMActive()
	level, why := k.LockdownLevel()
	if !active {
		return false, whyLSM
	}
	if level >= what {
		return true, fmt.Sprintf("lockdown at %s level (%s)", level, why)
	}
	return false, fmt.Sprintf("lockdown at %s level (%s)", level, why)
}

// parseLockdown reads the bracketed level of /sys/kernel/security/lockdown
// ("none [integrity] confidentiality") or a bare level name.
func parseLockdown(s string) Lockdown {
	if i := strings.IndexByte(s, '['); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, ']'); j >= 0 {
			s = s[:j]
		}
	}
	switch strings.TrimSpace(s) {
	case "integrity":
		return LockdownIntegrity
	case "confidentiality":
		return LockdownConfidentiality
	}
	return LockdownNone
}

// efiGlobalVariable is EFI_GLOBAL_VARIABLE, the vendor GUID of SecureBoot and db.
const efiGlobalVariable = "8be4df61-93ca-11d2-aa0d-e398032c4b8c"

// readHostSecurity fills k.Security from the running system, under root ("/" for
// this machine's own): lockdown, sig_enforce, the SecureBoot variable, and the enrolled keys that an
// ordinary user can read.
func (k *Kernel) readHostSecurity(root string) {
	s := &k.Security
	s.Observed = true
	if b, err := os.ReadFile(filepath.Join(root, "/sys/kernel/security/lockdown")); err == nil {
		s.LockdownSeen = parseLockdown(string(b)).String()
	} else {
		s.Notes = append(s.Notes, fmt.Sprintf("lockdown level not read (%v)", err))
	}
	if b, err := os.ReadFile(filepath.Join(root, "/sys/module/module/parameters/sig_enforce")); err == nil {
		if v := strings.TrimSpace(string(b)); v == "Y" || v == "N" {
			s.SigEnforceSeen = v
		}
	} else if k.Config.ModuleSig() {
		s.Notes = append(s.Notes, fmt.Sprintf("sig_enforce not read (%v)", err))
	}
	// efivarfs: 4 bytes of attributes, then the value; SecureBoot is one byte.
	if b, err := os.ReadFile(filepath.Join(root, "/sys/firmware/efi/efivars/SecureBoot-"+efiGlobalVariable)); err == nil && len(b) >= 5 {
		s.SecureBoot, s.SecureBootKnown = b[4] == 1, true
	}
	s.Trusted = append(s.Trusted, hostKeys(root, s)...)
}

// BootWith forgets what was read from the running kernel's state (lockdown level,
// sig_enforce): the caller describes another boot, with its own command line. The
// keys stay: they are enrolled in the firmware, not chosen at boot.
func (s *Security) BootWith() {
	s.Observed, s.LockdownSeen, s.SigEnforceSeen = false, "", ""
}
