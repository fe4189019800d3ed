package depmod

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// statter makes fstatat calls without the Go scheduler's system-call bookkeeping
// (entersyscall/exitsyscall, and the hand-off of the processor that sysmon starts when a
// call looks slow): on a warm dentry cache each returns in a few microseconds, and depmod
// -A makes one per file of the tree, as kmod does. It reuses one buffer for the names.
type statter struct{ name []byte }

func (s *statter) fstatat(dfd int, name string, st *unix.Stat_t) error {
	s.name = append(append(s.name[:0], name...), 0)
	_, _, e := unix.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(dfd), uintptr(unsafe.Pointer(&s.name[0])),
		uintptr(unsafe.Pointer(st)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// readFile is os.ReadFile without an os.File: the first os.File a process opens starts
// the runtime's network poller (epoll_create1, an eventfd, and an epoll_ctl that fails
// for every regular file), which depmod, reading only regular files, never needs. Errors
// are the bare errno, as strerror prints them.
func readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	// The size is a guess (files in /proc and /sys report 0 or 4096): read to the end.
	b := make([]byte, 0, max(int(st.Size), 512)+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
