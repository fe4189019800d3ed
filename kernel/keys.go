package kernel

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gokmod/kernel/cert"
)

// TrustedKey is a certificate the kernel trusts for module signatures beyond those
// built into vmlinux: a Machine Owner Key (the .machine keyring, linked into the
// secondary trusted keyring that mod_verify_sig searches), a key added to the
// secondary keyring, or a firmware db key (the .platform keyring, which Debian's
// patch "KEYS: Make use of platform keyring for module signature verify" searches
// on ENOKEY).
type TrustedKey struct {
	Cert    *cert.Certificate
	Keyring string // "machine", "secondary" or "platform"
	Source  string // where it came from: a file, or an EFI variable
}

// Name names the key as the kernel's keyring listing does: the subject's CN (or the
// whole subject) and the subject key identifier.
func (t TrustedKey) Name() string {
	return CertName(t.Cert)
}

// CertName is "CN: SKID" for a certificate (the SKID in hex, as /proc/keys shows it).
func CertName(c *cert.Certificate) string {
	subj := c.Subject.CommonName
	if subj == "" {
		subj = c.Subject.String()
	}
	if len(c.SubjectKeyId) > 0 {
		return fmt.Sprintf("%q (SKID %s)", subj, hex.EncodeToString(c.SubjectKeyId))
	}
	return fmt.Sprintf("%q (serial %s)", subj, c.SerialNumber.Text(16))
}

// ReadCertificates reads the X.509 certificates in a file: DER (mokutil's and
// DKMS's format) or PEM (any number of CERTIFICATE blocks).
func ReadCertificates(path string) ([]*cert.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		var out []*cert.Certificate
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := cert.Parse(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, c)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
		}
		return out, nil
	}
	c, err := cert.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: neither a DER nor a PEM certificate: %w", path, err)
	}
	return []*cert.Certificate{c}, nil
}

// Trust adds the certificates in path to the keys k trusts, in the machine keyring
// (where an enrolled MOK goes).
func (k *Kernel) Trust(path string) error {
	certs, err := ReadCertificates(path)
	if err != nil {
		return err
	}
	for _, c := range certs {
		k.Security.Trusted = append(k.Security.Trusted, TrustedKey{Cert: c, Keyring: "machine", Source: path})
	}
	return nil
}

// TrustedCerts returns every certificate a module signature is checked against: the
// built-in ones, then the added keys.
func (k *Kernel) TrustedCerts() []*cert.Certificate {
	if len(k.Security.Trusted) == 0 {
		return k.Certs
	}
	out := append([]*cert.Certificate{}, k.Certs...)
	for _, t := range k.Security.Trusted {
		out = append(out, t.Cert)
	}
	return out
}

// KeyFor names the trusted key that is c: "built-in" for vmlinux's, else its
// keyring and source.
func (k *Kernel) KeyFor(c *cert.Certificate) string {
	for _, b := range k.Certs {
		if b == c {
			return CertName(c) + ", built into vmlinux (.builtin_trusted_keys)"
		}
	}
	for _, t := range k.Security.Trusted {
		if t.Cert == c {
			return fmt.Sprintf("%s, .%s keyring, from %s", t.Name(), t.Keyring, t.Source)
		}
	}
	return CertName(c)
}

// EFI GUIDs: shim's vendor GUID (MokListRT) and the X.509 signature type.
const (
	shimLockGUID = "605dab50-e046-4300-abb6-3dd810dd8b23"
)

var efiCertX509GUID = []byte{0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72}

// DKMSKey and ShimMOK are where Debian keeps the module signing certificate that DKMS
// signs with (dkms 3) and the one shim-signed's update-secureboot-policy made.
const (
	DKMSKey = "/var/lib/dkms/mok.pub"
	ShimMOK = "/var/lib/shim-signed/mok/MOK.der"
)

// hostKeys finds what the running system trusts beyond vmlinux and an ordinary user
// can read: the MOKs shim passed to the kernel (efivarfs MokListRT, MokListRT1, ...;
// the kernel loads them into the .machine keyring) and the firmware's db (the
// .platform keyring). Keys on disk that are not enrolled (DKMS's, shim-signed's) are
// remembered as notes, for the fix to name.
func hostKeys(root string, s *Security) []TrustedKey {
	var out []TrustedKey
	dir := filepath.Join(root, "/sys/firmware/efi/efivars")
	vars, _ := filepath.Glob(dir + "/MokListRT*-" + shimLockGUID)
	sort.Strings(vars)
	for _, v := range vars {
		for _, c := range efiSignatureListCerts(v) {
			out = append(out, TrustedKey{Cert: c, Keyring: "machine", Source: "EFI variable " + filepath.Base(v)})
		}
	}
	for _, c := range efiSignatureListCerts(dir + "/db-d719b2cb-3d3a-4596-a3bc-dad00e67656f") {
		out = append(out, TrustedKey{Cert: c, Keyring: "platform", Source: "EFI variable db"})
	}
	for _, p := range []string{DKMSKey, ShimMOK} {
		certs, err := ReadCertificates(filepath.Join(root, p))
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			s.Notes = append(s.Notes, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		for _, c := range certs {
			enrolled := false
			for _, t := range out {
				if bytes.Equal(t.Cert.Raw, c.Raw) {
					enrolled = true
				}
			}
			if enrolled {
				s.Notes = append(s.Notes, fmt.Sprintf("%s holds %s, enrolled", p, CertName(c)))
			} else {
				s.Unenrolled = append(s.Unenrolled, TrustedKey{Cert: c, Keyring: "none", Source: p})
			}
		}
	}
	return out
}

// efiSignatureListCerts reads the X.509 entries of an efivarfs file holding
// EFI_SIGNATURE_LISTs (4 bytes of attributes first). Anything unreadable yields none.
func efiSignatureListCerts(path string) []*cert.Certificate {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 4 {
		return nil
	}
	b = b[4:]
	var out []*cert.Certificate
	le := binary.LittleEndian
	for len(b) >= 28 {
		listSize := int(le.Uint32(b[16:20]))
		hdrSize := int(le.Uint32(b[20:24]))
		sigSize := int(le.Uint32(b[24:28]))
		if listSize < 28 || listSize > len(b) || hdrSize > listSize-28 || sigSize <= 16 {
			break
		}
		if bytes.Equal(b[:16], efiCertX509GUID) {
			for p := 28 + hdrSize; p+sigSize <= listSize; p += sigSize {
				if c, err := cert.Parse(b[p+16 : p+sigSize]); err == nil {
					out = append(out, c)
				}
			}
		}
		b = b[listSize:]
	}
	return out
}

// unenrolledFor returns the on-disk keys (DKMS's, shim-signed's) whose issuer and
// serial number name the signer, for a fix that says which file to enroll.
func (k *Kernel) unenrolledFor(issuer, serial []byte) []TrustedKey {
	var out []TrustedKey
	for _, t := range k.Security.Unenrolled {
		if matchesSigner(t.Cert, issuer, serial) {
			out = append(out, t)
		}
	}
	return out
}

// describeSigner names a PKCS#7 signer from its issuer and serial number.
func describeSigner(issuer, serial []byte) string {
	var name string
	if n, err := parseName(issuer); err == nil {
		name = n
	}
	if name == "" {
		name = "an unnamed issuer"
	}
	return fmt.Sprintf("issuer %q, serial %s", name, strings.TrimLeft(hex.EncodeToString(serialMagnitude(serial)), "0"))
}
