package ko

import (
	"bytes"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// NotRegularError reports a module path that names something other than a regular file:
// a FIFO, a character or block device, a directory or a socket. The kernel's
// kernel_read_file refuses all of them (finit_module: "if (!S_ISREG(...)) return
// -EINVAL"), so it unwraps to unix.EINVAL. Reading one instead could block forever (a FIFO
// nobody writes to) or never end (/dev/zero).
type NotRegularError struct {
	Path string
	Kind string // "FIFO", "character device", "block device", "directory", "socket"
}

// Error names the file and what it is.
func (e *NotRegularError) Error() string {
	return e.Path + ": not a regular file (a " + e.Kind + ")"
}

// Unwrap is the kernel's errno for such a file, EINVAL.
func (e *NotRegularError) Unwrap() error { return unix.EINVAL }

// FileKind names the file type in st_mode as NotRegularError does ("regular file" for
// S_IFREG).
func FileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFLNK:
		return "symbolic link"
	}
	return "file of unknown type"
}

// OpenRegular opens path for reading as a module file, without ever blocking: O_NONBLOCK
// keeps the open of a FIFO without a writer from waiting for one, O_NOCTTY keeps a
// terminal from becoming the controlling one, and the type is checked with fstat on the
// descriptor itself (no window between a stat and the open). Anything but a regular file
// is a *NotRegularError; open and fstat failures are *fs.PathError naming path. The
// descriptor stays O_NONBLOCK, which changes nothing for a regular file (finit_module
// accepts it as is).
func OpenRegular(path string) (*os.File, int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, 0, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, 0, &NotRegularError{Path: path, Kind: FileKind(st.Mode)}
	}
	return os.NewFile(uintptr(fd), path), st.Size, nil
}

// ReadFile reads the regular file at path whole, as the kernel's kernel_read_file reads
// a module for finit_module: never blocking (see OpenRegular), and at most
// MaxDecompressedSize bytes (more is an EFBIG *FormatError). It does not decompress.
func ReadFile(path string) ([]byte, error) {
	f, size, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, path, size)
}

// readAll reads an opened regular file of about size bytes, bounded.
func readAll(f *os.File, path string, size int64) ([]byte, error) {
	if size > MaxDecompressedSize {
		return nil, errnoErr(path, efbig, "file is %d bytes, more than the %d accepted", size, MaxDecompressedSize)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxDecompressedSize+1)); err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if buf.Len() > MaxDecompressedSize {
		return nil, errnoErr(path, efbig, "file is more than the %d bytes accepted", MaxDecompressedSize)
	}
	return buf.Bytes(), nil
}
