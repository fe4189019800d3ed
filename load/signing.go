package load

import (
	"encoding/binary"
	"errors"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
)

// moduleSigString is MODULE_SIG_STRING, the marker that ends a signed module.
const moduleSigString = "~Module signature appended~\n"

// moduleSignatureSize is sizeof(struct module_signature).
const moduleSignatureSize = 12

// pkeyIDPKCS7 is PKEY_ID_PKCS7, the only id_type the kernel accepts.
const pkeyIDPKCS7 = 2

// moduleSigCheck mirrors module_sig_check (kernel/module/signing.c). It runs before any
// ELF parsing, strips the marker and signature from info.len, and decides whether an
// unsigned or unverifiable module may continue (it then taints E later).
func (c *call) moduleSigCheck(info *loadInfo, flags Flags) unix.Errno {
	const fn = "module_sig_check"
	if !c.m.K.Config.ModuleSig() {
		c.step(fn, 0, "kernel built without CONFIG_MODULE_SIG")
		return 0
	}
	c.step(fn, 0, "trusted keys: %s", strings.Join(c.m.trustedKeyNames(), "; "))
	for _, n := range c.m.K.Security.Notes {
		c.step(fn, 0, "%s", n)
	}
	err := unix.ENODATA
	mangled := flags&(IgnoreModversions|IgnoreVermagic) != 0
	n := uint64(len(moduleSigString))
	if !mangled && info.len > n && string(info.hdr[info.len-n:info.len]) == moduleSigString {
		info.len -= n
		err = c.modVerifySig(info)
		if err == 0 {
			info.sigOK = true
			c.res.Sig.Status = SigVerified
			c.step(fn, 0, "signature verified")
			return 0
		}
	}
	var reason string
	switch err {
	case unix.ENODATA:
		reason, c.res.Sig.Status = "unsigned module", SigUnsigned
	case unix.ENOPKG:
		reason, c.res.Sig.Status = "module with unsupported crypto", SigUnsupported
	case unix.ENOKEY:
		reason, c.res.Sig.Status = "module with unavailable key", SigUntrusted
	default:
		// Everything else is fatal, enforcement or not.
		c.res.Sig.Status = SigBad
		return c.step(fn, err, "signature present but bad")
	}
	if mangled {
		c.res.Sig.Forced = true
		reason += " (forced load: the signature is ignored)"
	}
	if c.m.K.SigEnforce() {
		c.res.Sig.Enforced = c.m.sigEnforceWhy()
		c.log(LevelNotice, "Loading of %s is rejected", reasonText(err))
		return c.step(fn, unix.EKEYREJECTED, "%s and signatures are enforced (%s)", reason, c.res.Sig.Enforced)
	}
	// security_locked_down(LOCKDOWN_MODULE_SIGNATURE)
	if locked, why := c.lockedDown(reasonModuleSignature); locked {
		c.res.Sig.Lockdown = why
		return c.step(fn, unix.EPERM, "%s under %s", reason, why)
	} else if why != "" {
		c.step(fn, 0, "not locked down: %s", why)
	}
	c.step(fn, 0, "%s: allowed (not enforced), taints E later", reason)
	return 0
}

// reasonText is the reason string module_sig_check prints.
func reasonText(err unix.Errno) string {
	switch err {
	case unix.ENOPKG:
		return "module with unsupported crypto"
	case unix.ENOKEY:
		return "module with unavailable key"
	}
	return "unsigned module"
}

// modVerifySig mirrors mod_verify_sig and mod_check_sig: the trailer's sanity checks,
// then verify_pkcs7_signature against the secondary trusted keyring (the built-in keys,
// and the machine and secondary keys given as kernel.TrustedKey), then, on ENOKEY, the
// platform keyring (Debian's patch; the model searches all of them at once: a
// certificate is found by issuer and serial number, so the order does not matter).
func (c *call) modVerifySig(info *loadInfo) unix.Errno {
	const fn = "mod_verify_sig"
	modlen := info.len
	if modlen <= moduleSignatureSize {
		return c.step(fn, unix.EBADMSG, "no room for struct module_signature")
	}
	ms := info.hdr[modlen-moduleSignatureSize : modlen]
	sigLen := uint64(binary.BigEndian.Uint32(ms[8:12]))
	// mod_check_sig (kernel/module_signature.c), name "module".
	if sigLen >= modlen-moduleSignatureSize {
		return c.step(fn, unix.EBADMSG, "sig_len %d does not fit", sigLen)
	}
	if ms[2] != pkeyIDPKCS7 {
		c.log(LevelErr, "module: not signed with expected PKCS#7 message")
		return c.step(fn, unix.ENOPKG, "id_type %d", ms[2])
	}
	if ms[0] != 0 || ms[1] != 0 || ms[3] != 0 || ms[4] != 0 || ms[5] != 0 || ms[6] != 0 || ms[7] != 0 {
		c.log(LevelErr, "module: PKCS#7 signature info has unexpected non-zero params")
		return c.step(fn, unix.EBADMSG, "non-zero algo/hash/signer_len/key_id_len/pad")
	}
	modlen -= sigLen + moduleSignatureSize
	info.len = modlen
	cert, e := kernel.VerifyModuleSigner(info.hdr[:modlen], info.hdr[modlen:modlen+sigLen], c.m.K.TrustedCerts())
	if e == nil {
		c.step(fn, 0, "signed by %s", c.m.K.KeyFor(cert))
		return 0
	}
	var se *kernel.SigError
	if errors.As(e, &se) {
		for _, l := range se.Log {
			c.log(LevelWarn, "%s", l)
		}
		if se.Errno == unix.ENOKEY {
			if len(c.m.K.Certs) == 0 {
				c.uncertain("no built-in certificate known: a signed module is treated as signed by an unavailable key")
			}
			c.res.Sig.Signer = se.Signer
			for _, t := range c.m.K.UnenrolledSigner(e) {
				c.res.Sig.SignerFiles = append(c.res.Sig.SignerFiles, t.Source)
			}
			c.uncertain("trusted keys: the %d built into vmlinux and %d more (--trust); MOK, db and keys added at run time are known only when given", len(c.m.K.Certs), len(c.m.K.Security.Trusted))
		}
		return c.step(fn, se.Errno, "%s", se.Why)
	}
	return c.step(fn, unix.EBADMSG, "%v", e)
}

// WarmSignature verifies an image's appended signature ahead of time, without touching
// any model: the verdict is remembered by kernel.VerifyModuleSignature, so a later load
// of the same bytes skips the RSA work. Callers checking many modules run it on every
// core first. compressed images are left alone (the model decompresses them itself).
func WarmSignature(k *kernel.Kernel, image []byte) {
	n := uint64(len(image))
	if n <= uint64(len(moduleSigString))+moduleSignatureSize || string(image[n-uint64(len(moduleSigString)):]) != moduleSigString {
		return
	}
	n -= uint64(len(moduleSigString))
	ms := image[n-moduleSignatureSize : n]
	sigLen := uint64(binary.BigEndian.Uint32(ms[8:12]))
	if sigLen >= n-moduleSignatureSize || ms[2] != pkeyIDPKCS7 {
		return
	}
	n -= sigLen + moduleSignatureSize
	kernel.VerifyModuleSignature(image[:n], image[n:n+sigLen], k.TrustedCerts())
}
