package kmod

import (
	"bytes"
	"errors"
	"strconv"

	"golang.org/x/sys/unix"
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
		for _, r := range parseKmsg(buf[:n]) {
			if r.Facility == 0 {
				recs = append(recs, r)
			}
		}
	}
}

// parseKmsg parses records "prio,seq,usec,flags;message\n" (Documentation/ABI/testing/
// dev-kmsg). /dev/kmsg returns one per read; a plain file standing in for it in tests
// returns many. Continuation lines (" KEY=value") carry metadata and are skipped.
func parseKmsg(b []byte) []KmsgRecord {
	var recs []KmsgRecord
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		semi := bytes.IndexByte(line, ';')
		if semi < 0 || line[0] == ' ' {
			continue
		}
		f := bytes.Split(line[:semi], []byte{','})
		if len(f) < 3 {
			continue
		}
		prio, err1 := strconv.Atoi(string(f[0]))
		seq, err2 := strconv.ParseUint(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		recs = append(recs, KmsgRecord{Facility: prio >> 3, Level: prio & 7, Seq: seq, Msg: unescapeKmsg(line[semi+1:])})
	}
	return recs
}

// unescapeKmsg undoes /dev/kmsg's \xNN escaping of non-printable bytes (and of '\\'
// itself), giving the text the kernel printed.
func unescapeKmsg(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			if v, err := strconv.ParseUint(string(b[i+2:i+4]), 16, 8); err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}
