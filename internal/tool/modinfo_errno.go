package tool

import (
	"errors"

	"golang.org/x/sys/unix"

	"gokmod/ko"
)

// kmodOpenErrno is the errno kmod 30 reports for a module it cannot open, which modinfo
// prints: libkmod's file and ELF checks are looser than ko's, so the errno comes from
// re-running theirs (kmod_file_open, elf_identify, kmod_elf_new) on the file, while ko's
// error is kept for the detail line.
func kmodOpenErrno(path string, koErr error) error {
	var nr *ko.NotRegularError
	if errors.As(koErr, &nr) {
		// Not read again: kmod's own open of a FIFO would block for ever.
		return &detailed{unix.EINVAL, koErr}
	}
	raw, err := ko.ReadFile(path)
	if err != nil {
		return err
	}
	if len(raw) < 6 {
		return &detailed{unix.EINVAL, koErr}
	}
	data := raw
	if ko.DetectCompression(raw) != ko.None {
		if data, _, err = ko.Decompress(raw); err != nil {
			return &detailed{unix.EINVAL, koErr}
		}
	}
	return &detailed{ko.KmodElfErrno(data), koErr}
}

// detailed is kmod's errno with ko's explanation behind it.
type detailed struct {
	errno  unix.Errno
	detail error
}

func (d *detailed) Error() string { return d.errno.Error() }
func (d *detailed) Unwrap() error { return d.errno }

// formatDetail is ko's description of what is wrong with a file, printed after kmod's
// line so the user learns the real problem.
func formatDetail(err error) string {
	var d *detailed
	if errors.As(err, &d) && d.detail != nil {
		return d.detail.Error()
	}
	return ""
}
