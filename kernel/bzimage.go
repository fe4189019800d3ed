package kernel

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/therootcompany/xz"
	"github.com/ulikunitz/xz/lzma"
)

// MaxVmlinuxSize bounds the kernel ELF taken from a kernel image, and the image file
// read to find it. A Debian vmlinux is 55-70 MiB; 512 MiB leaves room for debug builds
// while keeping a hostile image (a compression bomb) from exhausting memory.
const MaxVmlinuxSize = 512 << 20

// maxVmlinux is MaxVmlinuxSize, lowered by tests to reach the limit cheaply.
var maxVmlinux int64 = MaxVmlinuxSize

// maxDict caps the dictionary or window an xz, lzma or zstd stream may ask for before
// producing output. The kernel's own images use at most 32 MiB (xz_wrap.sh), 64 MiB
// (lzma -9) and zstd's level 22 window (128 MiB at most).
const maxDict = 256 << 20

// dictLimit is maxDict, or the output limit when lower: a dictionary larger than the
// whole output is never needed.
func dictLimit() int64 { return min(maxDict, maxVmlinux) }

// maxScanCandidates bounds how many magic-number matches the fallback scan of an image
// without a usable boot header tries to decompress.
const maxScanCandidates = 16

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// payloadFormat is one compression the kernel's boot decompressor supports
// (lib/decompress.c's compressed_formats), recognized by its leading bytes.
type payloadFormat struct {
	name  string
	magic []byte
}

// payloadFormats are tried in this order on a payload; scan patterns are longer than
// the kernel's two-byte checks where the format allows, so that the fallback scan
// meets fewer false matches.
var payloadFormats = []payloadFormat{
	{"gzip", []byte{0x1f, 0x8b, 0x08}},
	{"gzip", []byte{0x1f, 0x9e, 0x08}}, // old gzip magic, still accepted by the kernel
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}}, // legacy frame, 0x184C2102 little-endian
	{"bzip2", []byte{'B', 'Z', 'h'}},
	{"lzma", []byte{0x5d, 0x00, 0x00}},
	{"lzo", []byte{0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a}},
}

// detectPayload names the compression p starts with, or "".
func detectPayload(p []byte) string {
	for _, f := range payloadFormats {
		if bytes.HasPrefix(p, f.magic) {
			return f.name
		}
	}
	return ""
}

// Boot protocol fields of the x86 setup header (Documentation/arch/x86/boot.rst).
const (
	hdrSetupSects    = 0x1f1
	hdrBootFlag      = 0x1fe
	hdrMagic         = 0x202 // "HdrS"
	hdrVersion       = 0x206
	hdrPayloadOffset = 0x248 // protocol 2.08+
	hdrPayloadLength = 0x24c // protocol 2.08+
	hdrEnd           = 0x250
)

// bzImagePayload locates the compressed kernel in an x86 bzImage as the boot protocol
// 2.08+ describes it: the protected-mode code starts after (setup_sects+1) sectors of
// 512 bytes (setup_sects 0 means 4), and payload_offset/payload_length give the
// payload within it. It returns the payload and its offset in b.
func bzImagePayload(b []byte) ([]byte, int, error) {
	if len(b) < hdrEnd {
		return nil, 0, fmt.Errorf("%d bytes, too short for an x86 boot header", len(b))
	}
	if binary.LittleEndian.Uint16(b[hdrBootFlag:]) != 0xaa55 {
		return nil, 0, errors.New("no x86 boot sector signature 0xAA55")
	}
	if string(b[hdrMagic:hdrMagic+4]) != "HdrS" {
		return nil, 0, errors.New("no \"HdrS\" setup header")
	}
	if v := binary.LittleEndian.Uint16(b[hdrVersion:]); v < 0x208 {
		return nil, 0, fmt.Errorf("boot protocol %d.%02d is older than 2.08, which has no payload fields", v>>8, v&0xff)
	}
	sects := uint64(b[hdrSetupSects])
	if sects == 0 {
		sects = 4
	}
	off := (sects+1)*512 + uint64(binary.LittleEndian.Uint32(b[hdrPayloadOffset:]))
	n := uint64(binary.LittleEndian.Uint32(b[hdrPayloadLength:]))
	if off+n > uint64(len(b)) {
		return nil, 0, fmt.Errorf("truncated: the payload at offset %d, %d bytes long, ends past the file's %d bytes", off, n, len(b))
	}
	if n < 8 {
		return nil, 0, fmt.Errorf("the payload at offset %d is only %d bytes", off, n)
	}
	return b[off : off+n], int(off), nil
}

// ExtractVmlinux returns the kernel ELF held in img, a kernel image file's contents:
// img itself when it already is an ELF (a vmlinux); else the payload of an x86 bzImage
// (vmlinuz), found through the boot protocol's payload fields and decompressed (gzip,
// xz, zstd, lz4 legacy frames, bzip2 or lzma; lzo is recognized but not supported).
// Only when the boot header is absent or older than protocol 2.08 are the compression
// magic numbers searched for, and the first candidate that decompresses to a complete
// ELF is taken. how says which way it went, e.g. "xz payload at offset 20480". The ELF
// may not exceed MaxVmlinuxSize. Errors do not name the file: the caller does.
func ExtractVmlinux(img []byte) (vmlinux []byte, how string, err error) {
	if len(img) == 0 {
		return nil, "", errors.New("empty file")
	}
	if bytes.HasPrefix(img, elfMagic) {
		return img, "ELF", nil
	}
	payload, off, herr := bzImagePayload(img)
	if herr == nil {
		format := detectPayload(payload)
		if format == "" {
			return nil, "", fmt.Errorf("the payload at offset %d starts with % x, not a compression the kernel supports", off, payload[:min(len(payload), 8)])
		}
		out, err := decompressPayload(format, payload, true)
		if err != nil {
			return nil, "", fmt.Errorf("%s payload at offset %d (%d bytes): %w", format, off, len(payload), err)
		}
		return out, fmt.Sprintf("%s payload at offset %d", format, off), nil
	}
	out, how, err := scanPayload(img)
	if err != nil {
		return nil, "", fmt.Errorf("not an x86 bzImage with boot protocol 2.08+ (%v), and %w", herr, err)
	}
	return out, how, nil
}

// scanPayload is the fallback for images without usable payload fields: it tries each
// offset where a compression magic number occurs (at most maxScanCandidates), decoding
// to the end of the file, and keeps the first output that is a complete ELF.
func scanPayload(img []byte) ([]byte, string, error) {
	type cand struct {
		off    int
		format string
	}
	var cands []cand
	for _, f := range payloadFormats {
		for from := 0; ; {
			i := bytes.Index(img[from:], f.magic)
			if i < 0 {
				break
			}
			cands = append(cands, cand{from + i, f.name})
			from += i + 1
			if len(cands) > 4*maxScanCandidates {
				break
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return a.off - b.off })
	tried := 0
	var last error
	for _, c := range cands {
		if tried == maxScanCandidates {
			break
		}
		if c.format == "lzo" {
			continue
		}
		tried++
		out, err := decompressPayload(c.format, img[c.off:], false)
		if err == nil {
			return out, fmt.Sprintf("%s data found at offset %d", c.format, c.off), nil
		}
		last = fmt.Errorf("%s at offset %d: %w", c.format, c.off, err)
	}
	if tried == 0 {
		return nil, "", errors.New("no compressed kernel found by its magic numbers")
	}
	return nil, "", fmt.Errorf("no compressed kernel found by its magic numbers (%d tried; last: %w)", tried, last)
}

// decompressPayload decodes a payload of the given format into an ELF. exact means the
// payload is exactly what the boot header delimits: the kernel's build appends the
// decompressed size as 4 little-endian bytes (size_append; for gzip these are the
// stream's own ISIZE), which must agree with the output. Otherwise (a scanned
// candidate, running to the end of the file) decoding may stop with an error past the
// stream's end, and the output is kept only if it is a complete ELF (its program and
// section header tables included).
func decompressPayload(format string, p []byte, exact bool) ([]byte, error) {
	data := p
	var want uint32
	if exact {
		want = binary.LittleEndian.Uint32(p[len(p)-4:])
		if format != "gzip" {
			data = p[:len(p)-4]
		}
		if int64(want) > maxVmlinux {
			return nil, fmt.Errorf("the image says it decompresses to %d bytes, more than the %d accepted", want, maxVmlinux)
		}
	}
	out, err := decode(format, data, exact, int(want))
	if err != nil && (exact || !completeELF(out)) {
		return nil, err
	}
	if !bytes.HasPrefix(out, elfMagic) {
		return nil, fmt.Errorf("decompressed %d bytes, which are not an ELF (they start with % x)", len(out), out[:min(len(out), 4)])
	}
	if exact && uint32(len(out)) != want {
		return nil, fmt.Errorf("decompressed %d bytes, but the image's size field says %d", len(out), want)
	}
	if !exact && !completeELF(out) {
		return nil, fmt.Errorf("decompressed %d bytes, not a complete ELF64 (its header tables end past them)", len(out))
	}
	return out, nil
}

// completeELF reports whether b holds an ELF64 header and the whole of the program and
// section header tables it points to.
func completeELF(b []byte) bool {
	if len(b) < 64 || !bytes.HasPrefix(b, elfMagic) || b[4] != 2 {
		return false
	}
	le := binary.LittleEndian
	phoff, shoff := le.Uint64(b[0x20:]), le.Uint64(b[0x28:])
	phsz := uint64(le.Uint16(b[0x36:])) * uint64(le.Uint16(b[0x38:]))
	shsz := uint64(le.Uint16(b[0x3a:])) * uint64(le.Uint16(b[0x3c:]))
	n := uint64(len(b))
	return shsz > 0 && phoff <= n && phsz <= n-phoff && shoff <= n && shsz <= n-shoff
}

// decode runs one decoder over p, refusing to produce more than maxVmlinux bytes. A
// candidate of the fallback scan (exact false) is abandoned as soon as its first bytes
// are not an ELF header. hint is the expected size, 0 if unknown.
func decode(format string, p []byte, exact bool, hint int) ([]byte, error) {
	if format == "lz4" {
		return unlz4Legacy(p, exact)
	}
	var r io.Reader
	br := bytes.NewReader(p)
	switch format {
	case "gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		zr.Multistream(false)
		r = zr
	case "xz":
		zr, err := xz.NewReader(br, uint32(dictLimit()))
		if err != nil {
			return nil, dictErr(err)
		}
		zr.Multistream(false)
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(maxVmlinux)), zstd.WithDecoderMaxWindow(uint64(dictLimit())))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case "bzip2":
		r = bzip2.NewReader(br)
	case "lzma":
		zr, err := lzma.ReaderConfig{DictCap: int(dictLimit())}.NewReader(br)
		if err != nil {
			return nil, dictErr(err)
		}
		r = zr
	case "lzo":
		return nil, errors.New("lzo-compressed kernels are not supported (no well-kept pure-Go lzo decoder)")
	default:
		return nil, fmt.Errorf("unknown compression %q", format)
	}
	if hint <= 0 || int64(hint) > maxVmlinux {
		hint = min(len(p)*4, int(maxVmlinux))
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(hint+bytes.MinRead, len(p)*64+bytes.MinRead)))
	if !exact {
		// A false match of the scan is rejected on its first bytes, before it can
		// decompress anything large.
		if _, err := io.CopyN(buf, r, 4); err != nil || !bytes.HasPrefix(buf.Bytes(), elfMagic) {
			if err == nil {
				err = fmt.Errorf("decompressed data starts with % x, not an ELF", buf.Bytes())
			}
			return nil, dictErr(err)
		}
	}
	_, err := buf.ReadFrom(io.LimitReader(r, maxVmlinux+1-int64(buf.Len())))
	if int64(buf.Len()) > maxVmlinux || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, fmt.Errorf("decompressed data exceeds %d bytes, the limit on a kernel ELF (MaxVmlinuxSize)", maxVmlinux)
	}
	if err != nil {
		return buf.Bytes(), dictErr(err)
	}
	return buf.Bytes(), nil
}

// dictErr explains a decoder's refusal of a dictionary or window above dictLimit.
func dictErr(err error) error {
	var lz *lzma.ErrDictSize
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, xz.ErrMemlimit) || errors.As(err, &lz) {
		return fmt.Errorf("the stream's dictionary or window is larger than accepted (%d bytes, the smaller of 256 MiB and the limit on a kernel ELF): %w", dictLimit(), err)
	}
	return err
}

// lz4 legacy frame constants (the kernel builds its lz4 images with lz4 -l, and
// lib/decompress_unlz4.c reads them): a magic number, then blocks, each a 32-bit
// little-endian compressed size and at most 8 MiB of decompressed data; the magic may
// repeat between blocks.
const (
	lz4LegacyMagic = 0x184c2102
	lz4LegacyBlock = 8 << 20
)

// unlz4Legacy decodes an lz4 legacy frame. With exact, every byte of p must belong to
// the frame; otherwise decoding stops at the first size that cannot be a block (the
// caller then checks that a complete ELF came out).
func unlz4Legacy(p []byte, exact bool) ([]byte, error) {
	if len(p) < 4 || binary.LittleEndian.Uint32(p) != lz4LegacyMagic {
		return nil, errors.New("not an lz4 legacy frame")
	}
	p = p[4:]
	var out []byte
	for len(p) > 0 {
		if len(p) < 4 {
			return out, fmt.Errorf("lz4: %d stray bytes after the last block", len(p))
		}
		n := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if n == lz4LegacyMagic {
			continue
		}
		if n == 0 || uint64(n) > uint64(len(p)) || n > uint32(lz4.CompressBlockBound(lz4LegacyBlock)) {
			return out, fmt.Errorf("lz4: a block of %d bytes does not fit the %d bytes left", n, len(p))
		}
		if int64(len(out)) >= maxVmlinux {
			return nil, fmt.Errorf("decompressed data exceeds %d bytes, the limit on a kernel ELF (MaxVmlinuxSize)", maxVmlinux)
		}
		out = slices.Grow(out, lz4LegacyBlock)
		k, err := lz4.UncompressBlock(p[:n], out[len(out):len(out)+lz4LegacyBlock])
		if err != nil {
			return out, fmt.Errorf("lz4: block at %d bytes of output: %w", len(out), err)
		}
		out = out[:len(out)+k]
		p = p[n:]
		if !exact && len(out) >= 4 && !bytes.HasPrefix(out, elfMagic) {
			return nil, fmt.Errorf("decompressed data starts with % x, not an ELF", out[:4])
		}
	}
	if int64(len(out)) > maxVmlinux {
		return nil, fmt.Errorf("decompressed data exceeds %d bytes, the limit on a kernel ELF (MaxVmlinuxSize)", maxVmlinux)
	}
	return out, nil
}
