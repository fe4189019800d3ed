package depmod

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"gokmod/ko"
)

// readPartial is the fast path for an uncompressed little-endian ELF64 module: it reads
// the ELF header, the signature trailer's end, the section table and then only the
// sections depmod looks at — about a third of a typical module — instead of the whole
// file. It checks what ko.Parse checks of the section table (every section inside the
// module image, the name table sane) and reports ok=false whenever anything is unusual,
// leaving the file to the full reader, whose errors are the ones kmod reports.
func (r *reader) readPartial(fd int, size int) (*modData, bool) {
	le := binary.LittleEndian
	var eh [64]byte
	if size < 64 || !preadFull(fd, eh[:], 0) {
		return nil, false
	}
	if string(eh[:4]) != "\x7fELF" || eh[4] != 2 || eh[5] != 1 {
		return nil, false
	}
	machine := le.Uint16(eh[18:])
	shoff, shentsize := le.Uint64(eh[40:]), le.Uint16(eh[58:])
	shnum, shstrndx := uint64(le.Uint16(eh[60:])), uint64(le.Uint16(eh[62:]))
	if machine == 2 || machine == 43 || shoff == 0 || shentsize != 64 || shnum == 0 || shstrndx == 0xffff {
		return nil, false
	}
	// The module image ends where a well-formed signature trailer starts.
	image := uint64(size)
	const magic = ko.SignatureMagic
	if size >= len(magic)+12 {
		var tail [len(magic) + 12]byte
		if !preadFull(fd, tail[:], int64(size-len(tail))) {
			return nil, false
		}
		if string(tail[12:]) == magic {
			sigLen := uint64(binary.BigEndian.Uint32(tail[8:12]))
			need := sigLen + uint64(tail[3]) + uint64(tail[4])
			rest := uint64(size - len(tail))
			if sigLen == 0 || need > rest {
				return nil, false
			}
			image = rest - need
		}
	} else if size >= len(magic) {
		return nil, false
	}
	if shstrndx >= shnum || shnum > image/64 || shoff > image || shoff+shnum*64 > image {
		return nil, false
	}
	shdrs := make([]byte, shnum*64)
	if !preadFull(fd, shdrs, int64(shoff)) {
		return nil, false
	}
	v := &elfView{secs: make([]secInfo, shnum)}
	nameOffs := make([]uint32, shnum)
	for i := range v.secs {
		h := shdrs[i*64:]
		s := secInfo{typ: le.Uint32(h[4:]), off: le.Uint64(h[24:]), size: le.Uint64(h[32:])}
		nameOffs[i] = le.Uint32(h)
		if i > 0 && s.typ != ko.SHTNobits && (s.off > image || s.size > image-s.off) {
			return nil, false
		}
		v.secs[i] = s
	}
	shstr := v.secs[shstrndx]
	if shstr.typ == ko.SHTNobits || shstr.size == 0 || shstr.off > image || shstr.size > image-shstr.off {
		return nil, false
	}
	names := make([]byte, shstr.size)
	if !preadFull(fd, names, int64(shstr.off)) || names[len(names)-1] != 0 {
		return nil, false
	}
	want := map[string]int{".modinfo": -1, "__ksymtab_strings": -1, ".symtab": -1, ".strtab": -1, "__versions": -1}
	for i := range v.secs {
		if uint64(nameOffs[i]) >= uint64(len(names)) {
			return nil, false
		}
		if i == 0 {
			continue
		}
		n := names[nameOffs[i]:]
		n = n[:bytes.IndexByte(n, 0)]
		if j, ok := want[string(n)]; ok && j < 0 {
			want[string(n)] = i
		}
	}
	// Read the wanted sections into the buffer, back to back.
	total := 0
	for _, i := range want {
		if i >= 0 {
			total += int(v.secs[i].fileSize())
		}
	}
	if cap(r.buf) < total {
		r.buf = make([]byte, total+total/4)
	}
	buf := r.buf[:0]
	read := func(i int) []byte {
		s := v.secs[i]
		if s.typ == ko.SHTNull || s.size == 0 || s.typ == ko.SHTNobits {
			return nil
		}
		start := len(buf)
		buf = buf[:start+int(s.size)]
		if !preadFull(fd, buf[start:], int64(s.off)) {
			return nil
		}
		return buf[start:]
	}
	var modinfo []byte
	if i := want[".modinfo"]; i >= 0 {
		modinfo = read(i)
	}
	if i := want["__ksymtab_strings"]; i >= 0 {
		v.ksymtabStrings, v.hasKsymtabStrings = read(i), true
	}
	if i := want["__versions"]; i >= 0 && v.secs[i].fileSize()%64 == 0 {
		v.versions, v.hasVersions = read(i), true
	}
	st, ss := want[".strtab"], want[".symtab"]
	if st >= 0 && ss >= 0 && v.secs[ss].fileSize()%symEnt64 == 0 {
		v.strtab, v.symtab, v.ok = read(st), read(ss), true
	}
	v.sectData = func(i int) []byte {
		s := v.secs[i]
		if s.typ == ko.SHTNull || s.size == 0 || s.typ == ko.SHTNobits {
			return nil
		}
		d := make([]byte, s.size)
		if !preadFull(fd, d, int64(s.off)) {
			return nil
		}
		return d
	}
	md := &modData{info: modinfoEntries(modinfo), exports: v.exports()}
	md.depSyms, _ = v.dependencySymbols()
	md.hasDepSym = len(md.depSyms) > 0
	return md, true
}

func preadFull(fd int, b []byte, off int64) bool {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		b, off = b[n:], off+int64(n)
	}
	return true
}
