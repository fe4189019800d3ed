package depmod

import (
	"bytes"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// upToDate is depfile_up_to_date: 1 when modules.dep is at least as new (in whole
// seconds) as every module file, 0 when a module is newer, < 0 on errors.
func (d *depmod) upToDate() int {
	dfd, err := unix.Open(d.real(d.dirname), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		d.log.err("could not open directory %s: %s\n", d.dirname, strerror(err))
		return -1
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, "modules.dep", &st, 0); err != nil {
		unix.Close(dfd)
		d.log.err("could not fstatat(%s, modules.dep): %s\n", d.dirname, strerror(err))
		return -1
	}
	if d.upToDateParallel(st.Mtim.Sec) {
		unix.Close(dfd)
		return 1
	}
	path := pathBuf{b: []byte(d.dirname + "/\x00")}
	return d.upToDateDir(dfd, st.Mtim.Sec, len(d.dirname)+1, &path, &statter{})
}

// upToDateParallel answers the common case — every module as old as modules.dep — on
// all cores: directories are handed out one at a time to jobs goroutines, each holding
// one descriptor at once (a multi-threaded process's file table grows under
// synchronize_rcu). It reports true only if the whole tree is up to date and the walk met
// nothing kmod would report (an entry neither a file nor a directory, a failed stat or
// open); anything else, including a newer module, goes to upToDateDir, kmod's walk, for
// kmod's messages and its stop at the first newer module. On Debian's 6.1 tree the
// parallel walk takes 7 ms where the sequential one takes 13.
func (d *depmod) upToDateParallel(mtime int64) bool {
	root := d.real(d.dirname)
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		pending = []string{""} // directories to walk, relative to root
		busy    int            // goroutines walking one
		failed  atomic.Bool
		wg      sync.WaitGroup
	)
	// next returns a directory to walk, or false once there is none and none can come.
	next := func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		for len(pending) == 0 && busy > 0 && !failed.Load() {
			cond.Wait()
		}
		if len(pending) == 0 || failed.Load() {
			return "", false
		}
		rel := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		busy++
		return rel, true
	}
	done := func(subdirs []string) {
		mu.Lock()
		pending = append(pending, subdirs...)
		busy--
		mu.Unlock()
		cond.Broadcast()
	}
	for w := jobs(d.o.Jobs); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s statter
			for {
				rel, ok := next()
				if !ok {
					return
				}
				subdirs, clean := d.upToDateOne(root, rel, mtime, &s)
				if !clean {
					failed.Store(true)
				}
				done(subdirs)
			}
		}()
	}
	wg.Wait()
	return !failed.Load()
}

// upToDateOne checks the modules of one directory for upToDateParallel and returns its
// subdirectories, and false if it met anything but up-to-date modules, other files and
// directories.
func (d *depmod) upToDateOne(root, rel string, mtime int64, s *statter) ([]string, bool) {
	dfd, err := unix.Open(root+"/"+rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(dfd)
	entries, err := readDirents(dfd)
	if err != nil {
		return nil, false
	}
	var subdirs []string
	for _, e := range entries {
		switch {
		case e.name == "build" || e.name == "source":
		case e.typ == unix.DT_DIR:
			subdirs = append(subdirs, rel+"/"+e.name)
		case e.typ != unix.DT_REG:
			return nil, false
		case d.hasModuleExt(e.name):
			var st unix.Stat_t
			if s.fstatat(dfd, e.name, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mtim.Sec > mtime {
				return nil, false
			}
		}
	}
	return subdirs, true
}

// upToDateDir is kmod's walk over one directory (closed on return). It runs on one
// goroutine: spreading the stats over both cores was measured slower (the dentry cache
// lookups contend, and goroutines per directory cost more than they save).
func (d *depmod) upToDateDir(dfd int, mtime int64, baselen int, path *pathBuf, s *statter) int {
	defer unix.Close(dfd)
	entries, _ := readDirents(dfd)
	res := 1
	for _, e := range entries {
		name := e.name
		if name == "build" || name == "source" {
			continue
		}
		// kmod stats every entry; the directory entry's type spares the stat of
		// directories and of files that are not modules, which only an entry vanishing
		// in between (kmod then reports the fstatat) could tell apart.
		var st unix.Stat_t
		switch {
		case e.typ == unix.DT_DIR:
			st.Mode = unix.S_IFDIR
		case e.typ == unix.DT_REG && !d.hasModuleExt(name):
			continue
		default:
			if err := s.fstatat(dfd, name, &st); err != nil {
				d.log.err("fstatat(%d, %s): %s\n", dfd, name, strerror(err))
				continue
			}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			path.set(baselen, name)
			sub, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				d.log.err("openat(%d, %s, O_RDONLY): %s\n", dfd, name, strerror(err))
				continue
			}
			path.set(baselen, name+"/")
			res = d.upToDateDir(sub, mtime, baselen+len(name)+1, path, s)
		case unix.S_IFREG:
			if !d.hasModuleExt(name) {
				continue
			}
			path.set(baselen, name)
			if st.Mtim.Sec <= mtime {
				res = 1
			} else {
				res = 0
			}
		default:
			// kmod prints its path buffer, which still holds the last directory or
			// module it wrote there, not this entry.
			d.log.err("unsupported file type %s: %o\n", path, st.Mode&unix.S_IFMT)
			continue
		}
		if res == 0 {
			return 0
		}
	}
	return res
}

// pathBuf is depfile_up_to_date's PATH_MAX buffer: names are copied in at an offset,
// NUL-terminated, over whatever was there, and it prints up to the first NUL.
type pathBuf struct{ b []byte }

func (p *pathBuf) set(at int, name string) {
	if need := at + len(name) + 1; len(p.b) < need {
		p.b = append(p.b, make([]byte, need-len(p.b))...)
	}
	copy(p.b[at:], name)
	p.b[at+len(name)] = 0
}

func (p *pathBuf) String() string {
	b := p.b
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
