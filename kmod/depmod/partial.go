package depmod

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	"golang.org/x/sys/unix"

	"gokmod/ko"
)

// tailWindow is how much of a module's end the partial reader reads at once: the section
// table, the signature and the section names that the linker puts just before them.
const tailWindow = 16 << 10

// readPartial is the fast path for an uncompressed little-endian ELF64 module: it reads
// the ELF header, then the file's end (signature trailer, section table, section names)
// in one read, then only the sections depmod looks at — about a third of a typical
// module — merging neighbours (.symtab and .strtab) into one read. It checks what
// ko.Parse checks of the section table (every section inside the module image, the name
// table sane) and reports ok=false whenever anything is unusual, leaving the file to the
// full reader, whose errors are the ones kmod reports.
func (r *reader) readPartial(fd int) (*modData, bool) {
	le := binary.LittleEndian
	var eh [64]byte
	if !preadFull(fd, eh[:], 0) {
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
	// The tail: from a little before the section table to the end of the file. A short
	// read says where the file ends, which saves an fstat; a long tail needs one.
	if cap(r.tail) < tailWindow {
		r.tail = make([]byte, tailWindow)
	}
	tailOff := uint64(0)
	if shoff > tailWindow/4 {
		tailOff = shoff - tailWindow/4
	}
	tail, size, ok := r.readTail(fd, tailOff)
	if !ok {
		return nil, false
	}
	at := func(off, n uint64) []byte { // bytes of the file from the tail, if it holds them
		if off < tailOff || off-tailOff > uint64(len(tail)) || n > uint64(len(tail))-(off-tailOff) {
			return nil
		}
		return tail[off-tailOff : off-tailOff+n]
	}
	// The module image ends where a well-formed signature trailer starts.
	image := size
	const magic = ko.SignatureMagic
	if size >= uint64(len(magic)+12) {
		t := at(size-uint64(len(magic)+12), uint64(len(magic)+12))
		if t == nil {
			return nil, false
		}
		if string(t[12:]) == magic {
			sigLen := uint64(binary.BigEndian.Uint32(t[8:12]))
			need := sigLen + uint64(t[3]) + uint64(t[4])
			rest := size - uint64(len(t))
			if sigLen == 0 || need > rest {
				return nil, false
			}
			image = rest - need
		}
	} else if size >= uint64(len(magic)) {
		return nil, false
	}
	if shstrndx >= shnum || shnum > image/64 || shoff > image || shoff+shnum*64 > image {
		return nil, false
	}
	shdrs := at(shoff, shnum*64)
	if shdrs == nil {
		return nil, false
	}
	v := &elfView{secs: make([]secInfo, shnum), scratch: &r.sc}
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
	names := at(shstr.off, shstr.size)
	if names == nil {
		names = make([]byte, shstr.size)
		if !preadFull(fd, names, int64(shstr.off)) {
			return nil, false
		}
	}
	if names[len(names)-1] != 0 {
		return nil, false
	}
	const (
		wModinfo = iota
		wKsymtabStrings
		wSymtab
		wStrtab
		wVersions
		nWanted
	)
	var want [nWanted]int
	for i := range want {
		want[i] = -1
	}
	for i := range v.secs {
		if uint64(nameOffs[i]) >= uint64(len(names)) {
			return nil, false
		}
		if i == 0 {
			continue
		}
		n := names[nameOffs[i]:]
		n = n[:bytes.IndexByte(n, 0)]
		w := -1
		switch string(n) {
		case ".modinfo":
			w = wModinfo
		case "__ksymtab_strings":
			w = wKsymtabStrings
		case ".symtab":
			w = wSymtab
		case ".strtab":
			w = wStrtab
		case "__versions":
			w = wVersions
		}
		if w >= 0 && want[w] < 0 {
			want[w] = i
		}
	}
	data, ok := r.readSections(fd, v.secs, want[:])
	if !ok {
		return nil, false
	}
	modinfo := data[wModinfo]
	if want[wKsymtabStrings] >= 0 {
		v.ksymtabStrings, v.hasKsymtabStrings = data[wKsymtabStrings], true
	}
	if i := want[wVersions]; i >= 0 && v.secs[i].fileSize()%64 == 0 {
		v.versions, v.hasVersions = data[wVersions], true
	}
	if st, ss := want[wStrtab], want[wSymtab]; st >= 0 && ss >= 0 && v.secs[ss].fileSize()%symEnt64 == 0 {
		v.strtab, v.symtab, v.ok = data[wStrtab], data[wSymtab], true
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

// readTail reads the file from off to its end into r.tail, growing the buffer (after an
// fstat) when the end is farther than one window. It returns the bytes and the file size.
func (r *reader) readTail(fd int, off uint64) ([]byte, uint64, bool) {
	buf := r.tail[:tailWindow]
	n, ok := preadMax(fd, buf, int64(off))
	if !ok {
		return nil, 0, false
	}
	if n < len(buf) {
		return buf[:n], off + uint64(n), true
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Size <= 0 || uint64(st.Size) < off || st.Size > ko.MaxDecompressedSize {
		return nil, 0, false
	}
	size := uint64(st.Size)
	if uint64(cap(r.tail)) < size-off {
		r.tail = make([]byte, size-off)
	}
	buf = r.tail[:size-off]
	if !preadFull(fd, buf, int64(off)) {
		return nil, 0, false
	}
	return buf, size, true
}

// readSections reads the wanted sections (indexes into secs, -1 for absent) into r.buf,
// one read per run of sections lying within a page of each other.
func (r *reader) readSections(fd int, secs []secInfo, want []int) ([][]byte, bool) {
	type span struct {
		w         int
		off, size uint64
	}
	var spans []span
	for w, i := range want {
		if i >= 0 && secs[i].fileSize() > 0 {
			spans = append(spans, span{w, secs[i].off, secs[i].size})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	// Group spans into reads, and size the buffer.
	total := uint64(0)
	for i := 0; i < len(spans); {
		start, end := spans[i].off, spans[i].off+spans[i].size
		j := i + 1
		for ; j < len(spans) && spans[j].off >= end && spans[j].off-end <= 4096; j++ {
			end = max(end, spans[j].off+spans[j].size)
		}
		total += end - start
		i = j
	}
	if uint64(cap(r.buf)) < total {
		r.buf = make([]byte, total+total/4)
	}
	buf := r.buf[:0]
	out := make([][]byte, len(want))
	for i := 0; i < len(spans); {
		start, end := spans[i].off, spans[i].off+spans[i].size
		j := i + 1
		for ; j < len(spans) && spans[j].off >= end && spans[j].off-end <= 4096; j++ {
			end = max(end, spans[j].off+spans[j].size)
		}
		at := len(buf)
		buf = buf[:at+int(end-start)]
		if !preadFull(fd, buf[at:], int64(start)) {
			return nil, false
		}
		for _, s := range spans[i:j] {
			p := at + int(s.off-start)
			out[s.w] = buf[p : p+int(s.size) : p+int(s.size)]
		}
		i = j
	}
	return out, true
}

func preadFull(fd int, b []byte, off int64) bool {
	n, ok := preadMax(fd, b, off)
	return ok && n == len(b)
}

// preadMax reads up to len(b) bytes at off, stopping early only at the end of the file.
func preadMax(fd int, b []byte, off int64) (int, bool) {
	done := 0
	for done < len(b) {
		n, err := unix.Pread(fd, b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, false
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, true
}
