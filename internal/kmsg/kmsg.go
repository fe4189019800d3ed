// Package kmsg parses kernel log records as read(2) returns them from /dev/kmsg
// (Documentation/ABI/testing/dev-kmsg): "prio,seq,usec,flags;message\n", followed by
// continuation lines (" KEY=value") that carry metadata.
package kmsg

import (
	"bytes"
	"strconv"
)

// Record is one kernel log record.
type Record struct {
	Facility, Level int
	Seq, Usec       uint64
	Msg             string // the text the kernel printed, unescaped
}

// Parse returns the records in b. /dev/kmsg hands out one per read; a plain file standing
// in for it in tests holds many. Malformed lines and continuation lines are skipped.
func Parse(b []byte) []Record {
	var recs []Record
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
		usec, err3 := strconv.ParseUint(string(f[2]), 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		recs = append(recs, Record{Facility: prio >> 3, Level: prio & 7, Seq: seq, Usec: usec, Msg: unescape(line[semi+1:])})
	}
	return recs
}

// unescape undoes /dev/kmsg's \xNN escaping of non-printable bytes (and of '\' itself).
func unescape(b []byte) string {
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
