package tool

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
	"gokmod/kmod"
	"gokmod/load"
)

// trustKeys adds each --trust CERT (DER or PEM) to the keys k trusts, as enrolled
// Machine Owner Keys.
func trustKeys(k *kernel.Kernel, certs []string) error {
	for _, c := range certs {
		if err := k.Trust(c); err != nil {
			return fmt.Errorf("--trust: %w", err)
		}
	}
	return nil
}

// signatureFixes turns what module_sig_check found into what to do, by cause: an
// untrusted signer is enrolled, a corrupt signature re-signed, an unsigned module
// signed (and its key enrolled).
func signatureFixes(k *kernel.Kernel, file string, r *load.Result) []string {
	s := r.Sig
	refused := s.Enforced != "" || s.Lockdown != ""
	signFile := fmt.Sprintf("/usr/src/linux-headers-%s/scripts/sign-file sha256 KEY.priv KEY.der %s", k.Release, file)
	why := func() string {
		if s.Enforced != "" {
			return "signatures are enforced (" + s.Enforced + ")"
		}
		return "the kernel is locked down (" + s.Lockdown + ")"
	}
	var out []string
	switch {
	case s.Forced && refused:
		out = append(out, "the force flags (-f, --force-vermagic, --force-modversion) drop the signature, so the module counts as unsigned, and "+why()+": load it without them")
	case s.Status == load.SigUntrusted && refused:
		key := "the signer's certificate"
		if len(s.SignerFiles) > 0 {
			key = s.SignerFiles[0]
		}
		out = append(out, fmt.Sprintf("the module is signed by a key the kernel does not trust (%s), and %s: enroll the key (mokutil --import %s, then reboot and confirm in MokManager) or sign with a trusted key", s.Signer, why(), key))
	case s.Status == load.SigUntrusted:
		key := "the signer's certificate"
		if len(s.SignerFiles) > 0 {
			key = s.SignerFiles[0]
		}
		out = append(out, fmt.Sprintf("signed by a key the kernel does not trust (%s): it loads but taints the kernel (E); enroll the key (mokutil --import %s) to load it untainted", s.Signer, key))
	case s.Status == load.SigUnsigned && refused:
		out = append(out, fmt.Sprintf("the module is unsigned and %s: sign it (and enroll the key): %s; mokutil --import KEY.der. DKMS does both with its own key: /var/lib/dkms/mok.key and %s", why(), signFile, kernel.DKMSKey))
		if s.Enforced != "" && strings.Contains(s.Enforced, "command line") {
			out = append(out, "or boot without module.sig_enforce=1")
		}
		if s.Lockdown != "" && strings.Contains(s.Lockdown, "lockdown=") {
			out = append(out, "or boot without lockdown= on the command line")
		}
	case s.Status == load.SigUnsupported && refused:
		out = append(out, "the signature uses crypto this kernel lacks, and "+why()+": re-sign it with sha256 and an RSA key")
	case s.Status == load.SigBad:
		out = append(out, "the signature is corrupt or does not match the file (a bad signature is refused even when signatures are not enforced): re-sign it ("+signFile+"), or restore the original file")
	}
	return out
}

// kmsgText is the kernel's log lines of a failed insert.
func kmsgText(ie *kmod.InsertError) []string {
	var out []string
	for _, r := range ie.Kmsg {
		out = append(out, r.Msg)
	}
	return out
}

// signatureHint is insmod's hint for a signature or lockdown refusal, by the cause the
// kernel's log line names ("" for an EPERM that is not lockdown's).
func signatureHint(errno unix.Errno, kmsg []string) string {
	log := strings.Join(kmsg, "\n")
	switch {
	case errno == unix.EPERM && strings.Contains(log, "unsigned module loading is restricted"):
		return "the kernel is locked down and loads only modules signed by a key it trusts: sign the module (and enroll the key: mokutil --import; DKMS signs with " + kernel.DKMSKey + ")"
	case errno == unix.EPERM && strings.Contains(log, "unsafe module parameters is restricted"):
		return "the kernel is locked down and refuses hardware parameters (I/O ports, IRQs, DMA, addresses): load the module without them"
	case errno == unix.EPERM:
		return ""
	case strings.Contains(log, "Loading of unsigned module is rejected"):
		return "the module is unsigned and the kernel enforces signatures: sign it (and enroll the key: mokutil --import; DKMS signs with " + kernel.DKMSKey + ")"
	case strings.Contains(log, "Loading of module with unavailable key is rejected"):
		return "the module is signed by a key the kernel does not trust: enroll the key (mokutil --import KEY.der) or sign with a trusted key"
	case strings.Contains(log, "Loading of module with unsupported crypto is rejected"):
		return "the module's signature uses crypto this kernel lacks: re-sign it with sha256 and an RSA key"
	}
	return "the module's signature is corrupt or does not match the file: re-sign it, or restore the original file"
}
