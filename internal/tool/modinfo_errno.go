package tool

import (
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"gokmod/ko"
)

// kmodOpenErrno is the errno kmod 30 reports for a module it cannot open, which modinfo
// prints: libkmod's file and ELF checks are looser than ko's, so the errno comes from
// re-running theirs (kmod_file_open, elf_identify, kmod_elf_new) on the file, while ko's
// error is kept for the detail line.
func kmodOpenErrno(path string, koErr error) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(raw) < 6 {
		return &detailed{unix.EINVAL, koErr}
	}
	data := raw
	if ko.DetectCompression(raw) != ko.None {
		if data, _, err = ko.Decompress(raw); err != nil {
			return &detailed{unix.EINVAL, koErr}
		}
	}
	return &detailed{kmodElfErrno(data), koErr}
}

// kmodElfErrno mirrors elf_identify and kmod_elf_new's header checks.
func kmodElfErrno(b []byte) unix.Errno {
	if len(b) <= 16 || string(b[:4]) != "\x7fELF" {
		return unix.ENOEXEC
	}
	var hdr, shdr int
	switch b[4] {
	case 1:
		hdr, shdr = 52, 40
	case 2:
		hdr, shdr = 64, 64
	default:
		return unix.EINVAL
	}
	if len(b) <= hdr {
		return unix.EINVAL
	}
	var bo binary.ByteOrder
	switch b[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return unix.EINVAL
	}
	var shoff uint64
	var shentsize, shnum, shstrndx uint16
	if hdr == 52 {
		shoff = uint64(bo.Uint32(b[32:]))
		shentsize, shnum, shstrndx = bo.Uint16(b[46:]), bo.Uint16(b[48:]), bo.Uint16(b[50:])
	} else {
		shoff = bo.Uint64(b[40:])
		shentsize, shnum, shstrndx = bo.Uint16(b[58:]), bo.Uint16(b[60:]), bo.Uint16(b[62:])
	}
	if int(shentsize) != shdr {
		return unix.EINVAL
	}
	end := shoff + uint64(shdr)*uint64(shnum)
	if end < shoff || end > uint64(len(b)) || shstrndx >= shnum {
		return unix.EINVAL
	}
	// The section name table must lie in the file and end in NUL.
	sh := b[shoff+uint64(shstrndx)*uint64(shdr):]
	var off, size uint64
	if hdr == 52 {
		off, size = uint64(bo.Uint32(sh[16:])), uint64(bo.Uint32(sh[20:]))
	} else {
		off, size = bo.Uint64(sh[24:]), bo.Uint64(sh[32:])
	}
	if off+size < off || off+size > uint64(len(b)) || size == 0 || b[off+size-1] != 0 {
		return unix.EINVAL
	}
	// kmod accepts the file; ko did not, for a reason kmod would meet later.
	return unix.EINVAL
}

// detailed is kmod's errno with ko's explanation behind it.
type detailed struct {
	errno  unix.Errno
	detail error
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
