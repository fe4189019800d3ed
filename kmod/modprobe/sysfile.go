package modprobe

import (
	"io/fs"
	"slices"

	"golang.org/x/sys/unix"
)

// readFile is os.ReadFile with a bare descriptor. A probe reads or misses
// /sys/module/NAME/initstate for every module of the list, often several times; os.File
// would add poller registration (fcntl, epoll_ctl) and a finalizer to each open, set-up
// that shows in a dry run of a few milliseconds. Errors are *fs.PathError wrapping the
// errno, as os's.
func readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 64) // sysfs attributes are small and report a size of 4096
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

// stat is os.Stat's system call without the os.FileInfo.
func stat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Stat(path, &st)
	for err == unix.EINTR {
		err = unix.Stat(path, &st)
	}
	if err != nil {
		return st, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return st, nil
}
