package config

import (
	"io/fs"
	"slices"

	"golang.org/x/sys/unix"
)

// The helpers below read files with bare system calls. os.File would register each
// descriptor with the runtime's poller (four fcntl calls and an epoll_ctl per file, an
// epoll instance and an eventfd for the first) and allocate a finalizer; modprobe opens
// a handful of small files per run and ends within milliseconds, so that set-up is a
// visible share of its time. Errors are *fs.PathError wrapping the errno, as os's.

// readFile is os.ReadFile, into buf's storage when it is large enough: the caller
// may pass the previous file's bytes once it is done with them, so that reading a
// handful of small files touches one buffer.
func readFile(path string, buf []byte) ([]byte, error) {
	fd, err := openRead(path, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	size := 4096
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Size >= int64(size) && st.Size < 1<<30 {
		size = int(st.Size) + 1 // one more byte, to see EOF without a second buffer
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

// openRead opens path read-only and close-on-exec, retrying on EINTR as os does.
func openRead(path string, flags int) (int, error) {
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

// statMode is stat(2)'s st_mode for path (symbolic links followed, as os.Stat).
func statMode(path string) (uint32, error) {
	var st unix.Stat_t
	for {
		err := unix.Stat(path, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "stat", Path: path, Err: err}
		}
		return st.Mode, nil
	}
}

func isDirMode(mode uint32) bool { return mode&unix.S_IFMT == unix.S_IFDIR }

// readDirNames lists a directory's entries but "." and "..", sorted by name, as
// os.ReadDir returns them.
func readDirNames(path string) ([]string, error) {
	fd, err := openRead(path, unix.O_DIRECTORY)
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
