// Package kmod is gokmod's library face for real kernels: insert and remove modules and
// read what is loaded, as libkmod does. The system calls sit behind the System interface
// and every path goes through a root prefix, so tests can run on fixtures without a kernel.
package kmod

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"gokmod/ko"
)

// Flags of finit_module(2) (include/uapi/linux/module.h).
const (
	InitIgnoreModversions = 1 // MODULE_INIT_IGNORE_MODVERSIONS
	InitIgnoreVermagic    = 2 // MODULE_INIT_IGNORE_VERMAGIC
	InitCompressedFile    = 4 // MODULE_INIT_COMPRESSED_FILE
)

// System is the kernel's module system-call interface.
type System interface {
	// FinitModule is finit_module(2): the kernel reads the module from fd.
	FinitModule(fd int, params string, flags int) error
	// InitModule is init_module(2): the module image comes from user memory.
	InitModule(image []byte, params string) error
	// DeleteModule is delete_module(2); flags are O_NONBLOCK, O_TRUNC.
	DeleteModule(name string, flags int) error
}

// Linux is the running kernel's System.
type Linux struct{}

// FinitModule calls finit_module(2), again when a signal interrupted it (see
// retryEINTR).
func (Linux) FinitModule(fd int, params string, flags int) error {
	return retryEINTR(func() error { return unix.FinitModule(fd, params, flags) })
}

// InitModule calls init_module(2), again when a signal interrupted it.
func (Linux) InitModule(image []byte, params string) error {
	return retryEINTR(func() error { return unix.InitModule(image, params) })
}

// retryEINTR repeats call while it fails with EINTR. Since 6.11 (2124d84db293 "module:
// make waiting for a concurrent module loader interruptible", also in 6.10.y) a
// finit_module that waits for a concurrent load of the same file (9b9879fc0327, 6.5)
// returns -EINTR, not a restartable error, on any signal; a Go program gets signals a C
// program like kmod does not (the runtime's preemption, SIGURG). Called again, the load
// either waits once more or finds the module loaded (EEXIST, which modprobe counts as
// done), as kmod would had it come a moment later.
func retryEINTR(call func() error) error {
	for {
		if err := call(); err != unix.EINTR {
			return err
		}
	}
}

// DeleteModule calls delete_module(2).
func (Linux) DeleteModule(name string, flags int) error {
	return unix.DeleteModule(name, flags)
}

// Host is where the kernel's view lives: /proc, /sys and /lib/modules under Root ("" or
// "/" for the real system), talking to the kernel through Sys.
type Host struct {
	Root    string
	Sys     System
	Release string // kernel release for /lib/modules; "" means uname -r

	// KernelDecompresses, when set, answers in place of /sys/module/compression whether
	// the kernel undoes compression c itself (the model's tools set it for a kernel that
	// is not the running one).
	KernelDecompresses func(c ko.Compression) bool

	// ZstdNeedsContentSize refuses, as kmod 34's libkmod does, a .ko.zst that must be
	// decompressed in user space and whose frame does not record its content size
	// (ko.ZstdKnowsContentSize); kmod 30 reads it.
	ZstdNeedsContentSize bool
	// NoKmsg leaves /dev/kmsg alone during Insert: Sys logs nothing there (a model).
	NoKmsg bool
}

// NewHost returns the running system.
func NewHost() *Host { return &Host{Sys: Linux{}} }

// Path maps an absolute path of the target system into Root.
func (h *Host) Path(p string) string {
	if h.Root == "" || h.Root == "/" {
		return p
	}
	return filepath.Join(h.Root, p)
}

// KernelRelease is Release, or uname -r of the running kernel.
func (h *Host) KernelRelease() string {
	if h.Release != "" {
		return h.Release
	}
	if b, err := os.ReadFile(h.Path("/proc/sys/kernel/osrelease")); err == nil {
		return string(trimNL(b))
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		return unix.ByteSliceToString(u.Release[:])
	}
	return ""
}

// ModulesDir is /lib/modules/RELEASE.
func (h *Host) ModulesDir() string { return h.Path("/lib/modules/" + h.KernelRelease()) }

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}
