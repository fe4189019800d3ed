// Command agent runs inside the QEMU guest. It reads one JSON request per line from the
// serial port it is given, runs the command through busybox sh, and answers with one JSON
// line carrying stdout, stderr, the exit code and the kernel log records (/dev/kmsg) that
// appeared while the command ran. One boot serves many commands this way.
//
// It is started by the initramfs' /init as: agent /dev/ttyS1
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/vmtest/proto"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: agent SERIAL-DEVICE")
		os.Exit(2)
	}
	port, err := os.OpenFile(os.Args[1], os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
	if err := makeRaw(int(port.Fd())); err != nil {
		fmt.Fprintln(os.Stderr, "agent: raw mode:", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(port)
	send := func(r proto.Response) {
		b, _ := json.Marshal(r)
		out.WriteString(proto.Marker)
		out.Write(b)
		out.WriteByte('\n')
		out.Flush()
	}
	send(proto.Response{Ready: true})

	in := bufio.NewReaderSize(port, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			fmt.Fprintln(os.Stderr, "agent: read:", err)
			return
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var req proto.Request
		if err := json.Unmarshal(line, &req); err != nil {
			send(proto.Response{Error: "bad request: " + err.Error()})
			continue
		}
		if req.Poweroff {
			send(proto.Response{ID: req.ID})
			unix.Sync()
			unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
			return
		}
		send(run(req))
	}
}

// makeRaw is cfmakeraw(3): the port must carry bytes unchanged (no echo, no CR/LF
// translation, no line editing, no signals from control characters).
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

func run(req proto.Request) proto.Response {
	resp := proto.Response{ID: req.ID}
	kmsg, kerr := openKmsg()
	if kerr != nil {
		resp.Error = "open /dev/kmsg: " + kerr.Error()
		return resp
	}
	defer unix.Close(kmsg)

	cmd := exec.Command("/bin/sh", "-c", req.Cmd)
	cmd.Dir = "/test"
	// gokmod's tools behave as the guest's kmod (/etc/gokmod-test-kmod, written by the
	// harness: 30 or 34.2), to be compared with it (GOKMOD_KMOD). A request's own Env
	// comes after, and wins.
	cmd.Env = append([]string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "HOME=/tmp", "LANG=C", "GOKMOD_KMOD=" + guestKmod()}, req.Env...)
	cmd.Stdin = bytes.NewReader([]byte(req.Stdin))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if req.UID != 0 || req.GID != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(req.UID), Gid: uint32(req.GID)}}
	}
	start := time.Now()
	err := cmd.Run()
	resp.DurationNS = time.Since(start).Nanoseconds()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		resp.Exit = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			resp.Exit = 128 + int(ws.Signal())
		}
	default:
		resp.Error = err.Error()
		resp.Exit = -1
	}
	resp.Stdout, resp.Stderr = stdout.String(), stderr.String()
	resp.Kmsg = drainKmsg(kmsg)
	return resp
}

// openKmsg opens /dev/kmsg positioned after the newest record, so that reading it later
// yields exactly the records logged since.
func openKmsg() (int, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func drainKmsg(fd int) []proto.Record {
	var recs []proto.Record
	buf := make([]byte, 16384)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE { // records were overwritten before we read them: keep going
			continue
		}
		if err != nil || n <= 0 {
			return recs
		}
		if r, ok := proto.ParseKmsg(buf[:n]); ok {
			recs = append(recs, r)
		}
	}
}

// guestKmod is the release of the guest's kmod, from the file the harness writes
// (vmtest.KmodReleaseFile); kmod 30 when it is absent.
func guestKmod() string {
	b, err := os.ReadFile("/etc/gokmod-test-kmod")
	if rel := strings.TrimSpace(string(b)); err == nil && rel != "" {
		return rel
	}
	return "30"
}
