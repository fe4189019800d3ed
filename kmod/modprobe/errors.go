package modprobe

import (
	"errors"

	"golang.org/x/sys/unix"

	"gokmod/kmod"
)

// ErrNotFound is returned (wrapped in *Error) when a name resolves to no module; it
// matches unix.ENOENT too.
var ErrNotFound = &notFound{}

type notFound struct{}

func (*notFound) Error() string        { return "module not found" }
func (*notFound) Is(target error) bool { return target == unix.ENOENT }

// Error is a failed operation on a module. It unwraps to the cause: an errno
// (unix.EEXIST, unix.EBUSY, ...), a *kmod.InsertError carrying the kernel's log lines
// (which itself unwraps to the errno), or a *CommandError.
type Error struct {
	Op     string // "resolve", "insert", "remove"
	Module string
	Err    error
}

func (e *Error) Error() string { return e.Op + " " + e.Module + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errno returns the errno at the bottom of err (0 if there is none), as kmod's negative
// return values carry it.
func Errno(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var ce *CommandError
	if errors.As(err, &ce) {
		return unix.EINVAL
	}
	if errors.Is(err, unix.ENOENT) {
		return unix.ENOENT
	}
	return 0
}

// KernelLog returns the kernel's log lines recorded while a failed load ran (the real
// reason, such as "Unknown symbol"), if err carries them.
func KernelLog(err error) []kmod.KmsgRecord {
	var ie *kmod.InsertError
	if errors.As(err, &ie) {
		return ie.Kmsg
	}
	return nil
}
