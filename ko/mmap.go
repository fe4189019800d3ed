package ko

import (
	"io/fs"
	"math"

	"golang.org/x/sys/unix"
)

// OpenMapped is Open for callers that read a few sections of many files (modinfo,
// depmod): an uncompressed module is mapped rather than read, so only the pages actually
// touched (headers, .modinfo, the signature trailer) come from the disk or page cache, as
// with libkmod's mmap. Compressed files are read and decompressed as by Open. The File
// must be Closed, and not used afterwards.
func OpenMapped(path string) (*File, error) {
	// Raw system calls: os.Open would also try to register each file with the poller,
	// which is a measurable part of reading thousands of them.
	// O_NONBLOCK and O_NOCTTY: a FIFO or a terminal named as a module must not block or
	// be adopted (see OpenRegular).
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return nil, &fs.PathError{Op: "open", Path: path, Err: unix.EISDIR}
	default:
		return nil, &NotRegularError{Path: path, Kind: FileKind(st.Mode)}
	}
	size := st.Size
	// Any size is mapped, as kmod maps every module file (load_reg): a file of gigabytes
	// named like a module then costs the pages parsed, not a read of it all. Only a
	// compressed one is bounded by MaxDecompressedSize (Open says so).
	if size < 6 || uint64(size) > uint64(math.MaxInt) {
		return Open(path)
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return Open(path)
	}
	if DetectCompression(data) != None {
		unix.Munmap(data)
		return Open(path)
	}
	f, err := Parse(path, data)
	if err != nil {
		unix.Munmap(data)
		return nil, err
	}
	f.unmap = func() error { return unix.Munmap(data) }
	return f, nil
}

// Close releases a mapping made by OpenMapped; it does nothing for other Files.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap = nil
	return err
}
