package kernel

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// TestVerifyPKCS1v15 holds the fast verifier to crypto/rsa's verdicts: good signatures,
// flipped bits in the signature and the message, wrong hash, wrong lengths.
func TestVerifyPKCS1v15(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	msg := sha256.Sum256([]byte("module image"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, msg[:])
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, hash crypto.Hash, hashed, sig []byte) {
		t.Helper()
		want := rsa.VerifyPKCS1v15(&key.PublicKey, hash, hashed, sig) == nil
		got := verifyPKCS1v15(&key.PublicKey, hash, hashed, sig) == nil
		if got != want {
			t.Errorf("%s: fast verifier says %v, crypto/rsa %v", name, got, want)
		}
	}
	check("good", crypto.SHA256, msg[:], sig)
	for i := 0; i < len(sig); i += 37 {
		bad := append([]byte(nil), sig...)
		bad[i] ^= 0x10
		check("flipped signature", crypto.SHA256, msg[:], bad)
	}
	other := msg
	other[5] ^= 1
	check("other message", crypto.SHA256, other[:], sig)
	check("wrong hash", crypto.SHA512, msg[:], sig)
	check("short signature", crypto.SHA256, msg[:], sig[1:])
	check("long signature", crypto.SHA256, msg[:], append([]byte{0}, sig...))
	check("signature >= N", crypto.SHA256, msg[:], key.N.FillBytes(make([]byte, len(sig))))
	if verifyPKCS1v15(&key.PublicKey, crypto.SHA256, msg[:], sig) != nil {
		t.Error("a good signature does not verify")
	}
}

func BenchmarkVerifyPKCS1v15(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 4096)
	msg := sha256.Sum256([]byte("x"))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, msg[:])
	b.Run("math/big", func(b *testing.B) {
		for range b.N {
			verifyPKCS1v15(&key.PublicKey, crypto.SHA256, msg[:], sig)
		}
	})
	b.Run("crypto/rsa", func(b *testing.B) {
		for range b.N {
			rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, msg[:], sig)
		}
	})
}
