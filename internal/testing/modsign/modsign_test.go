package modsign_test

import (
	"crypto/x509"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/modsign"
	"gokmod/kernel"
)

// A signature made here verifies with the model's PKCS#7 check against its own
// certificate, is ENOKEY without it, and EKEYREJECTED when the module changes.
func TestSignVerifies(t *testing.T) {
	k, err := modsign.NewKey("gokmod test signing key")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("\x7fELF not really a module, but the signature does not care")
	signed, err := k.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := k.PKCS7(body)
	if err != nil {
		t.Fatal(err)
	}
	if string(signed[len(body):len(body)+len(p7)]) != string(p7) {
		t.Fatal("Sign does not append PKCS7's bytes")
	}
	if err := kernel.VerifyModuleSignature(body, p7, []*x509.Certificate{k.Cert}); err != nil {
		t.Errorf("own certificate: %v", err)
	}
	if err := kernel.VerifyModuleSignature(body, p7, nil); !errors.Is(err, unix.ENOKEY) {
		t.Errorf("no keys: %v, want ENOKEY", err)
	}
	changed := append([]byte{}, body...)
	changed[5] ^= 1
	if err := kernel.VerifyModuleSignature(changed, p7, []*x509.Certificate{k.Cert}); !errors.Is(err, unix.EKEYREJECTED) {
		t.Errorf("changed module: %v, want EKEYREJECTED", err)
	}
}
