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
