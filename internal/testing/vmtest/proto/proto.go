// Package proto is the wire format between the test harness (host) and the agent that runs
// inside the QEMU guest: one JSON object per line over a serial port.
package proto

import "gokmod/internal/kmsg"

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

// ParseKmsg parses one record as read(2) from /dev/kmsg returns it.
func ParseKmsg(b []byte) (Record, bool) {
	recs := kmsg.Parse(b)
	if len(recs) == 0 {
		return Record{}, false
	}
	r := recs[0]
	return Record{Facility: r.Facility, Level: r.Level, Seq: r.Seq, Usec: r.Usec, Msg: r.Msg}, true
}
