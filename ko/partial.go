package ko

import (
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// PartialReader reads a few chosen sections of uncompressed little-endian
// ELF64 modules (every module of an x86_64 tree) with a handful of preads,
// for tools that look at a few sections of thousands of files (modinfo wants
// only .modinfo and the signature). Mapping each file instead costs a page
// fault per touched page, plus mmap and munmap (a TLB shootdown each), which
// dominated such runs; reading the whole file costs a copy of every byte.
//
// A read takes the ELF header, then the file's end in one read (the signature
// trailer, the section table, and the section names that the linker places
// just before the table), then each wanted section that the end does not
// hold. The caller passes the file's size if a stat of its own gave it;
// otherwise the end read is repeated until it stops short at the end of the
// file, which gives the size without an fstat.
//
// It accepts a module only if Parse would, checking the same things of the
// section table (every section with file contents inside the module image,
// the name table inside it and NUL-terminated, every name offset inside the
// name table), and gives the same section contents and Signature as a File
// would. Anything else — compressed data, ELF32, big-endian, extended section
// numbering, a malformed signature trailer, a layout that would need more than
// a bounded read, a read error — makes Read return ok=false, so that the
// caller falls back to Open/Parse and reports exactly their errors.
//
// The zero value is ready to use. A PartialReader reuses its buffers from one
// Read to the next; it is not safe for concurrent use (use one per goroutine).
type PartialReader struct {
	hdr     [ehsize64]byte
	tail    []byte
	buf     []byte
	names   []byte
	secs    []partialSec
	idx     []int
	pending []int
	fd      fdReaderAt
	p       Partial
}

// Partial is what a PartialReader read of one module. It (the same value is
// returned by every Read) and every slice it hands out (section data,
// Signature's Raw and KeyID) live in the reader's buffers: they are valid
// until the reader's next Read, and must not be modified.
type Partial struct {
	// Name identifies the file in errors (as given to Read).
	Name string
	// Size is the file's size, signature trailer included.
	Size int64
	// Machine is the ELF header's e_machine.
	Machine uint16
	// Sections holds one entry per name asked for, in the order asked.
	Sections []PartialSection

	tail    []byte // the file from tailOff to its end
	tailOff int64
	ra      io.ReaderAt
	secs    []partialSec
}

// NumSections is the number of sections in the module's section table.
func (p *Partial) NumSections() int { return len(p.secs) }

// SectionData reads section i's contents, as Section.Data gives them, into new
// memory (Read checked that every section lies inside the module). It is for the
// odd section a caller finds it needs after Read, such as the one a CRC symbol
// points into; ok is false if i is out of range or the read fails.
func (p *Partial) SectionData(i int) ([]byte, bool) {
	if i < 0 || i >= len(p.secs) {
		return nil, false
	}
	s := p.secs[i]
	if dataSize(s) == 0 {
		return nil, true
	}
	if s.size > partialMaxSection {
		return nil, false
	}
	d := make([]byte, s.size)
	if n, ok := readMax(p.ra, d, int64(s.off)); !ok || n < len(d) {
		return nil, false
	}
	return d, true
}

// PartialSection is one section asked of PartialReader.Read.
type PartialSection struct {
	// Found reports whether the module has a section of that name (the first
	// one counts, as with File.Section).
	Found bool
	// Data is the section's contents, as Section.Data gives them: nil for
	// SHT_NOBITS, SHT_NULL and empty sections.
	Data []byte
}

// Signature decodes the appended signature, with the same results as
// File.Signature on the whole file.
func (p *Partial) Signature() (*Signature, error) {
	return signatureAt(p.Name, p.tail, int(p.tailOff))
}

// partialSec is the part of a section header the reader uses.
type partialSec struct {
	name      uint32
	typ       uint32
	off, size uint64
}

const (
	ehsize64 = 64
	shent64  = 64
	// partialLead is how far before the section table the end read starts, to
	// catch the section names (usually a few hundred bytes) in the same read.
	partialLead = 1 << 10
	// partialWindow is the first size of the end read: enough for the section
	// table of a typical module (50-80 sections), its names and a signature.
	partialWindow = 16 << 10
	// partialMaxTail bounds the end read; a module whose table and signature
	// are farther apart than that is left to the full reader.
	partialMaxTail = 4 << 20
	// partialMaxSection bounds one wanted section or the name table.
	partialMaxSection = 64 << 20
	// partialGap is how far apart two wanted sections may lie and still be read
	// together, the bytes between them read and dropped.
	partialGap = 4 << 10
)

// ReadFd is Read on an open file descriptor; the descriptor's offset is not
// used or moved.
func (r *PartialReader) ReadFd(fd int, size int64, name string, want ...string) (*Partial, bool) {
	r.fd = fdReaderAt(fd)
	return r.Read(&r.fd, size, name, want...)
}

// Read reads the sections called want (see PartialReader) from the module
// that ra reads, name being its name for errors; a name holding a NUL
// matches no section, as with File.Section. size is the file's size if
// the caller knows it (from a stat it made anyway), which saves the read that
// would find the end; -1 if not. ok=false means the module must be read by
// Open or Parse instead; Read never reports why, since their errors are the
// ones to show.
func (r *PartialReader) Read(ra io.ReaderAt, size int64, name string, want ...string) (p *Partial, ok bool) {
	le := binary.LittleEndian
	eh := r.hdr[:]
	if n, ok := readMax(ra, eh, 0); !ok || n < len(eh) {
		return nil, false
	}
	// parseHeader's checks, restricted to what this reader handles.
	if string(eh[:4]) != "\x7fELF" || eh[4] != elfClass64 || eh[5] != elfData2LSB {
		return nil, false
	}
	shoff, shentsize := le.Uint64(eh[40:]), le.Uint16(eh[58:])
	shnum, shstrndx := uint64(le.Uint16(eh[60:])), uint64(le.Uint16(eh[62:]))
	if shoff == 0 || shentsize != shent64 || shnum == 0 || shstrndx == shnXindex || shstrndx == shnUndef || shstrndx >= shnum {
		return nil, false
	}

	// The end of the file, from a little before the section table.
	tailOff := uint64(0)
	if shoff > partialLead {
		tailOff = shoff - partialLead
	}
	if tailOff > MaxDecompressedSize {
		return nil, false
	}
	var tail []byte
	if size >= 0 {
		if size > MaxDecompressedSize || uint64(size) <= tailOff || uint64(size)-tailOff > partialMaxTail {
			return nil, false // Open refuses a file that big (EFBIG); the rest is unusual
		}
		if tail, ok = r.readInto(&r.tail, ra, tailOff, uint64(size)-tailOff); !ok {
			return nil, false
		}
	} else {
		tail, ok = r.readTail(ra, int64(tailOff))
		if !ok || (len(tail) == 0 && tailOff > 0) { // nothing there: the size is unknown
			return nil, false
		}
		if tailOff+uint64(len(tail)) > MaxDecompressedSize { // Open refuses it (EFBIG)
			return nil, false
		}
	}
	fileSize := tailOff + uint64(len(tail))
	at := func(off, n uint64) []byte { // bytes of the file from the tail, if it holds them
		if off < tailOff || beyond(off-tailOff, n, uint64(len(tail))) {
			return nil
		}
		return tail[off-tailOff : off-tailOff+n : off-tailOff+n]
	}

	// The module image ends where a well-formed signature trailer starts, as in Parse.
	image := fileSize
	const trailerLen = uint64(len(SignatureMagic) + sigInfoSize)
	if uint64(len(tail)) < min(fileSize, trailerLen) {
		return nil, false
	}
	t, err := parseTrailerAt(tail, int(tailOff))
	if err != nil {
		return nil, false // Parse keeps the whole file as the image; Signature fails
	}
	if t != nil {
		image = uint64(t.imageLen)
	}

	// parseSections' checks, on the image.
	if image < ehsize64 || shnum > image/shent64 || beyond(shoff, shnum*shent64, image) {
		return nil, false
	}
	shdrs := at(shoff, shnum*shent64)
	if shdrs == nil {
		return nil, false
	}
	if uint64(cap(r.secs)) < shnum {
		r.secs = make([]partialSec, shnum)
	}
	secs := r.secs[:shnum]
	for i := range secs {
		h := shdrs[i*shent64 : (i+1)*shent64]
		s := partialSec{name: le.Uint32(h), typ: le.Uint32(h[4:]), off: le.Uint64(h[24:]), size: le.Uint64(h[32:])}
		if i > 0 && s.typ != SHTNobits && beyond(s.off, s.size, image) {
			return nil, false
		}
		secs[i] = s
	}
	shstr := secs[shstrndx]
	if shstr.typ == SHTNobits || shstr.size == 0 || beyond(shstr.off, shstr.size, image) {
		return nil, false
	}
	names := at(shstr.off, shstr.size)
	if names == nil {
		if names, ok = r.readInto(&r.names, ra, shstr.off, shstr.size); !ok {
			return nil, false
		}
	}
	if names[len(names)-1] != 0 {
		return nil, false
	}

	// Name every section (Parse rejects a name offset outside the table, for any
	// section) and find the wanted ones.
	out := &r.p
	*out = Partial{Name: name, Size: int64(fileSize), Machine: le.Uint16(eh[18:]), Sections: out.Sections[:0],
		tail: tail, tailOff: int64(tailOff), ra: ra, secs: secs}
	idx := r.idx[:0] // section index per wanted name; -1 not yet found, -2 never (a NUL in the name)
	for _, wn := range want {
		out.Sections = append(out.Sections, PartialSection{})
		if strings.IndexByte(wn, 0) >= 0 {
			idx = append(idx, -2)
		} else {
			idx = append(idx, -1)
		}
	}
	for i, s := range secs {
		if uint64(s.name) >= uint64(len(names)) {
			return nil, false
		}
		if i == 0 {
			continue
		}
		n := names[s.name:]
		for w, wn := range want {
			if idx[w] == -1 && len(n) > len(wn) && n[len(wn)] == 0 && string(n[:len(wn)]) == wn {
				idx[w] = i
			}
		}
	}

	r.idx = idx
	// The wanted sections' contents: from the tail if it holds them, else read.
	var extra uint64
	for _, i := range idx {
		if i >= 0 && dataSize(secs[i]) > 0 && at(secs[i].off, secs[i].size) == nil {
			if secs[i].size > partialMaxSection {
				return nil, false
			}
			extra += secs[i].size
		}
	}
	// The rest are read in file order, neighbours within partialGap of each other in
	// one read (.symtab and .strtab follow each other).
	pending := r.pending[:0]
	for w, i := range idx {
		if i < 0 {
			continue
		}
		s := secs[i]
		out.Sections[w].Found = true
		if dataSize(s) == 0 {
			continue
		}
		if d := at(s.off, s.size); d != nil {
			out.Sections[w].Data = d
			continue
		}
		pending = append(pending, w)
	}
	slices.SortFunc(pending, func(a, b int) int { return cmp.Compare(secs[idx[a]].off, secs[idx[b]].off) })
	r.pending = pending
	// group returns how many pending sections from the first are read together, and
	// the span of the file that read covers.
	group := func(pending []int) (n int, start, end uint64) {
		start, end = secs[idx[pending[0]]].off, secs[idx[pending[0]]].off+secs[idx[pending[0]]].size
		for n = 1; n < len(pending); n++ {
			s := secs[idx[pending[n]]]
			if s.off < end || s.off-end > partialGap {
				break
			}
			end = s.off + s.size
		}
		return n, start, end
	}
	total := uint64(0)
	for p := pending; len(p) > 0; {
		n, start, end := group(p)
		total += end - start
		p = p[n:]
	}
	if total > extra+uint64(len(pending))*partialGap {
		return nil, false // cannot happen: each gap is at most partialGap
	}
	if uint64(cap(r.buf)) < total {
		r.buf = make([]byte, total+total/4)
	}
	buf := r.buf[:0]
	for len(pending) > 0 {
		n, start, end := group(pending)
		at := len(buf)
		buf = buf[:at+int(end-start)]
		d := buf[at:]
		if got, ok := readMax(ra, d, int64(start)); !ok || got < len(d) {
			return nil, false
		}
		for _, w := range pending[:n] {
			s := secs[idx[w]]
			p := int(s.off - start)
			out.Sections[w].Data = d[p : p+int(s.size) : p+int(s.size)]
		}
		pending = pending[n:]
	}
	return out, true
}

// dataSize is how many bytes of the file a section holds, as Section.Data sees it.
func dataSize(s partialSec) uint64 {
	if s.typ == SHTNobits || s.typ == SHTNull {
		return 0
	}
	return s.size
}

// readTail reads from off to the end of the file into r.tail, growing the
// buffer while the reads come back full, up to partialMaxTail.
func (r *PartialReader) readTail(ra io.ReaderAt, off int64) ([]byte, bool) {
	if cap(r.tail) < partialWindow {
		r.tail = make([]byte, partialWindow)
	}
	buf := r.tail[:cap(r.tail)]
	got := 0
	for {
		n, ok := readMax(ra, buf[got:], off+int64(got))
		if !ok {
			return nil, false
		}
		got += n
		if got < len(buf) {
			return buf[:got], true
		}
		if len(buf) >= partialMaxTail {
			return nil, false
		}
		nb := make([]byte, 2*len(buf))
		copy(nb, buf)
		r.tail, buf = nb, nb
	}
}

// readInto reads n bytes at off into *b, reusing its storage.
func (r *PartialReader) readInto(b *[]byte, ra io.ReaderAt, off, n uint64) ([]byte, bool) {
	if n > partialMaxSection {
		return nil, false
	}
	if uint64(cap(*b)) < n {
		*b = make([]byte, max(n, partialWindow)) // room for the next file's, most often
	}
	d := (*b)[:n:n]
	if got, ok := readMax(ra, d, int64(off)); !ok || got < len(d) {
		return nil, false
	}
	return d, true
}

// readMax reads up to len(b) bytes at off, stopping early only at the end of
// the file; ok is false on any other error.
func readMax(ra io.ReaderAt, b []byte, off int64) (int, bool) {
	if off < 0 {
		return 0, false
	}
	n, err := ra.ReadAt(b, off)
	if n == len(b) || errors.Is(err, io.EOF) {
		return n, true
	}
	return n, false
}

// fdReaderAt is io.ReaderAt on a file descriptor, through pread, without the
// os.File machinery (which registers every file with the poller).
type fdReaderAt int

// ReadAt implements io.ReaderAt: it retries short reads and EINTR, and
// returns io.EOF with a short count at the end of the file.
func (fd *fdReaderAt) ReadAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Pread(int(*fd), b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}
