package tool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/klauspost/compress/zstd"

	"golang.org/x/sys/unix"

	"gokmod/kmod/compat"
	"gokmod/ko"
)

// kmodOpenErrno is the errno kmod reports for a module it cannot open, which modinfo
// prints: libkmod's file and ELF checks are looser than ko's, so the errno comes from
// re-running theirs (kmod_file_open, elf_identify, kmod_elf_new) on the file, while ko's
// error is kept for the detail line.
func kmodOpenErrno(path string, koErr error) error {
	var nr *ko.NotRegularError
	if errors.As(koErr, &nr) {
		// Not read again: kmod's own open of a FIFO would block for ever.
		return &detailed{errno: unix.EINVAL, errno30: unix.EINVAL, detail: koErr}
	}
	raw, unmap, err := mapModule(path)
	if err != nil {
		return err
	}
	defer unmap()
	if len(raw) < 6 {
		return &detailed{errno: unix.EINVAL, errno30: unix.EINVAL, detail: koErr}
	}
	data := raw
	if c := ko.DetectCompression(raw); c != ko.None {
		if data, _, err = ko.Decompress(raw); err != nil {
			return decompressErrno(raw, c, err, koErr)
		}
	}
	errno := ko.KmodElfErrno(data)
	return &detailed{errno: errno, errno30: errno, detail: koErr}
}

// mapModule maps the regular file at path, as kmod's load_reg does, so that a file of
// gigabytes named like a module costs the pages looked at rather than a read of it all
// (or an EFBIG kmod never reports). An empty file has no mapping.
func mapModule(path string) (data []byte, unmap func(), err error) {
	f, size, err := ko.OpenRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if size == 0 {
		return nil, func() {}, nil
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "mmap", Path: path, Err: err}
	}
	return data, func() { unix.Munmap(data) }, nil
}

// decompressErrno is what kmod reports for a compressed module that does not
// decompress. kmod 34 decompresses in one go and fails with EINVAL, after libkmod's own
// line naming the decoder's error. kmod 30 streams zstd and stops quietly at the end of
// the input, so a truncated .ko.zst is judged by the ELF checks of what it decoded
// (mostly ENOEXEC); its xz and gzip decoders fail with EINVAL.
func decompressErrno(raw []byte, c ko.Compression, err, koErr error) error {
	d := &detailed{errno: unix.EINVAL, errno30: unix.EINVAL, detail: koErr}
	truncated := errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "missing stream footer") ||
		strings.Contains(err.Error(), "unexpected EOF")
	switch c {
	case ko.Zstd:
		msg := "Data corruption detected"
		switch {
		case !ko.ZstdKnowsContentSize(raw):
			d.libkmod34 = "libkmod: ERROR: kmod_file_load_zstd: zstd: Failed to determine decompression size\n"
		case truncated:
			msg = "Src size is incorrect"
			fallthrough
		default:
			d.libkmod34 = "libkmod: ERROR: kmod_file_load_zstd: zstd: " + msg + "\n"
		}
		if truncated {
			d.errno30 = unix.ENOEXEC
			if part := zstdPartial(raw); len(part) > 0 {
				if e := ko.KmodElfErrno(part); e != 0 {
					d.errno30 = e
				}
			}
		}
	case ko.XZ:
		msg := "File is corrupt"
		if truncated {
			msg = "Unexpected end of input"
		}
		d.libkmod34 = "libkmod: ERROR: xz_uncompress_belch: xz: " + msg + "\n"
	}
	return d
}

// zstdPartial is what a streaming zstd decoder yields before the input ends, as kmod
// 30's load_zstd keeps it.
func zstdPartial(b []byte) []byte {
	zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return nil
	}
	defer zr.Close()
	out, _ := io.ReadAll(io.LimitReader(zr, 1<<30))
	return out
}

// detailed is kmod's errno with ko's explanation behind it: errno as kmod 34 (the
// default) reports it, errno30 as kmod 30 does, and the line libkmod 34 logs first.
type detailed struct {
	errno     unix.Errno
	errno30   unix.Errno
	libkmod34 string
	detail    error
}

// forKmod returns the errno the kmod release k reports.
func (d *detailed) forKmod(k compat.Kmod) unix.Errno {
	if k == compat.Kmod30 {
		return d.errno30
	}
	return d.errno
}

// libkmodLine is the line libkmod logs before the tool's error, for release k.
func libkmodLine(err error, k compat.Kmod) string {
	var d *detailed
	if errors.As(err, &d) && k == compat.Kmod34 {
		return d.libkmod34
	}
	return ""
}

func (d *detailed) Error() string { return d.errno.Error() }
func (d *detailed) Unwrap() error { return d.errno }

// formatDetail is ko's description of what is wrong with a file, printed after kmod's
// line so the user learns the real problem.
func formatDetail(err error) string {
	var d *detailed
	if errors.As(err, &d) && d.detail != nil {
		return d.detail.Error()
	}
	return ""
}

// kmod34Decodable refuses what kmod 34 cannot decompress although the file is sound: a
// .ko.zst whose frame header does not record the decompressed size (zstd
// --no-content-size, or a streaming compressor), since kmod 34 sizes its buffer from it.
func kmod34Decodable(path string) error {
	f, _, err := ko.OpenRegular(path)
	if err != nil {
		return nil // the full open reports it
	}
	defer f.Close()
	head := make([]byte, ko.ZstdHeaderSize)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if ko.DetectCompression(head) != ko.Zstd || ko.ZstdKnowsContentSize(head) {
		return nil
	}
	return &detailed{errno: unix.EINVAL, errno30: unix.EINVAL,
		libkmod34: "libkmod: ERROR: kmod_file_load_zstd: zstd: Failed to determine decompression size\n",
		detail:    fmt.Errorf("%s: the zstd frame does not record its decompressed size, which kmod 34 needs (GOKMOD_KMOD=30 reads it)", path)}
}
