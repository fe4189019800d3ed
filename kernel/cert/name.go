package cert

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Attribute is one AttributeTypeAndValue of a distinguished name (RFC 5280 4.1.2.4).
type Attribute struct {
	Type  asn1.ObjectIdentifier
	Value any
}

// rdnSequence is a Name's RDNs in DER order.
type rdnSequence []attributeSET

// attributeSET is one RDN; encoding/asn1 reads a slice type whose name ends in SET as
// a SET OF (as pkix.RelativeDistinguishedNameSET).
type attributeSET []Attribute

// Name is a distinguished name: its attributes in DER order, with the commonName apart
// because CertName shows it. String renders it as crypto/x509/pkix.Name.String does,
// so that messages naming a signer read as before.
type Name struct {
	// CommonName is the last commonName (2.5.4.3) string, as pkix.Name keeps it.
	CommonName string
	// Names are every attribute, in order.
	Names []Attribute
}

// ParseName reads a DER Name as a PKCS#7 SignerInfo's issuer holds it, through
// encoding/asn1 as the signer was named before this package existed: attribute values
// of any type are kept (a string type as a string), and bytes after the Name are
// ignored.
func ParseName(der []byte) (Name, error) {
	var rdns rdnSequence
	if _, err := asn1.Unmarshal(der, &rdns); err != nil {
		return Name{}, err
	}
	var n Name
	n.fill(rdns)
	return n, nil
}

// fill is pkix.Name.FillFromRDNSequence for the fields Name keeps.
func (n *Name) fill(rdns rdnSequence) {
	for _, rdn := range rdns {
		for _, a := range rdn {
			n.Names = append(n.Names, a)
			if s, ok := a.Value.(string); ok && a.Type.Equal(oidCommonName) {
				n.CommonName = s
			}
		}
	}
}

// Attribute type OIDs (RFC 4519) in the order pkix.Name.ToRDNSequence emits them, and
// their short names in String.
var (
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
	namedOrder    = []int{6, 8, 7, 9, 17, 10, 11, 3, 5} // C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER
	shortNames    = map[int]string{6: "C", 10: "O", 11: "OU", 3: "CN", 5: "SERIALNUMBER", 7: "L", 8: "ST", 9: "STREET", 17: "POSTALCODE"}
)

// namedArc returns t's last arc when t is one of the attributes pkix.Name has a field
// for (2.5.4.x above), else -1.
func namedArc(t asn1.ObjectIdentifier) int {
	if len(t) == 4 && t[0] == 2 && t[1] == 5 && t[2] == 4 {
		if _, ok := shortNames[t[3]]; ok {
			return t[3]
		}
	}
	return -1
}

// String is pkix.Name.String (Go 1.26, crypto/x509/pkix/pkix.go) for a parsed name:
// the attributes pkix.Name has no field for come first, one per RDN; then the named
// ones, string-valued only, grouped by type in ToRDNSequence's order (CN and
// SERIALNUMBER the last of each); the whole rendered in reverse, RFC 2253 style.
func (n Name) String() string {
	var rdns rdnSequence
	for _, a := range n.Names {
		if namedArc(a.Type) < 0 {
			rdns = append(rdns, attributeSET{a})
		}
	}
	for _, arc := range namedOrder {
		var set attributeSET
		for _, a := range n.Names {
			if s, ok := a.Value.(string); ok && namedArc(a.Type) == arc {
				set = append(set, Attribute{a.Type, s})
			}
		}
		if arc == 3 || arc == 5 {
			// pkix.Name holds one CommonName and SerialNumber (the last), and skips
			// them when empty.
			if len(set) == 0 || set[len(set)-1].Value == "" {
				continue
			}
			set = set[len(set)-1:]
		}
		if len(set) > 0 {
			rdns = append(rdns, set)
		}
	}
	return rdns.String()
}

// String is pkix.RDNSequence.String.
func (r rdnSequence) String() string {
	s := ""
	for i := range r {
		rdn := r[len(r)-1-i]
		if i > 0 {
			s += ","
		}
		for j, tv := range rdn {
			if j > 0 {
				s += "+"
			}
			oid := tv.Type.String()
			typeName, ok := "", false
			if arc := namedArc(tv.Type); arc >= 0 {
				typeName, ok = shortNames[arc], true
			}
			if !ok {
				if der, err := asn1.Marshal(tv.Value); err == nil {
					s += oid + "=#" + hex.EncodeToString(der)
					continue // no value escaping necessary
				}
				typeName = oid
			}
			s += typeName + "=" + escapeValue(fmt.Sprint(tv.Value))
		}
	}
	return s
}

// escapeValue escapes an attribute value as pkix.RDNSequence.String does.
func escapeValue(v string) string {
	escaped := make([]rune, 0, len(v))
	for k, c := range v {
		escape := false
		switch c {
		case ',', '+', '"', '\\', '<', '>', ';':
			escape = true
		case ' ':
			escape = k == 0 || k == len(v)-1
		case '#':
			escape = k == 0
		}
		if escape {
			escaped = append(escaped, '\\', c)
		} else {
			escaped = append(escaped, c)
		}
	}
	return string(escaped)
}

// parseRDNs is crypto/x509's parseName: every attribute value must be one of the
// string types it reads.
func parseRDNs(raw cryptobyte.String) (rdnSequence, error) {
	if !raw.ReadASN1(&raw, cbasn1.SEQUENCE) {
		return nil, errors.New("x509: invalid RDNSequence")
	}
	var rdns rdnSequence
	for !raw.Empty() {
		var set cryptobyte.String
		if !raw.ReadASN1(&set, cbasn1.SET) {
			return nil, errors.New("x509: invalid RDNSequence")
		}
		var rdn attributeSET
		for !set.Empty() {
			var atv, value cryptobyte.String
			var a Attribute
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) {
				return nil, errors.New("x509: invalid RDNSequence: invalid attribute")
			}
			if !atv.ReadASN1ObjectIdentifier(&a.Type) {
				return nil, errors.New("x509: invalid RDNSequence: invalid attribute type")
			}
			if !atv.ReadAnyASN1(&value, &tag) {
				return nil, errors.New("x509: invalid RDNSequence: invalid attribute value")
			}
			s, err := parseString(tag, value)
			if err != nil {
				return nil, fmt.Errorf("x509: invalid RDNSequence: invalid attribute value: %w", err)
			}
			a.Value = s
			rdn = append(rdn, a)
		}
		rdns = append(rdns, rdn)
	}
	return rdns, nil
}

// parseString is crypto/x509's parseASN1String: the string types a Name may hold.
func parseString(tag cbasn1.Tag, v []byte) (string, error) {
	switch tag {
	case cbasn1.T61String:
		// Read as Latin-1, as crypto/x509 and BoringSSL do.
		buf := make([]byte, 0, len(v))
		for _, b := range v {
			buf = utf8.AppendRune(buf, rune(b))
		}
		return string(buf), nil
	case cbasn1.PrintableString:
		for _, b := range v {
			if !isPrintable(b) {
				return "", errors.New("invalid PrintableString")
			}
		}
		return string(v), nil
	case cbasn1.UTF8String:
		if !utf8.Valid(v) {
			return "", errors.New("invalid UTF-8 string")
		}
		return string(v), nil
	case cbasn1.Tag(asn1.TagBMPString):
		return parseBMP(v)
	case cbasn1.IA5String:
		for _, b := range v {
			if b >= utf8.RuneSelf {
				return "", errors.New("invalid IA5String")
			}
		}
		return string(v), nil
	case cbasn1.Tag(asn1.TagNumericString):
		for _, b := range v {
			if !('0' <= b && b <= '9' || b == ' ') {
				return "", errors.New("invalid NumericString")
			}
		}
		return string(v), nil
	}
	return "", fmt.Errorf("unsupported string type: %v", tag)
}

// isPrintable is crypto/x509's: PrintableString plus '*' and '&', which real
// certificates use.
func isPrintable(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		'\'' <= b && b <= ')' || '+' <= b && b <= '/' ||
		b == ' ' || b == ':' || b == '=' || b == '?' || b == '*' || b == '&'
}

// parseBMP reads UCS-2 as UTF-16 without surrogates or noncharacters, dropping a
// trailing NUL, as crypto/x509 does.
func parseBMP(v []byte) (string, error) {
	if len(v)%2 != 0 {
		return "", errors.New("invalid BMPString")
	}
	if l := len(v); l >= 2 && v[l-1] == 0 && v[l-2] == 0 {
		v = v[:l-2]
	}
	s := make([]uint16, 0, len(v)/2)
	for ; len(v) > 0; v = v[2:] {
		p := uint16(v[0])<<8 | uint16(v[1])
		if p == 0xfffe || p == 0xffff || (p >= 0xfdd0 && p <= 0xfdef) || (p >= 0xd800 && p <= 0xdfff) {
			return "", errors.New("invalid BMPString")
		}
		s = append(s, p)
	}
	return string(utf16.Decode(s)), nil
}
