package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Errors a reader reports. They are wrapped with the file name and offset, so test with
// errors.Is.
var (
	// ErrNotIndex means the header is not kmod's: wrong magic, wrong major version, or
	// shorter than a header. libkmod refuses such files the same way.
	ErrNotIndex = errors.New("not a kmod index")
	// ErrCorrupt means a node reference or node runs outside the file, or the trie is not
	// a tree (a cycle or a shared node), or a key is implausibly long.
	ErrCorrupt = errors.New("corrupt kmod index")
	// ErrClosed means the Index was used after Close unmapped it.
	ErrClosed = errors.New("kmod index is closed")
)

// HeaderError is a file refused by its header, as libkmod's index_mm_open refuses it:
// shorter than the header, a magic that is not Magic, or a major version other than
// Version's. It unwraps to ErrNotIndex.
type HeaderError struct {
	Path    string
	Size    int64  // the file's size
	Magic   uint32 // the header's words, read big-endian; zero when Size is short
	Version uint32
}

// Short reports a file too short to hold the header (libkmod refuses it without a word).
func (e *HeaderError) Short() bool { return e.Size < headerSize }

// BadMagic reports a header whose magic is not kmod's.
func (e *HeaderError) BadMagic() bool { return !e.Short() && e.Magic != Magic }

// MajorVersion is the header's major version (libkmod checks only that half).
func (e *HeaderError) MajorVersion() uint32 { return e.Version >> 16 }

// Reason says what is wrong with the header, in words.
func (e *HeaderError) Reason() string {
	switch {
	case e.Short():
		return fmt.Sprintf("%d bytes is shorter than the header", e.Size)
	case e.BadMagic():
		return fmt.Sprintf("magic %#08x, want %#08x", e.Magic, Magic)
	}
	return fmt.Sprintf("major version %d, want %d", e.MajorVersion(), versionMajor)
}

func (e *HeaderError) Error() string { return e.Path + ": " + ErrNotIndex.Error() + ": " + e.Reason() }

// Unwrap makes errors.Is(err, ErrNotIndex) hold.
func (e *HeaderError) Unwrap() error { return ErrNotIndex }

// maxKeyLen bounds the keys a reader will assemble. depmod's keys come from PATH_MAX
// buffers (module names, normalized aliases, "symbol:" plus a symbol name), so a longer
// path through the trie can only come from a hostile file; the bound keeps wildcard
// matching on such a file from going quadratic without limit.
const maxKeyLen = 8192

// Index is an opened binary index. It is safe for concurrent readers; Close must not
// race with them.
type Index struct {
	name   string // for error messages: the path, or "index" for Parse
	data   []byte
	root   uint32
	mapped bool
}

// Parse reads an index held in memory. data is used in place and must stay unchanged
// while the Index is in use.
func Parse(data []byte) (*Index, error) {
	return parse("index", data, false)
}

// Open maps the index file at path, as libkmod's index_mm_open does, falling back to
// reading it when it cannot be mapped. Close releases it. Errors are *fs.PathError
// wrapping the errno, as from os.Open.
//
// The descriptor is a bare one, not an os.File: that would register it with the
// runtime's poller (fcntl and epoll_ctl calls) and set a finalizer, set-up that shows
// in a modprobe run of a few milliseconds which opens three to five indexes.
func Open(path string) (*Index, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	size := st.Size
	if size < headerSize {
		return nil, &HeaderError{Path: path, Size: size}
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err == nil {
		ix, perr := parse(path, data, true)
		if perr != nil {
			_ = unix.Munmap(data)
		}
		return ix, perr
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data, false)
}

func parse(name string, data []byte, mapped bool) (*Index, error) {
	if len(data) < headerSize {
		return nil, &HeaderError{Path: name, Size: int64(len(data))}
	}
	m, v := binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])
	if m != Magic || v>>16 != versionMajor {
		return nil, &HeaderError{Path: name, Size: int64(len(data)), Magic: m, Version: v}
	}
	return &Index{name: name, data: data, root: binary.BigEndian.Uint32(data[8:]), mapped: mapped}, nil
}

// Close releases the mapping. Values already returned stay valid: they are copies.
func (ix *Index) Close() error {
	data := ix.data
	ix.data = nil
	if ix.mapped && data != nil {
		ix.mapped = false
		return unix.Munmap(data)
	}
	return nil
}

// Root returns the root node reference from the header, flags included. kmod ≥ 34 puts
// the root at offset 12 (pre-order); older depmods put it last (post-order).
func (ix *Index) Root() uint32 { return ix.root }

// node is one decoded trie node. Children and values are decoded lazily from data.
type node struct {
	off      int    // file offset, for messages and cycle checks
	prefix   []byte // path-compressed key bytes, in place in data (no copy per node)
	first    byte   // child range, valid when hasKids
	last     byte
	hasKids  bool
	kidsOff  int // offset of the child reference table
	nValues  int
	valueOff int // offset of the first value
}

func (ix *Index) corrupt(off int, format string, args ...any) error {
	return fmt.Errorf("%s: %w: node at %#x: %s", ix.name, ErrCorrupt, off, fmt.Sprintf(format, args...))
}

// readNode decodes the node a reference points to. ok is false for the null reference
// (offset 0), which marks an absent child or an empty index.
func (ix *Index) readNode(ref uint32) (n node, ok bool, err error) {
	data := ix.data
	if data == nil {
		return node{}, false, ErrClosed
	}
	off := int(ref & offsetMask)
	if off == 0 {
		return node{}, false, nil
	}
	n.off = off
	if off > len(data) {
		return node{}, false, ix.corrupt(off, "beyond the end of the %d-byte file", len(data))
	}
	p := off
	if ref&flagPrefix != 0 {
		end := indexByte(data, p)
		if end < 0 {
			return node{}, false, ix.corrupt(off, "unterminated prefix")
		}
		n.prefix = data[p:end:end]
		p = end + 1
	}
	if ref&flagChilds != 0 {
		if p+2 > len(data) {
			return node{}, false, ix.corrupt(off, "child range runs past the end")
		}
		n.first, n.last = data[p], data[p+1]
		if n.first > n.last || n.last >= childMax {
			return node{}, false, ix.corrupt(off, "child range %#x..%#x", n.first, n.last)
		}
		n.hasKids = true
		n.kidsOff = p + 2
		p = n.kidsOff + 4*(int(n.last)-int(n.first)+1)
		if p > len(data) {
			return node{}, false, ix.corrupt(off, "child table runs past the end")
		}
	}
	if ref&flagValues != 0 {
		if p+4 > len(data) {
			return node{}, false, ix.corrupt(off, "value count runs past the end")
		}
		count := binary.BigEndian.Uint32(data[p:])
		p += 4
		// Each value takes at least 5 bytes: a priority and a NUL.
		if uint64(count)*5 > uint64(len(data)-p) {
			return node{}, false, ix.corrupt(off, "%d values cannot fit", count)
		}
		n.nValues = int(count)
		n.valueOff = p
	}
	return n, true, nil
}

// child returns the reference of the child for key byte ch, or 0.
func (ix *Index) child(n *node, ch byte) uint32 {
	if !n.hasKids || ch < n.first || ch > n.last {
		return 0
	}
	return binary.BigEndian.Uint32(ix.data[n.kidsOff+4*int(ch-n.first):])
}

// values decodes the node's values in file order (depmod writes them sorted).
func (ix *Index) values(n *node) ([]Value, error) {
	if n.nValues == 0 {
		return nil, nil
	}
	data := ix.data
	out := make([]Value, 0, n.nValues)
	p := n.valueOff
	for i := 0; i < n.nValues; i++ {
		if p+4 > len(data) {
			return nil, ix.corrupt(n.off, "value %d runs past the end", i)
		}
		prio := binary.BigEndian.Uint32(data[p:])
		p += 4
		end := indexByte(data, p)
		if end < 0 {
			return nil, ix.corrupt(n.off, "value %d is unterminated", i)
		}
		out = append(out, Value{Priority: prio, Value: string(data[p:end])})
		p = end + 1
	}
	return out, nil
}

// indexByte returns the position of the first NUL at or after p, or -1.
func indexByte(data []byte, p int) int {
	if i := bytes.IndexByte(data[p:], 0); i >= 0 {
		return p + i
	}
	return -1
}
