// Package sysfile reads files with bare system calls. os.File registers each descriptor
// with the runtime's poller (four fcntl calls and an epoll_ctl per file, an epoll
// instance and an eventfd for the first) and allocates a finalizer; modprobe opens a
// handful of small files per run (configuration, indexes, /sys/module/*/initstate) and
// ends within milliseconds, so that set-up is a visible share of its time. Errors are
// *fs.PathError wrapping the errno, as os's.
package sysfile

import (
	"io/fs"
	"slices"

	"golang.org/x/sys/unix"
)

// ReadFile is os.ReadFile, into buf's storage when it is large enough: a caller may pass
// the previous file's bytes once it is done with them, so that reading a handful of
// small files touches one buffer. hint, when positive, is the first read's size instead
// of the file's size from fstat: sysfs attributes report 4096 bytes and hold a few.
func ReadFile(path string, buf []byte, hint int) ([]byte, error) {
	fd, err := Open(path, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	size := hint
	if size <= 0 {
		size = 4096
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Size >= int64(size) && st.Size < 1<<30 {
			size = int(st.Size) + 1 // one more byte, to see EOF without a second buffer
		}
	}
	b := buf[:0]
	if cap(b) < size {
		b = make([]byte, 0, size)
	}
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// Open opens path read-only and close-on-exec, with extra flags, retrying on EINTR as
// os does.
func Open(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// Stat is os.Stat's system call without the os.FileInfo (symbolic links followed).
func Stat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	for {
		err := unix.Stat(path, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return st, &fs.PathError{Op: "stat", Path: path, Err: err}
		}
		return st, nil
	}
}

// ReadDirNames lists a directory's entries but "." and "..", sorted by name, as
// os.ReadDir returns them.
func ReadDirNames(path string) ([]string, error) {
	fd, err := Open(path, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	// Small enough for the compiler to keep on the goroutine's stack without growing
	// it (8 KiB made the stack double and be copied), large enough for any entry.
	var buf [1024]byte
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: path, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	slices.Sort(names)
	return names, nil
}
