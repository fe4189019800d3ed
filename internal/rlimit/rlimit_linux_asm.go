//go:build linux && (amd64 || arm64)

package rlimit

// rlimitNofile is RLIMIT_NOFILE on Linux.
const rlimitNofile = 7

// getrlimit is the raw getrlimit(2) system call; it returns the negated errno, or 0.
//
//go:noescape
func getrlimit(resource uintptr, rlim *[2]uint64) (ret int64)

func read() ([2]uint64, bool) {
	var r [2]uint64
	if getrlimit(rlimitNofile, &r) != 0 {
		return r, false
	}
	return r, true
}
