// Package modsign signs kernel modules as the kernel's scripts/sign-file does: a
// detached PKCS#7 SignedData over the module's bytes (SHA-256, RSA PKCS#1 v1.5 or ECDSA, the
// signer named by issuer and serial number, no certificates, no authenticated
// attributes), then struct module_signature and the "~Module signature appended~"
// marker. It also makes throwaway signing keys. Tests use it to build modules signed
// by keys a kernel does not trust; it is not part of the gokmod binary.
package modsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// Key is a signing key and its self-signed certificate.
type Key struct {
	Priv crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
	Cert *x509.Certificate
}

// NewKey makes a 2048-bit RSA key and a self-signed certificate for it with the given
// common name, shaped like the one DKMS or the kernel's build make (codeSigning,
// digitalSignature, a subject key identifier).
func NewKey(cn string) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("modsign: %w", err)
	}
	return newKey(cn, priv)
}

// NewECDSAKey is NewKey with an ECDSA key on curve, as a kernel built with
// CONFIG_MODULE_SIG_KEY_TYPE_ECDSA (5.13 and later) makes its signing key.
func NewECDSAKey(cn string, curve elliptic.Curve) (*Key, error) {
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("modsign: %w", err)
	}
	return newKey(cn, priv)
}

// newKey makes priv's self-signed certificate.
func newKey(cn string, priv crypto.Signer) (*Key, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("modsign: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return nil, fmt.Errorf("modsign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("modsign: %w", err)
	}
	return &Key{Priv: priv, Cert: cert}, nil
}

// Marker is MODULE_SIG_STRING, the last bytes of a signed module.
const Marker = "~Module signature appended~\n"

var (
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

type algorithm struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version         int
	SID             issuerAndSerial
	DigestAlgorithm algorithm
	SigAlgorithm    algorithm
	Signature       []byte
}

type encapContent struct {
	ContentType asn1.ObjectIdentifier
}

type signedData struct {
	Version          int
	DigestAlgorithms []algorithm `asn1:"set"`
	ContentInfo      encapContent
	SignerInfos      []signerInfo `asn1:"set"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     signedData `asn1:"explicit,tag:0"`
}

// PKCS7 returns the detached PKCS#7 signature of content by k, as sign-file makes it.
func (k *Key) PKCS7(content []byte) ([]byte, error) {
	sum := sha256.Sum256(content)
	// Both sign the digest: PKCS#1 v1.5 for RSA, an ASN.1 (r, s) for ECDSA, as
	// sign-file's OpenSSL CMS makes them.
	sig, err := k.Priv.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("modsign: %w", err)
	}
	sigAlg := algorithm{Algorithm: oidRSAEncryption, Parameters: asn1.RawValue{Tag: asn1.TagNull}}
	if _, ok := k.Priv.(*ecdsa.PrivateKey); ok {
		sigAlg = algorithm{Algorithm: oidECDSAWithSHA256}
	}
	der, err := asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content: signedData{
			Version:          1,
			DigestAlgorithms: []algorithm{{Algorithm: oidSHA256}},
			ContentInfo:      encapContent{ContentType: oidData},
			SignerInfos: []signerInfo{{
				Version:         1,
				SID:             issuerAndSerial{Issuer: asn1.RawValue{FullBytes: k.Cert.RawIssuer}, Serial: k.Cert.SerialNumber},
				DigestAlgorithm: algorithm{Algorithm: oidSHA256},
				SigAlgorithm:    sigAlg,
				Signature:       sig,
			}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("modsign: %w", err)
	}
	return der, nil
}

// Sign returns module (which must be unsigned) with k's signature appended.
func (k *Key) Sign(module []byte) ([]byte, error) {
	p7, err := k.PKCS7(module)
	if err != nil {
		return nil, err
	}
	out := append(append([]byte{}, module...), p7...)
	// struct module_signature: algo, hash, id_type (PKEY_ID_PKCS7), signer_len,
	// key_id_len, pad[3], be32 sig_len.
	out = append(out, 0, 0, 2, 0, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(len(p7)))
	return append(out, Marker...), nil
}
