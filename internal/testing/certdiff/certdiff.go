// Package certdiff compares gokmod's certificate parse (kernel/cert) with crypto/x509's,
// field by field, for the tests of both kernel/cert and kernel. It is the only place the
// reference parser is used, so that the shipped binary need not link crypto/x509.
package certdiff

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"debug/elf"
	"fmt"

	"gokmod/kernel/cert"
)

// Diff parses der with both parsers. It returns nil when crypto/x509 refuses der (this
// package's parse checks less, so it may accept what crypto/x509 refuses), and when
// both accept it and agree on every field cert.Certificate has; otherwise an error
// saying what differs.
func Diff(der []byte) error {
	want, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	got, err := cert.Parse(der)
	if err != nil {
		return fmt.Errorf("crypto/x509 parses it, cert.Parse does not: %w", err)
	}
	return Same(got, want)
}

// Same reports the first field in which got differs from want.
func Same(got *cert.Certificate, want *x509.Certificate) error {
	type pub interface{ Equal(crypto.PublicKey) bool }
	switch {
	case !bytes.Equal(got.Raw, want.Raw):
		return fmt.Errorf("Raw: %d bytes against %d", len(got.Raw), len(want.Raw))
	case !bytes.Equal(got.RawIssuer, want.RawIssuer):
		return fmt.Errorf("RawIssuer: %x against %x", got.RawIssuer, want.RawIssuer)
	case !bytes.Equal(got.RawSubject, want.RawSubject):
		return fmt.Errorf("RawSubject: %x against %x", got.RawSubject, want.RawSubject)
	case got.SerialNumber.Cmp(want.SerialNumber) != 0:
		return fmt.Errorf("SerialNumber: %v against %v", got.SerialNumber, want.SerialNumber)
	case !bytes.Equal(got.SubjectKeyId, want.SubjectKeyId):
		return fmt.Errorf("SubjectKeyId: %x against %x", got.SubjectKeyId, want.SubjectKeyId)
	case got.Subject.CommonName != want.Subject.CommonName:
		return fmt.Errorf("Subject.CommonName: %q against %q", got.Subject.CommonName, want.Subject.CommonName)
	case got.Subject.String() != want.Subject.String():
		return fmt.Errorf("Subject.String: %q against %q", got.Subject.String(), want.Subject.String())
	case len(got.Subject.Names) != len(want.Subject.Names):
		return fmt.Errorf("Subject.Names: %d against %d", len(got.Subject.Names), len(want.Subject.Names))
	}
	for i, n := range got.Subject.Names {
		w := want.Subject.Names[i]
		if !n.Type.Equal(w.Type) || n.Value != w.Value {
			return fmt.Errorf("Subject.Names[%d]: %v=%v against %v=%v", i, n.Type, n.Value, w.Type, w.Value)
		}
	}
	switch want.PublicKeyAlgorithm {
	case x509.RSA, x509.ECDSA:
		if p, ok := got.PublicKey.(pub); !ok || !p.Equal(want.PublicKey) {
			return fmt.Errorf("PublicKey: %T %v against %T %v", got.PublicKey, got.PublicKey, want.PublicKey, want.PublicKey)
		}
	default:
		// Keys module signatures cannot use are not decoded.
		if got.PublicKey != nil {
			return fmt.Errorf("PublicKey: %T for a %v key, want nil", got.PublicKey, want.PublicKeyAlgorithm)
		}
	}
	return nil
}

// Sections are the vmlinux sections the kernel package looks for its built-in
// certificates in (system_certificate_list: .init.data on x86).
var Sections = []string{".init.data", ".rodata", ".data"}

// SectionBytes returns the contents of the named sections of the ELF file at path
// that it has, by name.
func SectionBytes(path string) (map[string][]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]byte{}
	for _, name := range Sections {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: section %s: %w", path, name, err)
		}
		out[name] = b
	}
	return out, nil
}

// BuiltinDER returns the DER of every certificate crypto/x509 finds in the sections of
// the vmlinux at path (Sections), for fuzz seeds: real certificates, as the kernels
// this project prepares carry them.
func BuiltinDER(path string) ([][]byte, error) {
	secs, err := SectionBytes(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, name := range Sections {
		b := secs[name]
		for i := 0; i+8 < len(b); i++ {
			if b[i] != 0x30 || b[i+1] != 0x82 {
				continue
			}
			n := int(b[i+2])<<8 | int(b[i+3])
			if i+4+n > len(b) {
				continue
			}
			if _, err := x509.ParseCertificate(b[i : i+4+n]); err == nil {
				out = append(out, b[i:i+4+n])
				i += 3 + n
			}
		}
	}
	return out, nil
}
