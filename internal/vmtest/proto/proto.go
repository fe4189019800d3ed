// Package proto is the wire format between the test harness (host) and the agent that runs
// inside the QEMU guest: one JSON object per line over a serial port.
package proto

import (
	"bytes"
	"strconv"
)

// Marker starts every line the agent sends, so the host can tell answers from any other
// output that reaches the port.
const Marker = "@@AGENT "

// Request asks the agent to run Cmd with /bin/sh -c, as UID/GID, or to power off.
type Request struct {
	ID       int      `json:"id"`
	Cmd      string   `json:"cmd,omitempty"`
	UID      int      `json:"uid,omitempty"`
	GID      int      `json:"gid,omitempty"`
	Env      []string `json:"env,omitempty"`
	Stdin    string   `json:"stdin,omitempty"`
	Poweroff bool     `json:"poweroff,omitempty"`
}

// Response answers one Request. Ready is sent once, unasked, when the agent starts.
type Response struct {
	ID         int      `json:"id"`
	Ready      bool     `json:"ready,omitempty"`
	Stdout     string   `json:"stdout"`
	Stderr     string   `json:"stderr"`
	Exit       int      `json:"exit"`
	Kmsg       []Record `json:"kmsg,omitempty"`
	DurationNS int64    `json:"dur_ns,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// Record is one /dev/kmsg record: "prio,seq,usec,flags;message".
type Record struct {
	Facility int    `json:"fac"`
	Level    int    `json:"lvl"`
	Seq      uint64 `json:"seq"`
	Usec     uint64 `json:"usec"`
	Msg      string `json:"msg"`
}

// ParseKmsg parses one record as read(2) from /dev/kmsg returns it (see
// Documentation/ABI/testing/dev-kmsg). Continuation lines (" KEY=value") are dropped.
func ParseKmsg(b []byte) (Record, bool) {
	semi := bytes.IndexByte(b, ';')
	if semi < 0 {
		return Record{}, false
	}
	fields := bytes.Split(b[:semi], []byte{','})
	if len(fields) < 3 {
		return Record{}, false
	}
	prio, err1 := strconv.Atoi(string(fields[0]))
	seq, err2 := strconv.ParseUint(string(fields[1]), 10, 64)
	usec, err3 := strconv.ParseUint(string(fields[2]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Record{}, false
	}
	msg := b[semi+1:]
	if nl := bytes.IndexByte(msg, '\n'); nl >= 0 {
		msg = msg[:nl]
	}
	return Record{Facility: prio >> 3, Level: prio & 7, Seq: seq, Usec: usec, Msg: unescape(msg)}, true
}

// unescape undoes the kernel's \xNN escaping of non-printable bytes in kmsg text.
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
