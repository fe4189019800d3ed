// Package oneproc is imported by cmd/gokmod for its initialization alone: it sets
// GOMAXPROCS to 1 before nearly every other package initializes.
//
// modprobe and the other short tools do their work on one goroutine and end within a
// few milliseconds. With more than one P, each goroutine the runtime and the package
// initializations start (the background sweeper and scavenger, timers, finalizers) wakes
// an idle P, and a thread spins up or spins looking for work; on a small machine those
// threads compete with the one doing the work, and they cost clone calls, futex
// wake-ups and page faults. One P from the start made `modprobe -n -v btrfs` about
// 0.35 ms (13%) faster on a two-CPU machine. GOMAXPROCS in the environment cannot do
// this for the tools' users, and runtime.GOMAXPROCS in main comes after the package
// initializations, which are most of the run.
//
// The package imports only runtime, so the linker's initialization order (packages in
// lexicographic order as soon as their imports are done) runs it right after the
// runtime's own. Tools that work in parallel get the previous value back (Prev) from
// internal/tool's Exec.
package oneproc

import "runtime"

// Prev is GOMAXPROCS as the runtime chose it (from the CPUs, the cgroup limit or
// $GOMAXPROCS) before this package set it to 1.
var Prev = runtime.GOMAXPROCS(1)
