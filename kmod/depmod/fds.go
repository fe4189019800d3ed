package depmod

import (
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/rlimit"
)

// kmodFds models the descriptors kmod's walk uses (tools/depmod.c
// depmod_modules_search_dir, v30 and v34.2): one per directory level, each the lowest
// free, held until the level is done, and nothing else opened beside them. The
// directory at depth k is open as the k-th descriptor that was free when depmod
// started, and entering one more level fails with EMFILE once that would reach the soft
// limit — how deep kmod follows a directory loop. gokmod's own descriptors lie
// elsewhere (the Go runtime holds some, the readers open files beside the walk) and its
// limit has been raised (internal/rlimit), so messages and depth follow this model.
type kmodFds struct {
	held  []int // open when depmod started, but the Go runtime's; ascending
	limit int   // the soft RLIMIT_NOFILE kmod would run with
}

// newKmodFds takes the descriptors open now (call it before the readers and the cache
// open anything): those listed in /proc/self/fd but the Go runtime's, or when that cannot
// be read, everything below the lowest free one.
func newKmodFds() kmodFds {
	k := kmodFds{limit: kmodFdLimit()}
	k.makeRoom()
	if held, ok := heldFds(); ok {
		k.held = held
		return k
	}
	for i := 0; i < kmodBaseFd(); i++ {
		k.held = append(k.held, i)
	}
	return k
}

// makeRoom lets this process hold the descriptors kmod's walk would and some of its own
// besides (the Go runtime's, the readers'): when the soft limit was already the hard one,
// the Go runtime could not raise it, and gokmod would run out a few levels before kmod.
// Root may raise the hard limit; otherwise the walk stops a little short of kmod's.
func (k kmodFds) makeRoom() {
	need := uint64(k.limit) + 64
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur >= need {
		return
	}
	lim.Cur, lim.Max = need, max(lim.Max, need)
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
}

// at is the descriptor kmod's walk holds for the directory at depth (0: the one
// searched).
func (k kmodFds) at(depth int) int {
	fd := depth
	for _, h := range k.held {
		if h > fd {
			break
		}
		fd++
	}
	return fd
}

// exhausted reports whether kmod's openat of a subdirectory of the directory at depth
// fails with EMFILE.
func (k kmodFds) exhausted(depth int) bool { return k.at(depth+1) >= k.limit }

// heldFds lists /proc/self/fd, leaving out the descriptor that reads it and the Go
// runtime's: the cgroup CPU files it takes GOMAXPROCS limits from and its poller's
// eventpoll and eventfd, which a C program does not hold.
func heldFds() ([]int, bool) {
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(dfd)
	ents, err := readDirents(dfd)
	if err != nil {
		return nil, false
	}
	var out []int
	buf := make([]byte, 64)
	for _, e := range ents {
		fd, err := strconv.Atoi(e.name)
		if err != nil || fd == dfd {
			continue
		}
		if n, err := unix.Readlinkat(dfd, e.name, buf); err == nil {
			l := string(buf[:n])
			if strings.HasPrefix(l, "/sys/fs/cgroup/") || l == "anon_inode:[eventpoll]" || l == "anon_inode:[eventfd]" {
				continue
			}
		}
		out = append(out, fd)
	}
	slices.Sort(out)
	return out, true
}

// kmodFdLimit is the soft limit on open descriptors kmod would run with: the one this
// process was started with (internal/rlimit), else the present one.
func kmodFdLimit() int {
	if soft, ok := rlimit.NofileAtStart(); ok {
		return int(min(soft, 1<<30))
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 1 << 30
	}
	return int(min(lim.Cur, 1<<30))
}

// kmodBaseFd is the descriptor kmod's walk would open the searched directory as: the
// lowest free one, less those the Go runtime keeps open for itself below it (the cgroup
// CPU files it takes GOMAXPROCS limits from), which a C program does not hold.
func kmodBaseFd() int {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return 3
	}
	unix.Close(fd)
	base := fd
	buf := make([]byte, 64)
	for i := 3; i < fd; i++ {
		n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(i), buf)
		if err == nil && strings.HasPrefix(string(buf[:n]), "/sys/fs/cgroup/") {
			base--
		}
	}
	return base
}
