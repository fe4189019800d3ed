package ko

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// FormatError reports a module file that cannot be read as a kernel module.
// It unwraps to an errno (unix.ENOEXEC unless stated otherwise) so callers
// that model the kernel or kmod can hand the same code to the user that
// load_module or libkmod would, and to the underlying cause, if any.
type FormatError struct {
	Path  string     // file name as given to Parse or Open
	Msg   string     // what is wrong, naming offsets and sizes where useful
	Errno unix.Errno // 0 means unix.ENOEXEC
	Err   error      // underlying cause (e.g. a decompressor's error), may be nil
}

// Error names the file first, as kmod's messages do, so it reads
// "llc.ko: section ... extends past the end of the file".
func (e *FormatError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Unwrap exposes both the errno and the cause to errors.Is and errors.As.
func (e *FormatError) Unwrap() []error {
	errno := e.Errno
	if errno == 0 {
		errno = unix.ENOEXEC
	}
	if e.Err != nil {
		return []error{errno, e.Err}
	}
	return []error{errno}
}

// formatErr builds an ENOEXEC FormatError; used for every structural problem.
func formatErr(path, format string, args ...any) *FormatError {
	return &FormatError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// errnoErr builds a FormatError carrying a specific errno (EBADMSG for a bad
// signature trailer, ENOENT for a missing section, as the kernel and kmod do).
func errnoErr(path string, errno unix.Errno, format string, args ...any) *FormatError {
	return &FormatError{Path: path, Msg: fmt.Sprintf(format, args...), Errno: errno}
}

// ErrNoSection is the cause wrapped by StripSection's error for a section
// the file lacks; that error also matches unix.ENOENT, kmod's -ENOENT.
var ErrNoSection = errors.New("no such section")

// efbig marks output refused for its size, as the kernel's module_decompress
// does when a module would not fit.
const efbig = unix.EFBIG
