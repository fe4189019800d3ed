// Package vmtest boots Debian's real kernels in QEMU (TCG, no KVM) for tests, amd64 ones
// (qemu-system-x86_64) and arm64 ones (qemu-system-aarch64, testenv.KernelsArm64): an
// initramfs holds busybox, Debian's kmod (binary and shared libraries), a static gokmod, an
// agent, all for the kernel's architecture, and whatever files and in-tree modules a test
// asks for. Commands run in the guest one at a
// time and return stdout, stderr, the exit code and the kernel log records emitted while
// each ran. One boot serves many commands.
//
// Nothing here ever loads a module into the host's kernel: every load happens in the guest.
package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/testguest"
	"gokmod/internal/testing/vmtest/proto"
)

// File is a file to place in the guest. A relative Guest path is under /test, the
// guest's working directory.
type File struct {
	Guest string
	Host  string // copied from here, unless Data is set
	Data  []byte
	Mode  os.FileMode // 0 means 0644
}

// Config describes one guest.
type Config struct {
	Kernel  testenv.Kernel
	Files   []File
	Modules []string // in-tree modules to install with their modules.dep dependencies
	Append  string   // extra kernel command line
	// NoKmod leaves Debian's kmod out: /sbin's insmod, rmmod, …, depmod and /bin/kmod
	// are links to gokmod, as on a system where gokmod replaced kmod.
	NoKmod bool
	// Kmod is the kmod release in /sbin (unless NoKmod): "30" (the default, this
	// machine's Debian 12 kmod) or "34.2" (trixie's, with its own glibc). The guest's
	// gokmod behaves as the same release by default (GOKMOD_KMOD). An arm64 guest gets
	// the arm64 kmod of bookworm ("30") or trixie ("34.2", its default).
	Kmod    string
	Memory  string        // QEMU -m, default 1G
	Timeout time.Duration // limit for the whole guest's life, default 15 minutes
	// CommandTimeout limits one command, default 5 minutes. A command that overruns it
	// (say, a module init stuck in the kernel) kills the guest: it can no longer be trusted.
	CommandTimeout time.Duration
}

// Result is what one command did in the guest.
type Result struct {
	Stdout, Stderr string
	Exit           int
	Kmsg           []proto.Record
	Duration       time.Duration
}

// KmsgText returns the messages of the kernel log records, one per line.
func (r *Result) KmsgText() string {
	var b strings.Builder
	for _, k := range r.Kmsg {
		b.WriteString(k.Msg)
		b.WriteByte('\n')
	}
	return b.String()
}

// VM is a running guest.
type VM struct {
	Kernel     testenv.Kernel
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	resp       chan proto.Response
	done       chan struct{} // closed when QEMU exits
	qerr       error
	work       string
	mu         sync.Mutex
	nextID     int
	cancel     context.CancelFunc
	closed     bool
	cmdTimeout time.Duration
}

// Paths of the tools inside the guest.
const (
	GokmodDir = "/gokmod/bin" // gokmod and its insmod, rmmod, ... symlinks
	KmodDir   = "/sbin"       // Debian's kmod and its symlinks
	// JudgePath is internal/cmd/judge, the real kernel's side of `gokmod sim`: a test
	// program, not a gokmod tool, which runs only in these guests (package testguest).
	JudgePath = "/gokmod/test/judge"
)

// Tools are the names both kmod and gokmod answer to.
var Tools = []string{"insmod", "rmmod", "lsmod", "modinfo", "modprobe", "depmod"}

// Boot starts a guest and waits until its agent is ready.
func Boot(cfg Config) (*VM, error) {
	if cfg.Memory == "" {
		cfg.Memory = "1G"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Minute
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	mach := machineOf(cfg.Kernel)
	if _, err := exec.LookPath(mach.qemu); err != nil {
		return nil, fmt.Errorf("vmtest: %s is missing (run scripts/setup.sh): %w", mach.qemu, err)
	}
	if _, err := os.Stat(cfg.Kernel.BootImage()); err != nil {
		return nil, fmt.Errorf("vmtest: kernel %q is not prepared (run scripts/setup.sh): %w", cfg.Kernel.Release, err)
	}
	work, err := os.MkdirTemp("", "gokmod-vm-")
	if err != nil {
		return nil, err
	}
	initrd := filepath.Join(work, "initrd.cpio")
	if err := buildInitramfs(cfg, initrd); err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	// testguest.CmdlineToken is one of the two marks of a test guest judge requires.
	append_ := "console=" + strings.TrimPrefix(mach.console, "/dev/") + " panic=-1 oops=panic quiet loglevel=1 rdinit=/init " + testguest.CmdlineToken + " " + cfg.Append
	args := []string{"-accel", "tcg", "-smp", "1", "-m", cfg.Memory,
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot"}
	for _, a := range mach.args {
		args = append(args, strings.Replace(a, "CONSOLE", filepath.Join(work, "console.log"), 1))
	}
	args = append(args, "-kernel", cfg.Kernel.BootImage(), "-initrd", initrd, "-append", append_)
	cmd := exec.CommandContext(ctx, mach.qemu, args...)
	vm := &VM{Kernel: cfg.Kernel, cmd: cmd, resp: make(chan proto.Response, 1), done: make(chan struct{}), work: work, cancel: cancel, cmdTimeout: cfg.CommandTimeout}
	if vm.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	// QEMU must not outlive the test process (a killed `go test` would leave it running).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		cancel()
		os.RemoveAll(work)
		return nil, fmt.Errorf("vmtest: start qemu: %w", err)
	}
	go vm.read(stdout)
	go func() {
		err := cmd.Wait()
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%v: %s", err, s)
		}
		vm.qerr = err
		close(vm.done)
	}()
	select {
	case r := <-vm.resp:
		if !r.Ready {
			vm.Close()
			return nil, fmt.Errorf("vmtest: unexpected first message from the agent: %+v", r)
		}
	case <-vm.done:
		defer vm.Close()
		return nil, fmt.Errorf("vmtest: guest %s died while booting (%v)%s", cfg.Kernel.Release, vm.qerr, vm.consoleTail())
	case <-time.After(3 * time.Minute):
		defer vm.Close()
		return nil, fmt.Errorf("vmtest: guest %s did not come up in 3 minutes%s", cfg.Kernel.Release, vm.consoleTail())
	}
	record("boot " + cfg.Kernel.Release)
	return vm, nil
}

func (vm *VM) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, proto.Marker)
		if i < 0 {
			continue
		}
		var resp proto.Response
		if err := json.Unmarshal([]byte(line[i+len(proto.Marker):]), &resp); err != nil {
			resp = proto.Response{Error: "vmtest: undecodable answer: " + err.Error()}
		}
		vm.resp <- resp
	}
}

// Run runs cmd with /bin/sh -c as root in /test.
func (vm *VM) Run(cmd string) (*Result, error) { return vm.do(proto.Request{Cmd: cmd}) }

// RunStdin runs cmd as root with the given standard input.
func (vm *VM) RunStdin(cmd, stdin string) (*Result, error) {
	return vm.do(proto.Request{Cmd: cmd, Stdin: stdin})
}

// RunAs runs cmd as the given user and group (e.g. 65534, nobody).
func (vm *VM) RunAs(uid, gid int, cmd string) (*Result, error) {
	return vm.do(proto.Request{Cmd: cmd, UID: uid, GID: gid})
}

func (vm *VM) do(req proto.Request) (*Result, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return nil, errors.New("vmtest: guest is closed")
	}
	vm.nextID++
	req.ID = vm.nextID
	b, _ := json.Marshal(req)
	if _, err := vm.stdin.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("vmtest: send %q: %w", req.Cmd, err)
	}
	timer := time.NewTimer(vm.cmdTimeout)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			tail := vm.consoleTail()
			vm.closed = true
			vm.cancel() // the guest is wedged: kill QEMU
			return nil, fmt.Errorf("vmtest: %q did not finish in %v; guest killed%s", req.Cmd, vm.cmdTimeout, tail)
		case r := <-vm.resp:
			if r.ID != req.ID {
				continue // a late answer to an earlier request
			}
			if r.Error != "" {
				return nil, fmt.Errorf("vmtest: %q: %s", req.Cmd, r.Error)
			}
			record("cmd")
			return &Result{Stdout: r.Stdout, Stderr: r.Stderr, Exit: r.Exit, Kmsg: r.Kmsg,
				Duration: time.Duration(r.DurationNS)}, nil
		case <-vm.done:
			return nil, fmt.Errorf("vmtest: guest died during %q (%v)%s", req.Cmd, vm.qerr, vm.consoleTail())
		}
	}
}

// Close powers the guest off and removes its work files.
func (vm *VM) Close() error {
	vm.mu.Lock()
	if !vm.closed {
		vm.closed = true
		b, _ := json.Marshal(proto.Request{Poweroff: true})
		vm.stdin.Write(append(b, '\n'))
	}
	vm.mu.Unlock()
	select {
	case <-vm.done:
	case <-time.After(30 * time.Second):
		vm.cancel()
		<-vm.done
	}
	vm.cancel()
	return os.RemoveAll(vm.work)
}

// Console returns what the guest has written to its console (ttyS0) so far: the
// kernel's messages and whatever the guest writes to /dev/console, such as glibc's
// syslog(3) with LOG_CONS when there is no /dev/log.
func (vm *VM) Console() string {
	b, _ := os.ReadFile(filepath.Join(vm.work, "console.log"))
	return string(b)
}

func (vm *VM) consoleTail() string {
	b, _ := os.ReadFile(filepath.Join(vm.work, "console.log"))
	lines := strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return "; console tail:\n" + strings.Join(lines, "\n")
}

// record appends one line to $GOKMOD_VMSTATS, which the Makefile sums up at the end of a
// run: how many guests were booted and how many commands they ran, across test binaries.
func record(line string) {
	path := os.Getenv("GOKMOD_VMSTATS")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	f.WriteString(line + "\n")
	f.Close()
}
