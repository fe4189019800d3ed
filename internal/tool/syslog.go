package tool

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// logDaemon is syslog.h's LOG_DAEMON, the facility kmod's tools open the log with.
const logDaemon = 3 << 3

// syslogger is glibc's syslog(3) as kmod's tools use it after -s: tools/log.c log_open
// calls openlog(program_invocation_short_name, LOG_CONS, LOG_DAEMON), and log_printf
// sends syslog(prio, "%s: %s", prioname, msg). The bytes are glibc 2.36's, which
// Debian's kmod links: "<PRI>Mmm dd hh:mm:ss IDENT: MSG", no PID, no hostname, MSG kept
// as is (kmod's end in a newline); on a stream socket a NUL ends the record. As glibc
// does, it connects on the first message (no LOG_NDELAY), retries once on a failed
// send, and with LOG_CONS writes "IDENT: MSG\r\n" to the console when there is no log
// socket. It goes through x/sys/unix rather than log/syslog, whose records add the PID
// ("modprobe[123]:") and its own newline handling.
//
// One known difference: with TZ set to a POSIX rule instead of a zone name (TZ=JST-9),
// Go's time package uses UTC where glibc applies the rule, so the timestamp differs.
type syslogger struct {
	ident   string
	path    string // /dev/log under the host's root
	console string // /dev/console under the host's root
	now     func() time.Time
	fd      int
	stream  bool
}

func newSyslogger(ident, path, console string) *syslogger {
	return &syslogger{ident: ident, path: path, console: console, now: time.Now, fd: -1}
}

// connect is glibc's openlog_internal: a datagram socket first, the other type when the
// socket at the path says EPROTOTYPE.
func (s *syslogger) connect() bool {
	for range 2 {
		typ := unix.SOCK_DGRAM
		if s.stream {
			typ = unix.SOCK_STREAM
		}
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return false
		}
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: s.path}); err != nil {
			unix.Close(fd)
			if err == unix.EPROTOTYPE {
				s.stream = !s.stream
				continue
			}
			return false
		}
		s.fd = fd
		return true
	}
	return false
}

func (s *syslogger) send(rec []byte) bool {
	if s.fd < 0 && !s.connect() {
		return false
	}
	if s.stream {
		rec = append(rec, 0)
	}
	return unix.Sendto(s.fd, rec, unix.MSG_NOSIGNAL, nil) == nil
}

func (s *syslogger) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// log is glibc's __vsyslog_internal for one message at prio, under LOG_DAEMON.
func (s *syslogger) log(prio int, msg string) {
	// strftime "%h %e %T " in the C locale; localtime, as glibc.
	head := fmt.Sprintf("<%d>%s", logDaemon|prio, s.now().Format("Jan _2 15:04:05 "))
	body := s.ident + ": " + msg
	rec := []byte(head + body)
	if s.send(rec) {
		return
	}
	if s.fd >= 0 {
		// Maybe the log daemon went away: reconnect and try once more.
		s.close()
		if s.send(rec) {
			return
		}
	}
	s.close()
	fd, err := unix.Open(s.console, unix.O_WRONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	unix.Write(fd, []byte(body+"\r\n"))
	unix.Close(fd)
}

// openSyslog is tools/log.c log_open(true): from here on, the tool's log messages go
// to syslog instead of stderr.
func (e *Env) openSyslog() {
	path, console := "/dev/log", "/dev/console"
	if e.Host != nil {
		path, console = e.Host.Path(path), e.Host.Path(console)
	}
	e.syslog = newSyslogger(e.Prog, path, console)
}

// closeSyslog is log_close.
func (e *Env) closeSyslog() {
	if e.syslog != nil {
		e.syslog.close()
		e.syslog = nil
	}
}

// log sends one message the way tools/log.c does: msg is what follows "PROG: ", for
// instance "ERROR: missing parameters. See -h.\n"; on stderr it gets that prefix, in
// syslog the record's own header replaces it.
func (e *Env) log(prio int, msg string) {
	if e.syslog != nil {
		e.syslog.log(prio, msg)
		return
	}
	fmt.Fprintf(e.Stderr, "%s: %s", e.Prog, msg)
}
