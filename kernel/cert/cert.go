// Package cert reads the few fields of an X.509 certificate that module signature
// checking needs: the raw issuer and subject, the serial number, the subject key
// identifier, the subject's names, and the RSA or ECDSA public key.
//
// It exists so that the kmod tools do not link crypto/x509, which brings net, net/url,
// every signature and key algorithm and their package initializations into every run of
// modprobe and depmod (issue 15). The parse follows crypto/x509's parseCertificate (Go
// 1.26, crypto/x509/parser.go) step for step for the fields it keeps, so that a
// certificate crypto/x509 accepts is read the same; the tests compare both on every
// certificate built into every prepared kernel. It checks less than crypto/x509 does:
// the validity dates and the extensions other than subjectKeyIdentifier are skipped
// (gokmod never read them; crypto/x509 only refused a certificate whose dates or
// extensions it could not decode), and a key of another algorithm than RSA or ECDSA is
// not decoded. So it may accept a malformed certificate crypto/x509 refused; it never
// reads a certificate crypto/x509 accepts differently (certdiff's tests and FuzzCert).
package cert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Certificate is a parsed X.509 certificate, reduced to what the kernel's keyrings use.
type Certificate struct {
	// Raw is the whole DER certificate.
	Raw []byte
	// RawIssuer and RawSubject are the DER Names, as a PKCS#7 SignerInfo names its
	// signer's issuer.
	RawIssuer, RawSubject []byte
	// SerialNumber is the certificate's serial number; never negative (crypto/x509
	// refuses negative serials since Go 1.23, and so does this parse, so that the same
	// certificates are trusted as before).
	SerialNumber *big.Int
	// SubjectKeyId is the subjectKeyIdentifier extension's value, nil without one.
	SubjectKeyId []byte
	// Subject holds the subject's attributes.
	Subject Name
	// PublicKey is *rsa.PublicKey or *ecdsa.PublicKey; nil for any other algorithm
	// (Ed25519, DSA...), which module signatures cannot use.
	PublicKey any
}

// Equal reports whether c and o are the same certificate (the same DER bytes).
func (c *Certificate) Equal(o *Certificate) bool {
	if c == nil || o == nil {
		return c == o
	}
	return bytes.Equal(c.Raw, o.Raw)
}

// Object identifiers of the public key algorithms, the named curves and the extension
// this package reads (RFC 3279, RFC 5480, RFC 5280).
var (
	oidPublicKeyRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidPublicKeyECDSA  = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidCurveP224       = asn1.ObjectIdentifier{1, 3, 132, 0, 33}
	oidCurveP256       = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidCurveP384       = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidCurveP521       = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidExtSubjectKeyID = asn1.ObjectIdentifier{2, 5, 29, 14}
)

// Parse reads one DER certificate; trailing bytes are an error, as with
// crypto/x509.ParseCertificate.
func Parse(der []byte) (*Certificate, error) {
	c, rest, err := parse(der)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("x509: trailing data")
	}
	return c, nil
}

// parse reads the certificate at the start of der and returns what follows it.
func parse(der []byte) (*Certificate, []byte, error) {
	c := &Certificate{}
	input := cryptobyte.String(der)
	var whole cryptobyte.String
	if !input.ReadASN1Element(&whole, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("x509: malformed certificate")
	}
	c.Raw = whole
	rest := input
	input = whole
	if !input.ReadASN1(&input, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("x509: malformed certificate")
	}
	var tbs cryptobyte.String
	if !input.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("x509: malformed tbs certificate")
	}
	version, err := readVersion(&tbs)
	if err != nil {
		return nil, nil, err
	}
	if c.SerialNumber, err = readSerial(&tbs); err != nil {
		return nil, nil, err
	}
	// The signature algorithm inside the signed part must be the outer one.
	var sigAI, outerSigAI cryptobyte.String
	if !tbs.ReadASN1(&sigAI, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("x509: malformed signature algorithm identifier")
	}
	if !input.ReadASN1(&outerSigAI, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("x509: malformed algorithm identifier")
	}
	if !bytes.Equal(sigAI, outerSigAI) {
		return nil, nil, errors.New("x509: inner and outer signature algorithm identifiers don't match")
	}
	if _, _, err := readAI(sigAI); err != nil {
		return nil, nil, err
	}
	if err := readNames(&tbs, c); err != nil {
		return nil, nil, err
	}
	if c.PublicKey, err = readSPKI(&tbs); err != nil {
		return nil, nil, err
	}
	if version > 1 {
		if c.SubjectKeyId, err = readExtensions(&tbs, version); err != nil {
			return nil, nil, err
		}
	}
	var sig asn1.BitString
	if !input.ReadASN1BitString(&sig) {
		return nil, nil, errors.New("x509: malformed signature")
	}
	return c, rest, nil
}

// readVersion reads the optional [0] version, one-based as crypto/x509 counts it.
func readVersion(tbs *cryptobyte.String) (int, error) {
	var v int
	if !tbs.ReadOptionalASN1Integer(&v, cbasn1.Tag(0).Constructed().ContextSpecific(), 0) || v < 0 {
		return 0, errors.New("x509: malformed version")
	}
	if v > 2 {
		return 0, errors.New("x509: invalid version")
	}
	return v + 1, nil
}

// readSerial reads the serialNumber INTEGER, refusing a negative one.
func readSerial(tbs *cryptobyte.String) (*big.Int, error) {
	serial := new(big.Int)
	if !tbs.ReadASN1Integer(serial) {
		return nil, errors.New("x509: malformed serial number")
	}
	if serial.Sign() < 0 {
		return nil, errors.New("x509: negative serial number")
	}
	return serial, nil
}

// readNames reads the issuer, skips the validity, and reads the subject.
func readNames(tbs *cryptobyte.String, c *Certificate) error {
	var issuer, validity, subject cryptobyte.String
	if !tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE) {
		return errors.New("x509: malformed issuer")
	}
	if _, err := parseRDNs(issuer); err != nil {
		return err
	}
	c.RawIssuer = issuer
	// The dates are not read: the kernel does not check them for module signatures.
	if !tbs.ReadASN1(&validity, cbasn1.SEQUENCE) {
		return errors.New("x509: malformed validity")
	}
	if !tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE) {
		return errors.New("x509: malformed subject")
	}
	rdns, err := parseRDNs(subject)
	if err != nil {
		return err
	}
	c.RawSubject = subject
	c.Subject.fill(rdns)
	return nil
}

// readAI reads an AlgorithmIdentifier's OID and its parameters' full DER (nil when
// absent).
func readAI(der cryptobyte.String) (asn1.ObjectIdentifier, []byte, error) {
	var oid asn1.ObjectIdentifier
	if !der.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, errors.New("x509: malformed OID")
	}
	if der.Empty() {
		return oid, nil, nil
	}
	var params cryptobyte.String
	var tag cbasn1.Tag
	if !der.ReadAnyASN1Element(&params, &tag) {
		return nil, nil, errors.New("x509: malformed parameters")
	}
	return oid, params, nil
}

// readSPKI reads the SubjectPublicKeyInfo and decodes an RSA or ECDSA key.
func readSPKI(tbs *cryptobyte.String) (any, error) {
	var spki, ai cryptobyte.String
	if !tbs.ReadASN1(&spki, cbasn1.SEQUENCE) {
		return nil, errors.New("x509: malformed spki")
	}
	if !spki.ReadASN1(&ai, cbasn1.SEQUENCE) {
		return nil, errors.New("x509: malformed public key algorithm identifier")
	}
	oid, params, err := readAI(ai)
	if err != nil {
		return nil, err
	}
	var key asn1.BitString
	if !spki.ReadASN1BitString(&key) {
		return nil, errors.New("x509: malformed subjectPublicKey")
	}
	switch {
	case oid.Equal(oidPublicKeyRSA):
		return parseRSA(params, key.RightAlign())
	case oid.Equal(oidPublicKeyECDSA):
		return parseECDSA(params, key.RightAlign())
	}
	return nil, nil
}

// parseRSA decodes an RSAPublicKey (RFC 3279 2.3.1: the parameters must be NULL).
func parseRSA(params, data []byte) (*rsa.PublicKey, error) {
	if !bytes.Equal(params, asn1.NullBytes) {
		return nil, errors.New("x509: RSA key missing NULL parameters")
	}
	der := cryptobyte.String(data)
	n, e := new(big.Int), 0
	if !der.ReadASN1(&der, cbasn1.SEQUENCE) {
		return nil, errors.New("x509: invalid RSA public key")
	}
	if !der.ReadASN1Integer(n) {
		return nil, errors.New("x509: invalid RSA modulus")
	}
	if !der.ReadASN1Integer(&e) {
		return nil, errors.New("x509: invalid RSA public exponent")
	}
	if n.Sign() <= 0 {
		return nil, errors.New("x509: RSA modulus is not a positive number")
	}
	if e <= 0 {
		return nil, errors.New("x509: RSA public exponent is not a positive number")
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// parseECDSA decodes an uncompressed point on a named NIST curve (RFC 5480).
func parseECDSA(params, data []byte) (*ecdsa.PublicKey, error) {
	der := cryptobyte.String(params)
	var oid asn1.ObjectIdentifier
	if !der.ReadASN1ObjectIdentifier(&oid) {
		return nil, errors.New("x509: invalid ECDSA parameters")
	}
	var curve elliptic.Curve
	switch {
	case oid.Equal(oidCurveP224):
		curve = elliptic.P224()
	case oid.Equal(oidCurveP256):
		curve = elliptic.P256()
	case oid.Equal(oidCurveP384):
		curve = elliptic.P384()
	case oid.Equal(oidCurveP521):
		curve = elliptic.P521()
	default:
		return nil, errors.New("x509: unsupported elliptic curve")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, data)
	if err != nil {
		return nil, fmt.Errorf("x509: %w", err)
	}
	return pub, nil
}

// readExtensions skips the unique identifiers and returns the subject key identifier
// from the extensions (version 3 only), refusing malformed or duplicate extensions
// as crypto/x509 does.
func readExtensions(tbs *cryptobyte.String, version int) ([]byte, error) {
	if !tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) {
		return nil, errors.New("x509: malformed issuerUniqueID")
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) {
		return nil, errors.New("x509: malformed subjectUniqueID")
	}
	if version != 3 {
		return nil, nil
	}
	var exts cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return nil, errors.New("x509: malformed extensions")
	}
	if !present {
		return nil, nil
	}
	if !exts.ReadASN1(&exts, cbasn1.SEQUENCE) {
		return nil, errors.New("x509: malformed extensions")
	}
	var skid []byte
	seen := map[string]bool{}
	for !exts.Empty() {
		var ext, val cryptobyte.String
		var id asn1.ObjectIdentifier
		critical := false
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&id) {
			return nil, errors.New("x509: malformed extension")
		}
		if ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical) {
			return nil, errors.New("x509: malformed extension critical field")
		}
		if !ext.ReadASN1(&val, cbasn1.OCTET_STRING) {
			return nil, errors.New("x509: malformed extension value field")
		}
		if seen[id.String()] {
			return nil, fmt.Errorf("x509: certificate contains duplicate extension with OID %q", id.String())
		}
		seen[id.String()] = true
		if !id.Equal(oidExtSubjectKeyID) {
			continue
		}
		// RFC 5280 4.2.1.2: conforming CAs mark it non-critical; crypto/x509 refuses
		// the certificate otherwise.
		if critical {
			return nil, errors.New("x509: subject key identifier incorrectly marked critical")
		}
		var id2 cryptobyte.String
		if !val.ReadASN1(&id2, cbasn1.OCTET_STRING) {
			return nil, errors.New("x509: invalid subject key identifier")
		}
		skid = id2
	}
	return skid, nil
}
