package kernel

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"gokmod/kernel/cert"
)

// SigError is a failed module signature verification: the errno verify_pkcs7_signature
// returns and the kernel log lines printed on the way (PKCS7: ...), if any.
type SigError struct {
	Errno unix.Errno
	Log   []string
	Why   string // for explanations; not a kernel message
	// Signer names the signer (issuer and serial number) when the signature names one.
	Signer string
	// issuer and serial are the signer's DER issuer Name and serialNumber INTEGER.
	issuer, serial []byte
}

func (e *SigError) Error() string { return fmt.Sprintf("%s (%v)", e.Why, e.Errno) }

// Unwrap lets errors.Is(err, unix.EKEYREJECTED) work.
func (e *SigError) Unwrap() error { return e.Errno }

// Object identifiers the kernel's PKCS#7 parser accepts for module signatures.
var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSHA1       = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidSHA224     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	ContentInfo      contentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial asn1.RawValue
}

// algorithmIdentifier is RFC 5280's AlgorithmIdentifier.
type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type signerInfo struct {
	Version         int
	SID             asn1.RawValue
	DigestAlgorithm algorithmIdentifier
	AuthAttrs       asn1.RawValue `asn1:"optional,tag:0"`
	SigAlgorithm    algorithmIdentifier
	Signature       []byte
	UnauthAttrs     asn1.RawValue `asn1:"optional,tag:1"`
}

// VerifyModuleSignature mirrors verify_pkcs7_signature(..., VERIFYING_MODULE_SIGNATURE)
// as module_sig_check calls it (secondary trusted keyring, then the platform keyring on
// ENOKEY): sig is the PKCS#7 DER, content the module bytes it covers. It returns nil
// when a certificate in certs verifies the signature, otherwise a *SigError with
//   - EBADMSG for DER the kernel's ASN.1 decoder would refuse,
//   - ENOPKG for an unsupported digest,
//   - EKEYREJECTED for a wrong content type, authenticated attributes, or a signature
//     that does not verify against the signer's key,
//   - ENOKEY when no trusted certificate matches the signer (issuer + serial).
func VerifyModuleSignature(content, sig []byte, certs []*cert.Certificate) error {
	_, err := VerifyModuleSigner(content, sig, certs)
	return err
}

// VerifyModuleSigner is VerifyModuleSignature that also returns the certificate that
// verified the signature (the last signer's, when there are several).
func VerifyModuleSigner(content, sig []byte, certs []*cert.Certificate) (*cert.Certificate, error) {
	// The verdict depends only on the bytes and the keys, so it is remembered: a caller
	// that checks thousands of modules can verify them in parallel first (RSA dominates).
	key := memoKey(content, sig, certs)
	if v, ok := sigMemo.Load(key); ok {
		r := v.(sigResult)
		return r.cert, r.err
	}
	signer, err := verifyModuleSignature(content, key.content[:], sig, certs)
	sigMemo.Store(key, sigResult{signer, err})
	return signer, err
}

// sigMemo maps memoKey to VerifyModuleSigner's result.
var sigMemo sync.Map

type sigResult struct {
	cert *cert.Certificate
	err  error
}

type sigKey struct {
	content, sig [sha256.Size]byte
	ring         [sha256.Size]byte // the keyring: a digest of its certificates
}

func memoKey(content, sig []byte, certs []*cert.Certificate) sigKey {
	k := sigKey{content: sha256.Sum256(content), sig: sha256.Sum256(sig)}
	if len(certs) > 0 {
		h := sha256.New()
		for _, c := range certs {
			h.Write(c.Raw)
		}
		h.Sum(k.ring[:0])
	}
	return k
}

// verifyModuleSignature is the check itself; sum256 is content's SHA-256, already
// computed for the memo and reused when the signer digests with SHA-256.
func verifyModuleSignature(content, sum256, sig []byte, certs []*cert.Certificate) (*cert.Certificate, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(sig, &ci)
	if err != nil || len(rest) != 0 || !ci.ContentType.Equal(oidSignedData) {
		return nil, &SigError{Errno: unix.EBADMSG, Why: "PKCS#7 message does not parse"}
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(sd.SignerInfos) == 0 {
		return nil, &SigError{Errno: unix.EBADMSG, Why: "PKCS#7 SignedData does not parse"}
	}
	if len(ci.Content.Bytes) == 0 {
		return nil, &SigError{Errno: unix.EBADMSG, Why: "PKCS#7 message has no SignedData"}
	}
	// pkcs7_verify: the usage check comes before any digest is computed.
	if !sd.ContentInfo.ContentType.Equal(oidData) {
		return nil, &SigError{Errno: unix.EKEYREJECTED, Log: []string{"PKCS7: Invalid module sig (not pkcs7-data)"}, Why: "content type is not data"}
	}
	for _, si := range sd.SignerInfos {
		if len(si.AuthAttrs.FullBytes) != 0 {
			return nil, &SigError{Errno: unix.EKEYREJECTED, Log: []string{"PKCS7: Invalid module sig (has authattrs)"}, Why: "module signatures must not have authenticated attributes"}
		}
	}
	var signer *cert.Certificate
	for _, si := range sd.SignerInfos {
		var err error
		if signer, err = verifySigner(content, sum256, si, certs); err != nil {
			return nil, err
		}
	}
	return signer, nil
}

// verifySigner digests content and checks one SignerInfo's signature with the trusted
// certificate whose issuer and serial number it names (pkcs7_validate_trust_one).
func verifySigner(content, sum256 []byte, si signerInfo, certs []*cert.Certificate) (*cert.Certificate, error) {
	h, ok := digestFor(si.DigestAlgorithm.Algorithm)
	if !ok {
		return nil, &SigError{Errno: unix.ENOPKG, Why: "unsupported digest " + si.DigestAlgorithm.Algorithm.String()}
	}
	var ias issuerAndSerial
	if _, err := asn1.Unmarshal(si.SID.FullBytes, &ias); err != nil {
		return nil, &SigError{Errno: unix.ENOKEY, Why: "signer is not identified by issuer and serial number"}
	}
	var signer *cert.Certificate
	for _, c := range certs {
		if matchesSigner(c, ias.Issuer.FullBytes, ias.Serial.FullBytes) {
			signer = c
			break
		}
	}
	if signer == nil {
		who := describeSigner(ias.Issuer.FullBytes, ias.Serial.FullBytes)
		return nil, &SigError{Errno: unix.ENOKEY, Why: "no trusted key matches the signer (" + who + ")",
			Signer: who, issuer: ias.Issuer.FullBytes, serial: ias.Serial.FullBytes}
	}
	sum := sum256
	if h != crypto.SHA256 {
		d := h.New()
		d.Write(content)
		sum = d.Sum(nil)
	}
	var err error
	switch pub := signer.PublicKey.(type) {
	case *rsa.PublicKey:
		err = verifyPKCS1v15(pub, h, sum, si.Signature)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, sum, si.Signature) {
			err = errors.New("ecdsa verification failed")
		}
	default:
		return nil, &SigError{Errno: unix.ENOPKG, Why: "unsupported key type"}
	}
	if err != nil {
		return nil, &SigError{Errno: unix.EKEYREJECTED, Why: "signature does not verify with " + CertName(signer)}
	}
	return signer, nil
}

// matchesSigner is pkcs7_validate_trust_one's lookup by issuer and serial number
// (DER Name and INTEGER as the SignerInfo holds them).
func matchesSigner(c *cert.Certificate, issuer, serial []byte) bool {
	s, err := asn1.Marshal(c.SerialNumber)
	return err == nil && bytes.Equal(c.RawIssuer, issuer) && bytes.Equal(s, serial)
}

// parseName renders a DER Name as RFC 2253 text.
func parseName(der []byte) (string, error) {
	n, err := cert.ParseName(der)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// serialMagnitude is the value bytes of a DER INTEGER (tag and length dropped).
func serialMagnitude(der []byte) []byte {
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(der, &v); err != nil {
		return der
	}
	return v.Bytes
}

// UnenrolledSigner returns the keys found on disk but not trusted (DKMS's
// /var/lib/dkms/mok.pub, shim-signed's MOK.der) that made the signature an ENOKEY
// error names.
func (k *Kernel) UnenrolledSigner(err error) []TrustedKey {
	var se *SigError
	if !errors.As(err, &se) || se.issuer == nil {
		return nil
	}
	return k.unenrolledFor(se.issuer, se.serial)
}

// digestFor maps a digest OID to the hash the kernel would use.
func digestFor(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, true
	case oid.Equal(oidSHA384):
		return crypto.SHA384, true
	case oid.Equal(oidSHA512):
		return crypto.SHA512, true
	case oid.Equal(oidSHA224):
		return crypto.SHA224, true
	case oid.Equal(oidSHA1):
		return crypto.SHA1, true
	}
	return 0, false
}
