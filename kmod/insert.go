package kmod

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/ko"
)

// InsertFlags ask the kernel to skip checks, as insmod -f does.
type InsertFlags int

// The force flags of kmod_module_insert_module.
const (
	ForceVermagic   InsertFlags = 1 << iota // ignore the vermagic string
	ForceModversion                         // ignore the symbol versions (CRCs)
)

// Insertion says how a module went to the kernel and what the kernel logged meanwhile.
type Insertion struct {
	Syscall     string // "finit_module" or "init_module"
	Flags       int    // finit_module flags
	Compression ko.Compression
	Kmsg        []KmsgRecord
}

// InsertError is a failed insertion. It unwraps to the errno, so
// errors.Is(err, unix.ENOENT) works.
type InsertError struct {
	Path string
	Op   string // "open": the file could not be used; otherwise the system call that failed
	Err  error
	Insertion
}

func (e *InsertError) Error() string { return e.Path + ": " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the errno or the file error.
func (e *InsertError) Unwrap() error { return e.Err }

// Insert loads the module file at path with the given parameter string, as libkmod's
// kmod_module_insert_module does: finit_module on the file first; init_module on the
// bytes when finit_module is missing (ENOSYS) or the file is compressed in a way the
// kernel cannot undo itself (it must name the algorithm in /sys/module/compression).
// The force flags become finit_module flags, or are applied to the image in user space
// (strip __versions, strip vermagic) on the init_module path.
func (h *Host) Insert(path, params string, flags InsertFlags) (*Insertion, error) {
	// Opened with ko.OpenRegular's O_NONBLOCK, so that a FIFO named as a module cannot
	// block insmod for ever (kmod's insmod waits in open); a directory is still opened,
	// for kmod's "Is a directory" from the read below.
	f, _, err := ko.OpenRegular(path)
	var nr *ko.NotRegularError
	if errors.As(err, &nr) && nr.Kind == "directory" {
		f, err = os.Open(path)
	}
	if err != nil {
		if nr != nil && nr.Kind != "directory" {
			// What finit_module would answer (kernel_read_file's S_ISREG check).
			err = &fileError{strings.TrimPrefix(nr.Error(), path+": "), unix.EINVAL}
		}
		return nil, &InsertError{Path: path, Op: "open", Err: err}
	}
	defer f.Close()
	var magic [6]byte
	n, err := io.ReadFull(f, magic[:])
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return nil, &InsertError{Path: path, Op: "open", Err: err}
	}
	if n < len(magic) {
		return nil, &InsertError{Path: path, Op: "open", Err: &fileError{fmt.Sprintf("file too short to be a kernel module (%d bytes)", n), unix.EINVAL}}
	}
	ins := Insertion{Compression: ko.DetectCompression(magic[:])}
	kflags := 0
	if flags&ForceVermagic != 0 {
		kflags |= InitIgnoreVermagic
	}
	if flags&ForceModversion != 0 {
		kflags |= InitIgnoreModversions
	}
	direct := ins.Compression == ko.None
	if !direct && h.kernelDecompresses(ins.Compression) {
		direct = true
		kflags |= InitCompressedFile
	}
	if direct {
		ins.Syscall, ins.Flags = "finit_module", kflags
		w := h.watchKmsg()
		err = h.Sys.FinitModule(int(f.Fd()), params, kflags)
		ins.Kmsg = w.drain()
		if err == nil {
			return &ins, nil
		}
		if !errors.Is(err, unix.ENOSYS) {
			return &ins, &InsertError{Path: path, Op: ins.Syscall, Err: err, Insertion: ins}
		}
	}

	// init_module: the image comes from us, decompressed and stripped as needed.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, &InsertError{Path: path, Op: "open", Err: err}
	}
	img, err := io.ReadAll(f)
	if err != nil {
		return nil, &InsertError{Path: path, Op: "open", Err: err}
	}
	if ins.Compression == ko.Zstd && h.ZstdNeedsContentSize && !ko.ZstdKnowsContentSize(img) {
		return nil, &InsertError{Path: path, Op: "open", Err: ErrZstdContentSize}
	}
	if ins.Compression != ko.None {
		if img, _, err = ko.Decompress(img); err != nil {
			return nil, &InsertError{Path: path, Op: "open", Err: &fileError{err.Error(), unix.ENOEXEC}}
		}
	}
	if flags&ForceModversion != 0 {
		if s, err := ko.StripSection(img, "__versions"); err == nil {
			img = s
		}
	}
	if flags&ForceVermagic != 0 {
		if s, err := ko.StripVermagic(img); err == nil {
			img = s
		}
	}
	ins.Syscall, ins.Flags = "init_module", 0
	w := h.watchKmsg()
	err = h.Sys.InitModule(img, params)
	ins.Kmsg = w.drain()
	if err != nil {
		return &ins, &InsertError{Path: path, Op: ins.Syscall, Err: err, Insertion: ins}
	}
	return &ins, nil
}

// ErrZstdContentSize is kmod 34's refusal of a .ko.zst whose frame does not record its
// decompressed size (Host.ZstdNeedsContentSize), in libkmod's words; it unwraps to EINVAL.
var ErrZstdContentSize error = &fileError{"zstd: Failed to determine decompression size", unix.EINVAL}

// fileError is a problem with the file found before any system call. It reads as the
// problem alone and unwraps to the errno libkmod would have returned.
type fileError struct {
	msg   string
	errno unix.Errno
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.errno }

// kernelDecompresses reports whether the kernel can take this compression with
// MODULE_INIT_COMPRESSED_FILE: CONFIG_MODULE_DECOMPRESS publishes its algorithm in
// /sys/module/compression.
func (h *Host) kernelDecompresses(c ko.Compression) bool {
	if h.KernelDecompresses != nil {
		return h.KernelDecompresses(c)
	}
	b, err := os.ReadFile(h.Path("/sys/module/compression"))
	return err == nil && strings.TrimSpace(string(b)) == c.String()
}

// Remove unloads a module: delete_module with O_NONBLOCK, plus O_TRUNC when forced
// (kmod_module_remove_module).
func (h *Host) Remove(name string, force bool) error {
	flags := unix.O_NONBLOCK
	if force {
		flags |= unix.O_TRUNC
	}
	return h.Sys.DeleteModule(name, flags)
}
