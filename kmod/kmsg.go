package kmod

import (
	"errors"

	"golang.org/x/sys/unix"

	"gokmod/internal/kmsg"
)

// KmsgRecord is one kernel log record from /dev/kmsg.
type KmsgRecord struct {
	Facility, Level int
	Seq             uint64
	Msg             string
}

// WithKmsg runs fn, a system call, and returns the kernel's own log records (facility 0)
// that appeared while it ran. Without access to /dev/kmsg the list is empty.
func (h *Host) WithKmsg(fn func() error) ([]KmsgRecord, error) {
	w := h.watchKmsg()
	err := fn()
	return w.drain(), err
}

// kmsgWatch reads the kernel log records that appear between its start and its drain, so
// a failed system call can be explained by what the kernel logged during that very call.
type kmsgWatch struct{ fd int }

// watchKmsg positions a reader after the newest record. It returns nil when /dev/kmsg
// cannot be read (no privilege, dmesg_restrict): the records are a bonus, not a need.
func (h *Host) watchKmsg() *kmsgWatch {
	if h.NoKmsg {
		return nil
	}
	fd, err := unix.Open(h.Path("/dev/kmsg"), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return nil
	}
	return &kmsgWatch{fd: fd}
}

// drain returns the kernel's own records (facility 0) logged since watchKmsg, and closes.
func (w *kmsgWatch) drain() []KmsgRecord {
	if w == nil {
		return nil
	}
	defer unix.Close(w.fd)
	var recs []KmsgRecord
	buf := make([]byte, 16384)
	for {
		n, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EPIPE) {
			continue // overwritten before we read it; the next read resynchronizes
		}
		if err != nil || n <= 0 {
			return recs
		}
		for _, r := range kmsg.Parse(buf[:n]) {
			if r.Facility == 0 {
				recs = append(recs, KmsgRecord{Facility: r.Facility, Level: r.Level, Seq: r.Seq, Msg: r.Msg})
			}
		}
	}
}
