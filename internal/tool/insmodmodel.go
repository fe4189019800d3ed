package tool

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"

	"gokmod/kmod"
	"gokmod/ko"
	"gokmod/load"
)

// What explain and check predict (--syscall): what the insmod tool does, by default, or
// one raw system call.
const (
	callInsmod = "insmod" // gokmod insmod FILE: finit_module first, its fallbacks
	callFinit  = "finit"  // finit_module on the file (MODULE_INIT_COMPRESSED_FILE by suffix)
	callInit   = "init"   // init_module with the file's bytes as they are
)

// syscallHelp is the --syscall part of explain's and check's --help.
const syscallHelp = "\t--syscall finit|init  predict one raw system call: finit_module on the file (with\n" +
	"\t                  MODULE_INIT_COMPRESSED_FILE for .gz/.xz/.zst), or init_module with the\n" +
	"\t                  file's bytes. By default the prediction is for gokmod insmod (kmod's insmod\n" +
	"\t                  does the same): finit_module, or for a compressed file the kernel cannot\n" +
	"\t                  decompress (the host's /sys/module/compression; otherwise the target's\n" +
	"\t                  CONFIG_MODULE_DECOMPRESS and CONFIG_MODULE_COMPRESS_*) decompression in user\n" +
	"\t                  space and init_module; init_module again when finit_module is ENOSYS\n"

// checkSyscall validates --syscall's argument.
func checkSyscall(mode string, force bool) error {
	switch mode {
	case callInsmod, callFinit:
		return nil
	case callInit:
		if force {
			return errors.New("-f: init_module takes no flags (insmod -f strips __versions and vermagic: leave out --syscall)")
		}
		return nil
	}
	return fmt.Errorf("--syscall %s: want finit or init", mode)
}

// predictLoad predicts loading the module file at path on m, as mode says. For insmod,
// the result is the last system call's, with the insmod's own steps in the trace and the
// log lines of every call; a file insmod refuses before any system call (too short, not
// a regular file, compressed data it cannot read) is insmod's verdict, with its reason
// as the last step. err, as for modelFinit, is a path user space cannot even open (no
// such file, a symbolic link loop, a socket, no permission): not a verdict.
func (t *modelTarget) predictLoad(m *load.Model, mode, path, params string, force bool) (*load.Result, error) {
	switch mode {
	case callInit:
		img, err := ko.ReadFile(path)
		var nr *ko.NotRegularError
		switch {
		case errors.As(err, &nr):
			// init_module needs the bytes in user space: nothing to call the kernel with.
			return userSpaceRefusal(m, nil, "read", fmt.Sprintf("not a regular file (a %s)", nr.Kind), unix.EINVAL), nil
		case err != nil:
			return nil, err
		}
		return m.InitModule(img, params), nil
	case callFinit:
		var flags load.Flags
		if force {
			flags = load.IgnoreModversions | load.IgnoreVermagic
		}
		if isCompressedName(path) {
			flags |= load.CompressedFile
		}
		return modelFinit(m, path, params, flags)
	}
	sys := &modelSys{m: m}
	h := &kmod.Host{Root: t.root, Sys: sys, NoKmsg: true}
	decomp := "/sys/module/compression"
	if !t.Host {
		alg := t.K.Config.Decompress()
		h.KernelDecompresses = func(c ko.Compression) bool { return alg != "" && c.String() == alg }
		decomp = "CONFIG_MODULE_DECOMPRESS: " + alg
		if alg == "" {
			decomp = "no CONFIG_MODULE_DECOMPRESS"
		}
	}
	var flags kmod.InsertFlags
	if force {
		flags = kmod.ForceVermagic | kmod.ForceModversion
	}
	ins, err := h.Insert(path, params, flags)
	var ie *kmod.InsertError
	if errors.As(err, &ie) && ie.Op == "open" {
		var pe *fs.PathError
		if errors.As(ie.Err, &pe) && (pe.Op == "open" || pe.Op == "stat") {
			return nil, pe
		}
		// insmod stopped before any system call, with its own reason.
		return userSpaceRefusal(m, sys, "", ie.Err.Error(), errnoOf(ie.Err)), nil
	}
	if len(sys.calls) == 0 {
		return nil, fmt.Errorf("%s: no system call made: %w", path, err)
	}
	if ins != nil && ins.Compression != ko.None {
		first := &sys.calls[0]
		if first.syscall == "finit_module" {
			first.why = fmt.Sprintf("%s-compressed, and the kernel decompresses it (%s): ", ins.Compression, decomp)
		} else {
			first.why = fmt.Sprintf("%s-compressed, and the kernel does not decompress it (%s): decompressed in user space, ", ins.Compression, decomp)
		}
	}
	last := sys.calls[len(sys.calls)-1].res
	out := *last
	out.Trace, out.Log, out.Uncertain = sys.trace(), nil, nil
	for _, c := range sys.calls {
		out.Log = append(out.Log, c.res.Log...)
		out.Uncertain = append(out.Uncertain, c.res.Uncertain...)
	}
	return &out, nil
}

// userSpaceRefusal is the result of a load user space gave up before any system call:
// the steps so far (sys may be nil), then the reason, as an "insmod" step.
func userSpaceRefusal(m *load.Model, sys *modelSys, what, why string, errno unix.Errno) *load.Result {
	r := &load.Result{Err: errno, Taint: m.Taint(), Relocs: map[string]int{}}
	if sys != nil {
		r.Trace = sys.trace()
	}
	if what != "" {
		why = what + ": " + why
	}
	r.Trace = append(r.Trace, load.Step{Func: "insmod", Note: why, Errno: errno})
	return r
}

// errnoOf is the errno err wraps, EIO if none.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EIO
}

// modelSys is the kmod.System of a model: kmod's Insert, the code gokmod insmod runs,
// makes its system calls into the model.
type modelSys struct {
	m     *load.Model
	calls []modelCall
}

// modelCall is one system call Insert made, and what the model predicted.
type modelCall struct {
	syscall, why string
	flags        int
	size         int
	res          *load.Result
}

// trace is the insmod's steps with each call's kernel trace after its own.
func (s *modelSys) trace() []load.Step {
	var out []load.Step
	for i, c := range s.calls {
		note := fmt.Sprintf("%s%s(%d bytes, flags %#x)", c.why, c.syscall, c.size, c.flags)
		if c.syscall == "init_module" {
			note = fmt.Sprintf("%sinit_module(%d bytes)", c.why, c.size)
		}
		if i > 0 && errors.Is(s.calls[i-1].res.Err, unix.ENOSYS) {
			note = "finit_module is ENOSYS: falling back to " + note
		}
		out = append(out, load.Step{Func: "insmod", Note: note})
		out = append(out, c.res.Trace...)
	}
	return out
}

// FinitModule predicts finit_module on the file open at fd.
func (s *modelSys) FinitModule(fd int, params string, flags int) error {
	img, err := readFd(fd)
	if err != nil {
		return err
	}
	r := s.m.FinitModule(img, params, load.Flags(flags))
	s.calls = append(s.calls, modelCall{syscall: "finit_module", flags: flags, size: len(img), res: r})
	return r.Err
}

// InitModule predicts init_module with image.
func (s *modelSys) InitModule(image []byte, params string) error {
	r := s.m.InitModule(image, params)
	s.calls = append(s.calls, modelCall{syscall: "init_module", size: len(image), res: r})
	return r.Err
}

// DeleteModule predicts delete_module.
func (s *modelSys) DeleteModule(name string, flags int) error {
	return s.m.Delete(name, flags).Err
}

// readFd reads the whole file open at fd from its start, as kernel_read_file does,
// leaving fd and its offset alone; at most ko.MaxDecompressedSize bytes (EFBIG beyond).
func readFd(fd int) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat: %w", err)
	}
	if st.Size > ko.MaxDecompressedSize {
		return nil, unix.EFBIG
	}
	b := make([]byte, st.Size)
	for off := 0; off < len(b); {
		n, err := unix.Pread(fd, b[off:], int64(off))
		if err != nil {
			return nil, fmt.Errorf("pread: %w", err)
		}
		if n == 0 {
			return b[:off], nil // shrank meanwhile
		}
		off += n
	}
	return b, nil
}

// syscallName is what Explanation.Syscall says for mode.
func syscallName(mode string) string {
	switch mode {
	case callFinit:
		return "finit_module"
	case callInit:
		return "init_module"
	}
	return "insmod"
}

// orInsmod is the command explain's first line names.
func orInsmod(syscall string) string {
	if syscall == "" {
		return "insmod"
	}
	return syscall
}
