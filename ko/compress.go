package ko

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"compress/gzip" // the standard library's: kernel/ links it for config.gz anyway

	"github.com/klauspost/compress/zstd"
	"github.com/therootcompany/xz"
)

// Compression is the container a module file is stored in. Its String form
// is the name the kernel reports in /sys/module/compression and kmod prints.
type Compression int

// Compression formats the kernel's module decompressor and kmod support.
const (
	None Compression = iota
	Gzip
	XZ
	Zstd
)

// String gives the name kmod and /sys/module/compression use.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case XZ:
		return "xz"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// MaxDecompressedSize bounds what Decompress will produce, so that a
// compression bomb fails cleanly instead of exhausting memory. It is far
// above any real module (the largest Debian module is a few tens of MiB).
const MaxDecompressedSize = 1 << 30

// maxOutput is MaxDecompressedSize, lowered by tests to exercise the limit
// without gigabytes of output.
var maxOutput int64 = MaxDecompressedSize

// maxWindow caps the history an xz or zstd stream may ask the decoder to
// allocate before producing output. 256 MiB is four times what xz -9 uses
// and far above the 1 MiB dictionary kbuild compresses modules with.
const maxWindow = 256 << 20

var (
	magicGzip = []byte{0x1f, 0x8b}
	magicXZ   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// DetectCompression identifies the container by its magic bytes, as kmod's
// kmod_file_open does; anything unrecognised is None (plain ELF or garbage).
func DetectCompression(b []byte) Compression {
	switch {
	case bytes.HasPrefix(b, magicXZ):
		return XZ
	case bytes.HasPrefix(b, magicZstd):
		return Zstd
	case bytes.HasPrefix(b, magicGzip):
		return Gzip
	}
	return None
}

// ZstdHeaderSize is how many bytes from the start of a zstd file ZstdKnowsContentSize
// needs at most (a frame header's largest size).
const ZstdHeaderSize = zstd.HeaderMaxSize

// ZstdKnowsContentSize reports whether b, the start of a zstd file, opens with a frame
// whose header records a non-zero decompressed size. kbuild's `zstd` always records it;
// `zstd --no-content-size` and streaming compressors do not, and kmod 34 refuses such a
// module: its kmod_file_load_zstd sizes its one-shot buffer from
// ZSTD_getFrameContentSize and fails with EINVAL ("zstd: Failed to determine
// decompression size", libkmod/libkmod-file-zstd.c at v34.2) when the size is unknown,
// zero or the header unreadable. kmod 30 streams, and reads it.
func ZstdKnowsContentSize(b []byte) bool {
	var h zstd.Header
	return h.Decode(b) == nil && h.HasFCS && h.FrameContentSize > 0
}

// Decompress returns the contents of b and the container it was found in;
// uncompressed input is returned as is. Output beyond MaxDecompressedSize is
// refused with EFBIG. Errors are *FormatError with no Path.
func Decompress(b []byte) ([]byte, Compression, error) {
	c := DetectCompression(b)
	var (
		r   io.Reader
		err error
	)
	switch c {
	case None:
		return b, None, nil
	case Gzip:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(b)); err == nil {
			defer zr.Close()
			r = zr
		}
	case XZ:
		// The decoder depmod measured fastest (an xz-embedded port); ulikunitz/xz, also
		// pure Go, was 1.5x slower, and one decoder in the binary is one less package
		// initialization in every tool's start-up.
		if err = checkXZ(b); err == nil {
			r, err = xz.NewReader(bytes.NewReader(b), maxWindow)
		}
	case Zstd:
		var zr *zstd.Decoder
		zr, err = zstd.NewReader(bytes.NewReader(b),
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(maxOutput)),
			zstd.WithDecoderMaxWindow(maxWindow))
		if err == nil {
			defer zr.Close()
			r = zr
		}
	}
	if err != nil {
		return nil, c, decompressErr(c, err)
	}
	out, err := readBounded(r, len(b))
	if err != nil {
		return nil, c, decompressErr(c, err)
	}
	return out, c, nil
}

// decompressErr prefixes the container name, keeping an errno already chosen.
func decompressErr(c Compression, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return &FormatError{Msg: c.String() + ": " + fe.Msg, Errno: fe.Errno, Err: fe.Err}
	}
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return &FormatError{Msg: fmt.Sprintf("%v: decompressed data exceeds %d bytes", c, maxOutput), Errno: efbig, Err: err}
	}
	return &FormatError{Msg: fmt.Sprintf("%v: %v", c, err), Err: err}
}

// readBounded reads r to the end, growing geometrically from a guess based
// on the input size, and refuses to go past maxOutput.
func readBounded(r io.Reader, inSize int) ([]byte, error) {
	guess := min(inSize*4+4096, 64<<20)
	buf := bytes.NewBuffer(make([]byte, 0, guess))
	n, err := buf.ReadFrom(io.LimitReader(r, maxOutput+1))
	if err != nil {
		return nil, err
	}
	if n > maxOutput {
		return nil, &FormatError{Msg: fmt.Sprintf("decompressed data exceeds %d bytes", maxOutput), Errno: efbig}
	}
	return buf.Bytes(), nil
}
