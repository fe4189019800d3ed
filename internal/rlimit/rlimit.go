// Package rlimit keeps the soft RLIMIT_NOFILE this process was started with.
//
// The Go runtime's package syscall raises a program's soft limit on open descriptors to
// its hard limit when it initialises (Go 1.19, go.dev/issue/46279), and keeps the
// original only for the processes it starts. kmod's depmod, a C program, walks a
// directory loop until openat fails with EMFILE, one descriptor per level: gokmod's
// depmod must stop where it would, at the limit the user set, not at the raised one,
// which may be hundreds of times deeper (systemd: 1024 soft, 524288 hard).
//
// The limit is read before package syscall initialises: this package imports nothing,
// and the Go specification initialises, at each step, the first package in import-path
// order whose imports are initialised ("Package initialization", Go 1.21), so
// "gokmod/internal/rlimit" comes before "syscall". The read is a raw system call in
// assembly (getrlimit), since any package that could make it imports syscall. So this
// package must import nothing, and its test is an external one (package rlimit_test),
// whose imports are not the package's.
package rlimit

// nofile is the soft and hard RLIMIT_NOFILE read at initialisation; ok says the read
// was made and succeeded.
var nofile, ok = read()

// NofileAtStart returns the soft limit on open descriptors this process was started
// with, before the Go runtime raised it; ok=false on systems where it is not read.
func NofileAtStart() (soft uint64, known bool) {
	return nofile[0], ok
}
