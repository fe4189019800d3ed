package ko

import (
	"errors"
	"fmt"
	"math/big"
)

// A minimal DER reader: just enough of PKCS#7 SignedData to extract what
// kmod's fill_pkcs7 takes from OpenSSL. Hand-written rather than
// encoding/asn1 so that optional implicitly tagged fields are unambiguous
// and every length is checked against the enclosing value.

const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagOID         = 0x06
	tagSequence    = 0x30
	tagSet         = 0x31
	tagCtx0        = 0xa0 // [0] constructed
)

var (
	oidSignedData = string([]byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}) // 1.2.840.113549.1.7.2
	oidCommonName = string([]byte{0x55, 0x04, 0x03})                                     // 2.5.4.3

	// digest OIDs (DER contents) to kmod's pkey_hash_algo names (obj_to_hash_algo).
	hashOIDs = map[string]string{
		string([]byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x04}):       "md4",
		string([]byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05}):       "md5",
		string([]byte{0x2b, 0x0e, 0x03, 0x02, 0x1a}):                         "sha1",
		string([]byte{0x2b, 0x24, 0x03, 0x02, 0x01}):                         "rmd160",
		string([]byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}): "sha256",
		string([]byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}): "sha384",
		string([]byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}): "sha512",
		string([]byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04}): "sha224",
		string([]byte{0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11}):       "sm3",
	}
)

// derValue is one decoded TLV.
type derValue struct {
	tag     byte // identifier octet (low tag numbers only)
	content []byte
}

// readDER splits the first TLV off b. Only definite lengths and single-byte
// tags are accepted, which is all DER signatures from sign-file use.
func readDER(b []byte) (v derValue, rest []byte, err error) {
	if len(b) < 2 {
		return v, nil, errors.New("truncated DER value")
	}
	v.tag = b[0]
	if v.tag&0x1f == 0x1f {
		return v, nil, errors.New("multi-byte DER tags are not supported")
	}
	n := int(b[1])
	p := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 {
			return v, nil, errors.New("indefinite-length encoding is not DER")
		}
		if k > 4 || len(b) < 2+k {
			return v, nil, errors.New("bad DER length")
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		p += k
	}
	if n < 0 || n > len(b)-p {
		return v, nil, fmt.Errorf("DER value of %d bytes overruns its container (%d bytes left)", n, len(b)-p)
	}
	v.content = b[p : p+n]
	return v, b[p+n:], nil
}

// expect reads a TLV with the given tag.
func expect(b []byte, tag byte, what string) (derValue, []byte, error) {
	v, rest, err := readDER(b)
	if err != nil {
		return v, nil, fmt.Errorf("%s: %w", what, err)
	}
	if v.tag != tag {
		return v, nil, fmt.Errorf("%s: tag 0x%02x, want 0x%02x", what, v.tag, tag)
	}
	return v, rest, nil
}

// pkcs7Info is what fill_pkcs7 keeps from the first SignerInfo.
type pkcs7Info struct {
	signer   string
	serial   []byte
	hashAlgo string
	sig      []byte
}

// parsePKCS7 mirrors kmod 30's fill_pkcs7 on the OpenSSL side: decode the
// ContentInfo, require SignedData, take the first SignerInfo's issuer
// commonName, serial number, digest algorithm and encryptedDigest.
func parsePKCS7(der []byte) (*pkcs7Info, error) {
	ci, _, err := expect(der, tagSequence, "ContentInfo")
	if err != nil {
		return nil, err
	}
	oid, rest, err := expect(ci.content, tagOID, "ContentInfo.contentType")
	if err != nil {
		return nil, err
	}
	if string(oid.content) != oidSignedData {
		return nil, errors.New("content type is not signedData")
	}
	explicit, _, err := expect(rest, tagCtx0, "ContentInfo.content")
	if err != nil {
		return nil, err
	}
	sd, _, err := expect(explicit.content, tagSequence, "SignedData")
	if err != nil {
		return nil, err
	}
	b := sd.content
	if _, b, err = expect(b, tagInteger, "SignedData.version"); err != nil {
		return nil, err
	}
	if _, b, err = expect(b, tagSet, "SignedData.digestAlgorithms"); err != nil {
		return nil, err
	}
	if _, b, err = expect(b, tagSequence, "SignedData.contentInfo"); err != nil {
		return nil, err
	}
	// Optional [0] certificates and [1] crls, then the SignerInfo set.
	var sis derValue
	for {
		var v derValue
		v, b, err = readDER(b)
		if err != nil {
			return nil, fmt.Errorf("SignedData: %w", err)
		}
		if v.tag == tagSet {
			sis = v
			break
		}
		if v.tag != 0xa0 && v.tag != 0xa1 && v.tag != 0x80 && v.tag != 0x81 {
			return nil, fmt.Errorf("SignedData: unexpected tag 0x%02x before signerInfos", v.tag)
		}
	}
	si, _, err := expect(sis.content, tagSequence, "SignerInfo")
	if err != nil {
		return nil, err
	}
	b = si.content
	if _, b, err = expect(b, tagInteger, "SignerInfo.version"); err != nil {
		return nil, err
	}
	if len(b) > 0 && b[0] == 0x80 {
		return nil, errors.New("SignerInfo identifies the key by subjectKeyIdentifier; kmod (OpenSSL PKCS7) needs issuerAndSerialNumber")
	}
	ias, b, err := expect(b, tagSequence, "SignerInfo.issuerAndSerialNumber")
	if err != nil {
		return nil, err
	}
	issuer, r2, err := expect(ias.content, tagSequence, "issuer")
	if err != nil {
		return nil, err
	}
	serial, _, err := expect(r2, tagInteger, "serialNumber")
	if err != nil {
		return nil, err
	}
	dig, b, err := expect(b, tagSequence, "SignerInfo.digestAlgorithm")
	if err != nil {
		return nil, err
	}
	digOID, _, err := expect(dig.content, tagOID, "digestAlgorithm.algorithm")
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && (b[0] == tagCtx0 || b[0] == 0x80) { // [0] IMPLICIT authenticatedAttributes
		if _, b, err = readDER(b); err != nil {
			return nil, fmt.Errorf("SignerInfo.authenticatedAttributes: %w", err)
		}
	}
	if _, b, err = expect(b, tagSequence, "SignerInfo.digestEncryptionAlgorithm"); err != nil {
		return nil, err
	}
	enc, _, err := expect(b, tagOctetString, "SignerInfo.encryptedDigest")
	if err != nil {
		return nil, err
	}
	signer, err := x509NameToStr(issuer.content)
	if err != nil {
		return nil, err
	}
	p := &pkcs7Info{signer: signer, serial: serialBytes(serial.content), sig: enc.content}
	p.hashAlgo = hashOIDs[string(digOID.content)]
	if p.hashAlgo == "" {
		p.hashAlgo = "unknown"
	}
	return p, nil
}

// x509NameToStr mirrors kmod's x509_name_to_str: the first commonName in
// the Name, or, quirk included, the last attribute's value when there is no
// commonName; "" for an empty Name. kmod prints it with strlen, so it stops
// at the first NUL.
func x509NameToStr(name []byte) (string, error) {
	var last []byte
	found := false
	for len(name) > 0 {
		rdn, rest, err := expect(name, tagSet, "issuer RDN")
		if err != nil {
			return "", err
		}
		name = rest
		atvs := rdn.content
		for len(atvs) > 0 {
			atv, r, err := expect(atvs, tagSequence, "issuer attribute")
			if err != nil {
				return "", err
			}
			atvs = r
			typ, vr, err := expect(atv.content, tagOID, "issuer attribute type")
			if err != nil {
				return "", err
			}
			val, _, err := readDER(vr)
			if err != nil {
				return "", fmt.Errorf("issuer attribute value: %w", err)
			}
			last, found = val.content, true
			if string(typ.content) == oidCommonName {
				return cstring(last), nil
			}
		}
	}
	if !found {
		return "", nil
	}
	return cstring(last), nil
}

// serialBytes converts a DER INTEGER to the magnitude bytes OpenSSL's
// ASN1_INTEGER_to_BN + BN_bn2bin yield: big-endian, no leading zeros,
// sign dropped, empty for zero.
func serialBytes(c []byte) []byte {
	v := new(big.Int).SetBytes(c)
	if len(c) > 0 && c[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(c))))
	}
	return v.Abs(v).Bytes()
}
