package ko

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// KmodElfErrno is the errno libkmod 30 gives for these bytes as a module (elf_identify
// and kmod_elf_new's header checks): ENOEXEC when they are not ELF, EINVAL for anything
// else it or ko rejects. ko's own errors are more precise; tools that print kmod's
// message (modinfo, depmod) need kmod's errno.
func KmodElfErrno(b []byte) unix.Errno {
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
