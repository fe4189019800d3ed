package ko

import (
	"encoding/binary"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SignatureMagic ends every signed module (MODULE_SIG_STRING).
const SignatureMagic = "~Module signature appended~\n"

// sigInfoSize is sizeof(struct module_signature).
const sigInfoSize = 12

// Key identifier types (enum pkey_id_type); only PKCS#7 is used since 4.3.
const (
	IDPGP   = 0
	IDX509  = 1
	IDPKCS7 = 2
)

// Names as libkmod-signature.c's tables spell them (copied there from 3.7).
var (
	pkeyAlgo     = []string{"DSA", "RSA"}
	pkeyHashAlgo = []string{"md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3"}
	pkeyIDType   = []string{"PGP", "X509", "PKCS#7"}
)

// Signature is an appended module signature: the raw struct
// module_signature fields and what kmod 30 (built with OpenSSL, as Debian's
// is) derives from them for modinfo's sig_id, signer, sig_key, sig_hashalgo
// and signature lines.
type Signature struct {
	// Raw struct module_signature fields.
	Algo, Hash, IDType  uint8
	SignerLen, KeyIDLen uint8
	Pad                 [3]byte
	SigLen              uint32 // big-endian on disk
	Raw                 []byte // the SigLen bytes: PKCS#7 DER for IDType 2
	ImageLen            int    // bytes of module before the signature data

	// ID is the key identifier type name: "PKCS#7", "X509" or "PGP".
	ID string
	// Signer is the issuer's commonName for PKCS#7 (kmod's x509_name_to_str),
	// else the signer_len bytes before the key id.
	Signer string
	// KeyID is the signer's certificate serial number as minimal big-endian
	// bytes (OpenSSL BN_bn2bin) for PKCS#7, else the key_id_len bytes.
	KeyID []byte
	// HashAlgo is the digest name ("sha256"); "unknown" for a digest kmod's
	// table lacks.
	HashAlgo string
	// Algorithm is the public-key algorithm name for non-PKCS#7 signatures;
	// kmod leaves it unset for PKCS#7 (it is inside the DER) and modinfo
	// never prints it.
	Algorithm string
	// Sig is the signature value: the SignerInfo's encryptedDigest for PKCS#7.
	Sig []byte
}

// trailer is the parsed struct module_signature and where things lie.
type trailer struct {
	algo, hash, idType, signerLen, keyIDLen uint8
	pad                                     [3]byte
	sigLen                                  uint32
	imageLen                                int // module bytes before signer/key id/signature
	sigOff                                  int // offset of the sig_len bytes
}

// parseTrailer finds the signature trailer. nil, nil means unsigned. The
// checks are the union of kmod's kmod_module_signature_info and the
// kernel's mod_check_sig, so that a trailer accepted here is shown by
// modinfo and at least well-formed for the kernel.
func parseTrailer(data []byte) (*trailer, error) { return parseTrailerAt(data, 0) }

// parseTrailerAt is parseTrailer for a reader that holds only the end of the
// file: tail is the file from offset base to its end. The offsets in the
// result are from the start of the file. The caller must hold at least the
// last len(SignatureMagic)+sigInfoSize bytes (or the whole file, if shorter).
func parseTrailerAt(tail []byte, base int) (*trailer, error) {
	n := base + len(tail) // the file's length
	if n < len(SignatureMagic) || string(tail[len(tail)-len(SignatureMagic):]) != SignatureMagic {
		return nil, nil
	}
	size := n - len(SignatureMagic)
	if size < sigInfoSize {
		return nil, errnoErr("", unix.EBADMSG, "signature trailer truncated: %d bytes before the magic, struct module_signature needs %d", size, sigInfoSize)
	}
	size -= sigInfoSize
	ms := tail[size-base : size-base+sigInfoSize]
	t := &trailer{
		algo: ms[0], hash: ms[1], idType: ms[2], signerLen: ms[3], keyIDLen: ms[4],
		pad:    [3]byte{ms[5], ms[6], ms[7]},
		sigLen: binary.BigEndian.Uint32(ms[8:12]),
	}
	if t.sigLen == 0 {
		return nil, errnoErr("", unix.EBADMSG, "signature trailer has sig_len 0")
	}
	need := uint64(t.sigLen) + uint64(t.signerLen) + uint64(t.keyIDLen)
	if need > uint64(size) {
		return nil, errnoErr("", unix.EBADMSG, "signature trailer claims %d bytes of signature data (sig_len %d, signer_len %d, key_id_len %d) but only %d bytes precede it",
			need, t.sigLen, t.signerLen, t.keyIDLen, size)
	}
	t.sigOff = size - int(t.sigLen)
	t.imageLen = size - int(need)
	return t, nil
}

// Signed reports whether the file ends with a well-formed signature trailer.
func (f *File) Signed() bool { return f.trailer != nil }

// Signature decodes the appended signature, mirroring kmod 30's
// kmod_module_signature_info (fill_pkcs7 for PKCS#7 with OpenSSL,
// fill_default otherwise). It returns nil, nil for an unsigned module.
//
// Where kmod silently shows no signature (unknown algo/hash/id_type, bad
// DER), this returns an EBADMSG *FormatError; a modinfo clone should then
// print no sig_* lines.
func (f *File) Signature() (*Signature, error) { return signatureAt(f.Name, f.data, 0) }

// signatureAt is Signature for a file of which tail holds the bytes from
// base to the end; name is for errors. A well-formed trailer's signature
// data (from the end of the module image on) must lie inside tail, which
// the callers guarantee (Parse's File holds everything; a Partial's tail
// starts before the section table, which the image contains).
func signatureAt(name string, tail []byte, base int) (*Signature, error) {
	t, err := parseTrailerAt(tail, base)
	if err != nil {
		err.(*FormatError).Path = name
		return nil, err
	}
	if t == nil {
		return nil, nil
	}
	if t.imageLen < base {
		return nil, errnoErr(name, unix.EBADMSG, "signature data at %d starts before the %d bytes read", t.imageLen, base)
	}
	if int(t.algo) >= len(pkeyAlgo) || int(t.hash) >= len(pkeyHashAlgo) || int(t.idType) >= len(pkeyIDType) {
		return nil, errnoErr(name, unix.EBADMSG, "signature trailer has unknown algo %d, hash %d or id_type %d", t.algo, t.hash, t.idType)
	}
	sigOff := t.sigOff - base
	s := &Signature{
		Algo: t.algo, Hash: t.hash, IDType: t.idType,
		SignerLen: t.signerLen, KeyIDLen: t.keyIDLen, Pad: t.pad, SigLen: t.sigLen,
		Raw:      tail[sigOff : sigOff+int(t.sigLen)],
		ImageLen: t.imageLen,
		ID:       pkeyIDType[t.idType],
	}
	if t.idType != IDPKCS7 {
		// fill_default: [signer][key id][signature] precede the struct.
		p := t.imageLen - base
		s.Signer = string(tail[p : p+int(t.signerLen)])
		p += int(t.signerLen)
		s.KeyID = tail[p : p+int(t.keyIDLen)]
		s.Sig = s.Raw
		s.Algorithm = pkeyAlgo[t.algo]
		s.HashAlgo = pkeyHashAlgo[t.hash]
		return s, nil
	}
	p, err := parsePKCS7(s.Raw)
	if err != nil {
		return nil, &FormatError{Path: name, Msg: "PKCS#7 signature: " + err.Error(), Errno: unix.EBADMSG, Err: err}
	}
	s.Signer, s.KeyID, s.HashAlgo, s.Sig = p.signer, p.serial, p.hashAlgo, p.sig
	return s, nil
}

// KmodHex formats b as kmod 30's kmod_module_hex_to_str does for modinfo's
// sig_key and signature values: upper-case "AB:CD:..." with a line break
// and two tabs after every 20 bytes.
func KmodHex(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	out := AppendKmodHex(make([]byte, 0, kmodHexLen(len(b))), b)
	return unsafe.String(&out[0], len(out))
}

// kmodHexLen is the length of KmodHex's result for n bytes.
func kmodHexLen(n int) int {
	if n == 0 {
		return 0
	}
	return n*3 - 1 + (n-1)/20*3
}

// AppendKmodHex appends KmodHex(b) to dst, for callers formatting into a
// buffer they reuse (modinfo formats two per signed module).
func AppendKmodHex(dst, b []byte) []byte {
	const hexdig = "0123456789ABCDEF"
	p := len(dst)
	dst = slices.Grow(dst, kmodHexLen(len(b)))
	out := dst[:p+kmodHexLen(len(b))]
	// Filled by index, with a countdown instead of a division per byte.
	k := 20
	for i, c := range b {
		out[p], out[p+1] = hexdig[c>>4], hexdig[c&15]
		p += 2
		if i == len(b)-1 {
			break
		}
		out[p] = ':'
		p++
		if k--; k == 0 {
			out[p], out[p+1], out[p+2] = '\n', '\t', '\t'
			p += 3
			k = 20
		}
	}
	return out
}
