package modsign_test

import (
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/modsign"
	"gokmod/kernel"
	"gokmod/kernel/cert"
)

// A signature made here verifies with the model's PKCS#7 check against its own
// certificate, is ENOKEY without it, and EKEYREJECTED when the module changes.
func TestSignVerifies(t *testing.T) {
	rsaKey, err := modsign.NewKey("gokmod test signing key")
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := modsign.NewECDSAKey("gokmod test ECDSA signing key", elliptic.P384())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*modsign.Key{rsaKey, ecKey} {
		t.Run(k.Cert.PublicKeyAlgorithm.String(), func(t *testing.T) { signVerifies(t, k) })
	}
}

func signVerifies(t *testing.T, k *modsign.Key) {
	own, err := cert.Parse(k.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("\x7fELF not really a module, but the signature does not care")
	signed, err := k.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	// The PKCS#7 is between the module and struct module_signature, whose last 4
	// bytes are its length. ECDSA signatures are randomized, so only an RSA one can be
	// compared with PKCS7's.
	trailer := len(signed) - len(modsign.Marker) - 12
	p7 := signed[len(body):trailer]
	if n := binary.BigEndian.Uint32(signed[trailer+8:]); int(n) != len(p7) {
		t.Fatalf("module_signature says %d bytes of PKCS#7, %d appended", n, len(p7))
	}
	if again, err := k.PKCS7(body); err != nil {
		t.Fatal(err)
	} else if _, isRSA := k.Priv.(*rsa.PrivateKey); isRSA && string(again) != string(p7) {
		t.Fatal("Sign does not append PKCS7's bytes")
	}
	if err := kernel.VerifyModuleSignature(body, p7, []*cert.Certificate{own}); err != nil {
		t.Errorf("own certificate: %v", err)
	}
	if err := kernel.VerifyModuleSignature(body, p7, nil); !errors.Is(err, unix.ENOKEY) {
		t.Errorf("no keys: %v, want ENOKEY", err)
	}
	changed := append([]byte{}, body...)
	changed[5] ^= 1
	if err := kernel.VerifyModuleSignature(changed, p7, []*cert.Certificate{own}); !errors.Is(err, unix.EKEYREJECTED) {
		t.Errorf("changed module: %v, want EKEYREJECTED", err)
	}
}
