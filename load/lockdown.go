package load

import (
	"strings"

	"gokmod/kernel"
)

// SigStatus is what module_sig_check made of a module's signature.
type SigStatus string

// The outcomes of module_sig_check's mod_verify_sig.
const (
	SigVerified    SigStatus = "verified"    // a trusted key verifies it
	SigUnsigned    SigStatus = "unsigned"    // -ENODATA: no signature, or a forced load
	SigUntrusted   SigStatus = "untrusted"   // -ENOKEY: signed by a key the kernel does not trust
	SigUnsupported SigStatus = "unsupported" // -ENOPKG: crypto the kernel lacks
	SigBad         SigStatus = "bad"         // anything else: corrupt, or does not verify
)

// SigVerdict is what module_sig_check found, for explanations and fixes.
type SigVerdict struct {
	Status SigStatus
	// Forced is a load with MODULE_INIT_IGNORE_* flags: the signature was not looked at.
	Forced bool
	// Signer names the untrusted signer (issuer and serial) of an ENOKEY signature.
	Signer string
	// SignerFiles are on-disk certificates of that signer that are not enrolled
	// (/var/lib/dkms/mok.pub...).
	SignerFiles []string
	// Enforced says why signatures are enforced, when that refused the module.
	Enforced string
	// Lockdown says why lockdown refused the module.
	Lockdown string
}

// Lockdown reasons module loading checks (enum lockdown_reason), with the text
// security/security.c's lockdown_reasons[] gives each. Both are below
// LOCKDOWN_INTEGRITY_MAX: refused at integrity level and above.
const (
	reasonModuleSignature  = "unsigned module loading"  // LOCKDOWN_MODULE_SIGNATURE
	reasonModuleParameters = "unsafe module parameters" // LOCKDOWN_MODULE_PARAMETERS
)

// lockedDown mirrors security_locked_down(what) with the lockdown LSM's hook,
// lockdown_is_locked_down: at integrity level or above it prints
// "Lockdown: COMM: REASON is restricted; see man kernel_lockdown.7" (current->comm,
// the name of the process making the system call) and refuses with EPERM. why says
// what decided, for the trace.
func (c *call) lockedDown(reason string) (bool, string) {
	locked, why := c.m.K.LockedDown(kernel.LockdownIntegrity)
	if c.m.Opts.Lockdown && !locked {
		locked, why = true, "lockdown (Options.Lockdown)"
	}
	if !locked {
		return false, why
	}
	comm := c.m.Opts.Comm
	if comm == "" {
		comm = "insmod"
	}
	// TASK_COMM_LEN is 16: comm holds at most 15 bytes.
	if len(comm) > 15 {
		comm = comm[:15]
	}
	c.log(LevelNotice, "Lockdown: %s: %s is restricted; see man kernel_lockdown.7", comm, reason)
	c.uncertain("the Lockdown line is printed with pr_notice_ratelimited (10 a burst per 5 s, shared with every other lockdown refusal of the boot): past that it is suppressed, then counted in \"lockdown_is_locked_down: N callbacks suppressed\"")
	return true, why
}

// sigEnforceWhy says why is_module_sig_enforced() is true.
func (m *Model) sigEnforceWhy() string {
	k := m.K
	switch {
	case k.Security.SigEnforceSeen == "Y":
		return "/sys/module/module/parameters/sig_enforce is Y"
	case k.Config.ModuleSigForce():
		return "CONFIG_MODULE_SIG_FORCE"
	case k.Security.SecureBoot && k.Config.Enabled("IMA_ARCH_POLICY"):
		return "EFI Secure Boot: IMA's arch policy enforces module signatures"
	case strings.Contains(strings.ReplaceAll(k.CmdLine, "-", "_"), "module.sig_enforce"):
		return "module.sig_enforce on the command line"
	}
	return "enforced"
}

// trustedKeyNames names every key a signature is checked against, with its keyring and
// where it came from.
func (m *Model) trustedKeyNames() []string {
	var out []string
	for _, c := range m.K.TrustedCerts() {
		out = append(out, m.K.KeyFor(c))
	}
	if len(out) == 0 {
		return []string{"none known"}
	}
	return out
}
