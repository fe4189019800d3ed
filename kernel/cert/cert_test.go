package cert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"gokmod/internal/testing/certdiff"
	"gokmod/internal/testing/modsign"
	"gokmod/internal/testing/testenv"
	"gokmod/kernel/cert"
)

// modsignKeys makes a signing key of each kind a kernel can be built with: RSA (every
// Debian kernel up to 6.1) and ECDSA (Debian's 6.12 and later sign with P-384).
func modsignKeys(tb testing.TB) []*modsign.Key {
	tb.Helper()
	rsaKey, err := modsign.NewKey("gokmod test RSA key")
	if err != nil {
		tb.Fatal(err)
	}
	keys := []*modsign.Key{rsaKey}
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := modsign.NewECDSAKey("gokmod test ECDSA "+c.Params().Name+" key", c)
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestModsignCertsReadAsX509(t *testing.T) {
	for _, k := range modsignKeys(t) {
		got, err := cert.Parse(k.Cert.Raw)
		if err != nil {
			t.Fatalf("%s: %v", k.Cert.Subject, err)
		}
		if err := certdiff.Same(got, k.Cert); err != nil {
			t.Errorf("%s: %v", k.Cert.Subject, err)
		}
	}
}

// selfSigned makes a certificate with the given subject, for the name tests.
func selfSigned(t *testing.T, subject pkix.Name, serial *big.Int) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Names render as pkix.Name.String renders them, whatever their shape: several values
// of one type, attributes pkix has no field for, characters that need escaping, an
// empty common name, several common names; no subject key identifier (a v3 certificate
// without one) is nil in both.
func TestNamesReadAsX509(t *testing.T) {
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	uid := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	for _, n := range []pkix.Name{
		{CommonName: "plain"},
		{},
		{Country: []string{"DE", "FR"}, Organization: []string{"Debian", "SPI, Inc."}, OrganizationalUnit: []string{"#kernel"},
			Locality: []string{" leading and trailing "}, Province: []string{"a+b"}, StreetAddress: []string{`q"uote<>;\`},
			PostalCode: []string{"123"}, SerialNumber: "42", CommonName: "all of them"},
		{ExtraNames: []pkix.AttributeTypeAndValue{{Type: email, Value: "root@example.org"}, {Type: cn, Value: "first"},
			{Type: uid, Value: "u"}, {Type: cn, Value: "second"}}},
		{ExtraNames: []pkix.AttributeTypeAndValue{{Type: cn, Value: ""}}},
		{CommonName: "Ünïcödé ✓"},
	} {
		der := selfSigned(t, n, big.NewInt(7))
		if err := certdiff.Diff(der); err != nil {
			t.Errorf("%v: %v", n, err)
		}
		got, err := cert.Parse(der)
		if err != nil {
			t.Fatal(err)
		}
		// ParseName (a PKCS#7 signer's issuer) renders as pkix did through
		// encoding/asn1 before.
		var rdns pkix.RDNSequence
		if _, err := asn1.Unmarshal(got.RawSubject, &rdns); err != nil {
			t.Fatal(err)
		}
		var want pkix.Name
		want.FillFromRDNSequence(&rdns)
		pn, err := cert.ParseName(got.RawSubject)
		if err != nil {
			t.Fatal(err)
		}
		if pn.String() != want.String() || pn.CommonName != want.CommonName {
			t.Errorf("ParseName: %q (CN %q), pkix %q (CN %q)", pn, pn.CommonName, want, want.CommonName)
		}
	}
}

// A signer's issuer may hold values crypto/x509 refuses in a certificate (an INTEGER):
// ParseName keeps them as pkix did, and renders them as #hex.
func TestParseNameNonString(t *testing.T) {
	der, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: 5}},
		{{Type: asn1.ObjectIdentifier{1, 2, 3}, Value: 7}, {Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "org"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdns); err != nil {
		t.Fatal(err)
	}
	var want pkix.Name
	want.FillFromRDNSequence(&rdns)
	got, err := cert.ParseName(der)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("%q, pkix %q", got, want)
	}
}

// Every truncation and every one-byte change of real certificates is either refused
// with an error or read as crypto/x509 reads it (when crypto/x509 accepts it); none
// panics.
func TestMalformed(t *testing.T) {
	for _, k := range modsignKeys(t)[:2] {
		der := k.Cert.Raw
		for n := range len(der) {
			if _, err := cert.Parse(der[:n]); err == nil {
				t.Errorf("%d of %d bytes: no error", n, len(der))
			}
		}
		if _, err := cert.Parse(append(append([]byte{}, der...), 0)); err == nil {
			t.Error("trailing byte: no error")
		}
		for i := range der {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				m := append([]byte{}, der...)
				m[i] ^= x
				if err := certdiff.Diff(m); err != nil {
					t.Errorf("byte %d ^ %#x: %v", i, x, err)
				}
			}
		}
	}
}

// FuzzCert feeds the parser anything, seeded with the certificates built into every
// prepared kernel and with throwaway RSA and ECDSA ones: it must never panic, and must
// read whatever crypto/x509 accepts exactly as crypto/x509 does.
func FuzzCert(f *testing.F) {
	for _, tk := range testenv.RequireKernels(f) {
		ders, err := certdiff.BuiltinDER(tk.VMLinux())
		if err != nil {
			f.Fatal(err)
		}
		if len(ders) == 0 {
			f.Fatalf("%s: no built-in certificate to seed with", tk.Release)
		}
		for _, d := range ders {
			f.Add(d)
		}
	}
	for _, k := range modsignKeys(f) {
		f.Add(k.Cert.Raw)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		if err := certdiff.Diff(der); err != nil {
			t.Fatal(err)
		}
		if n, err := cert.ParseName(der); err == nil {
			_ = n.String()
		}
	})
}
