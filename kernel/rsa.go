package kernel

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"math/big"
)

// digestInfoPrefix is the DER DigestInfo header before the hash in an EMSA-PKCS1-v1_5
// encoding (RFC 8017 §9.2, note 1), per hash.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

var errRSAVerify = errors.New("rsa verification failed")

// verifyPKCS1v15 checks an RSASSA-PKCS1-v1_5 signature of a public (not secret) value.
// crypto/rsa does the same in constant time, which public-key verification does not
// need; math/big's exponentiation with e = 65537 is several times faster, and checking
// every module of a tree is mostly this. The encoding is rebuilt and compared whole, so
// no parsing of the decrypted block is involved.
func verifyPKCS1v15(pub *rsa.PublicKey, hash crypto.Hash, hashed, sig []byte) error {
	prefix, ok := digestInfoPrefix[hash]
	k := (pub.N.BitLen() + 7) / 8
	tLen := len(prefix) + len(hashed)
	if !ok || len(hashed) != hash.Size() || len(sig) != k || k < tLen+11 || pub.E < 2 {
		return errRSAVerify
	}
	s := new(big.Int).SetBytes(sig)
	if s.Cmp(pub.N) >= 0 {
		return errRSAVerify
	}
	m := new(big.Int).Exp(s, big.NewInt(int64(pub.E)), pub.N)
	em := m.FillBytes(make([]byte, k))
	want := make([]byte, k)
	want[1] = 0x01
	for i := 2; i < k-tLen-1; i++ {
		want[i] = 0xff
	}
	copy(want[k-tLen:], prefix)
	copy(want[k-len(hashed):], hashed)
	if !bytes.Equal(em, want) {
		return errRSAVerify
	}
	return nil
}
