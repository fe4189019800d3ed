package ko

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/elftest"
)

// der encodes one DER TLV (short or long definite length).
func der(tag byte, parts ...[]byte) []byte {
	c := bytes.Join(parts, nil)
	out := []byte{tag}
	switch n := len(c); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, c...)
}

var (
	derOIDSignedData = der(tagOID, []byte(oidSignedData))
	derOIDData       = der(tagOID, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01})
	derOIDSHA256     = der(tagOID, []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01})
	derOIDRSA        = der(tagOID, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01})
	derOIDCN         = der(tagOID, []byte(oidCommonName))
	derOIDO          = der(tagOID, []byte{0x55, 0x04, 0x0a})
)

func attr(oid []byte, val string) []byte {
	return der(tagSet, der(tagSequence, oid, der(0x0c, []byte(val))))
}

// pkcs7 builds a SignedData like sign-file's, with the given issuer Name
// contents, serial INTEGER contents, digest OID and extra SignerInfo bits.
func pkcs7(name, serial, digest, authAttrs []byte, skid bool) []byte {
	sid := der(tagSequence, der(tagSequence, name), der(tagInteger, serial))
	if skid {
		sid = der(0x80, []byte{1, 2, 3})
	}
	si := der(tagSequence,
		der(tagInteger, []byte{1}),
		sid,
		der(tagSequence, digest),
		authAttrs,
		der(tagSequence, derOIDRSA),
		der(tagOctetString, []byte{0xca, 0xfe, 0xba, 0xbe}),
	)
	sd := der(tagSequence,
		der(tagInteger, []byte{1}),
		der(tagSet, der(tagSequence, digest)),
		der(tagSequence, derOIDData),
		der(0xa0, []byte("certificates are skipped")),
		der(tagSet, si),
	)
	return der(tagSequence, derOIDSignedData, der(tagCtx0, sd))
}

func signedSynth(t *testing.T, idType uint8, signer, keyID, sig []byte) *File {
	t.Helper()
	img := synthModule(64, binary.LittleEndian, true, true, false, false).Build()
	f, err := Parse("signed.ko", elftest.Sign(img, idType, signer, keyID, sig))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.ModuleImage()) != len(img) {
		t.Errorf("image %d bytes, want %d", len(f.ModuleImage()), len(img))
	}
	return f
}

// TestPKCS7 checks what fill_pkcs7 would extract, including OpenSSL/kmod
// quirks: serial as minimal magnitude bytes, no-CN fallback to the last
// attribute, unknown digests.
func TestPKCS7(t *testing.T) {
	cn := bytes.Join([][]byte{attr(derOIDO, "Org"), attr(derOIDCN, "Test key"), attr(derOIDO, "After")}, nil)
	cases := []struct {
		name     string
		der      []byte
		signer   string
		keyID    []byte
		hashAlgo string
	}{
		{"plain", pkcs7(cn, []byte{0x66, 0xf5}, derOIDSHA256, nil, false), "Test key", []byte{0x66, 0xf5}, "sha256"},
		{"leading zero serial", pkcs7(cn, []byte{0x00, 0x80, 0x01}, derOIDSHA256, nil, false), "Test key", []byte{0x80, 0x01}, "sha256"},
		{"zero serial", pkcs7(cn, []byte{0x00}, derOIDSHA256, nil, false), "Test key", []byte{}, "sha256"},
		{"negative serial", pkcs7(cn, []byte{0xff, 0x00}, derOIDSHA256, nil, false), "Test key", []byte{0x01, 0x00}, "sha256"},
		{"no CN", pkcs7(bytes.Join([][]byte{attr(derOIDO, "First"), attr(derOIDO, "Last")}, nil), []byte{1}, derOIDSHA256, nil, false), "Last", []byte{1}, "sha256"},
		{"empty name", pkcs7(nil, []byte{1}, derOIDSHA256, nil, false), "", []byte{1}, "sha256"},
		{"NUL in CN", pkcs7(attr(derOIDCN, "a\x00b"), []byte{1}, derOIDSHA256, nil, false), "a", []byte{1}, "sha256"},
		{"unknown digest", pkcs7(cn, []byte{1}, derOIDRSA, nil, false), "Test key", []byte{1}, "unknown"},
		{"auth attrs", pkcs7(cn, []byte{1}, derOIDSHA256, der(tagCtx0, []byte("attrs")), false), "Test key", []byte{1}, "sha256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := signedSynth(t, IDPKCS7, nil, nil, c.der)
			s, err := f.Signature()
			if err != nil {
				t.Fatal(err)
			}
			if s.ID != "PKCS#7" || s.Signer != c.signer || !bytes.Equal(s.KeyID, c.keyID) || s.HashAlgo != c.hashAlgo ||
				!bytes.Equal(s.Sig, []byte{0xca, 0xfe, 0xba, 0xbe}) || !bytes.Equal(s.Raw, c.der) {
				t.Errorf("%+v", s)
			}
		})
	}
	bad := []struct {
		name string
		der  []byte
		want string
	}{
		{"garbage", []byte("not DER at all"), "ContentInfo"},
		{"not signedData", der(tagSequence, derOIDData, der(tagCtx0, nil)), "not signedData"},
		{"skid", pkcs7(cn, []byte{1}, derOIDSHA256, nil, true), "subjectKeyIdentifier"},
		{"truncated", pkcs7(cn, []byte{1}, derOIDSHA256, nil, false)[:60], "overruns"},
		{"indefinite", []byte{0x30, 0x80, 0, 0}, "indefinite-length"},
		{"huge length", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, "overruns"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			f := signedSynth(t, IDPKCS7, nil, nil, c.der)
			_, err := f.Signature()
			wantFormatErr(t, err, c.want, unix.EBADMSG)
			if !strings.Contains(err.Error(), "signed.ko: PKCS#7 signature") {
				t.Errorf("error %q", err)
			}
		})
	}
}

// TestSignatureTrailer checks malformed trailers and the non-PKCS#7 path.
func TestSignatureTrailer(t *testing.T) {
	img := synthModule(64, binary.LittleEndian, true, true, false, false).Build()
	// Legacy X.509 layout: signer and key id precede the signature.
	f := signedSynth(t, IDX509, []byte("Signer"), []byte{0xab, 0xcd}, []byte{1, 2, 3})
	s, err := f.Signature()
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "X509" || s.Signer != "Signer" || !bytes.Equal(s.KeyID, []byte{0xab, 0xcd}) || !bytes.Equal(s.Sig, []byte{1, 2, 3}) ||
		s.Algorithm != "DSA" || s.HashAlgo != "md4" {
		t.Errorf("%+v", s)
	}
	// Padding after the ELF keeps it intact whatever the trailer claims.
	trailer := func(ms []byte) []byte {
		b := append(append([]byte(nil), img...), make([]byte, 1024)...)
		return append(append(b, ms...), SignatureMagic...)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"sig_len past start", trailer([]byte{0, 0, 2, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}), "claims 2147483647 bytes"},
		{"sig_len zero", trailer([]byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0}), "sig_len 0"},
		{"signer+key past start", trailer(binary.BigEndian.AppendUint32([]byte{0, 0, 1, 255, 255, 0, 0, 0}, uint32(len(img)+1024-200))), "signer_len 255"},
		{"unknown id type", trailer([]byte{0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 4}), "id_type 9"},
		{"unknown hash", trailer([]byte{0, 77, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4}), "hash 77"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("sig.ko", c.data)
			if err != nil {
				t.Fatalf("the ELF is fine, the trailer is not: %v", err)
			}
			_, err = f.Signature()
			wantFormatErr(t, err, c.want, unix.EBADMSG)
		})
	}
	if _, err := parseTrailer([]byte("x" + SignatureMagic)); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("short trailer: %v", err)
	}
	// A trailer claiming more than the file leaves the whole file as the
	// module image.
	f, err = Parse("sig.ko", cases[0].data)
	if err != nil || f.Signed() || len(f.ModuleImage()) != len(cases[0].data) {
		t.Errorf("bad trailer: %v signed=%v", err, f != nil && f.Signed())
	}
}

// TestKmodHex checks kmod_module_hex_to_str's line breaking.
func TestKmodHex(t *testing.T) {
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	cases := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0xab}, "AB"},
		{[]byte{0x0a, 0xff}, "0A:FF"},
		{seq(20), "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13"},
		{seq(21), "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:\n\t\t14"},
	}
	for _, c := range cases {
		if got := KmodHex(c.in); got != c.want {
			t.Errorf("KmodHex(% x) = %q, want %q", c.in, got, c.want)
		}
	}
}
