package depmod

import (
	"sync"

	"golang.org/x/sys/unix"
)

// depmod -A's check, depfile_up_to_date, stats every file of the tree. gokmod makes those
// calls on every core (scanTree), then follows kmod's walk over the results (upToDateDir),
// so that what is printed — errors in readdir order, none after the first newer module —
// is kmod's.

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
	return d.upToDateDir(scanTree(dfd, jobs(d.o.Jobs)), st.Mtim.Sec, d.dirname+"/")
}

// scannedDir is one directory as depfile_up_to_date sees it.
type scannedDir struct {
	fd      int // for messages, as kmod prints its fd
	entries []scannedEntry
}

type scannedEntry struct {
	name    string
	mode    uint32 // S_IFMT bits
	mtime   int64
	statErr error
	sub     *scannedDir // a directory, scanned
	openErr error       // a directory that could not be opened
}

// scanTree reads the directory open at fd (closing it) and everything below it, with up
// to jobs directories at once.
func scanTree(fd, jobs int) *scannedDir {
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var scan func(sd *scannedDir)
	scan = func(sd *scannedDir) {
		defer wg.Done()
		sem <- struct{}{}
		defer func() { <-sem }()
		defer unix.Close(sd.fd)
		dents, _ := readDirents(sd.fd)
		sd.entries = make([]scannedEntry, 0, len(dents))
		var s statter
		for _, de := range dents {
			if de.name == "build" || de.name == "source" {
				continue
			}
			e := scannedEntry{name: de.name}
			var st unix.Stat_t
			if e.statErr = s.fstatat(sd.fd, de.name, &st); e.statErr == nil {
				e.mode, e.mtime = st.Mode&unix.S_IFMT, st.Mtim.Sec
			}
			sd.entries = append(sd.entries, e)
		}
		for i := range sd.entries {
			e := &sd.entries[i]
			if e.statErr != nil || e.mode != unix.S_IFDIR {
				continue
			}
			sub, err := unix.Openat(sd.fd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				e.openErr = err
				continue
			}
			e.sub = &scannedDir{fd: sub}
			wg.Add(1)
			go scan(e.sub)
		}
	}
	root := &scannedDir{fd: fd}
	wg.Add(1)
	scan(root)
	wg.Wait()
	return root
}

// upToDateDir is kmod's walk over a scanned directory.
func (d *depmod) upToDateDir(sd *scannedDir, mtime int64, base string) int {
	res := 1
	for _, e := range sd.entries {
		if e.statErr != nil {
			d.log.err("fstatat(%d, %s): %s\n", sd.fd, e.name, strerror(e.statErr))
			continue
		}
		switch e.mode {
		case unix.S_IFDIR:
			if e.openErr != nil {
				d.log.err("openat(%d, %s, O_RDONLY): %s\n", sd.fd, e.name, strerror(e.openErr))
				continue
			}
			res = d.upToDateDir(e.sub, mtime, base+e.name+"/")
		case unix.S_IFREG:
			if !d.hasModuleExt(e.name) {
				continue
			}
			if e.mtime <= mtime {
				res = 1
			} else {
				res = 0
			}
		default:
			d.log.err("unsupported file type %s: %o\n", base+e.name, e.mode)
			continue
		}
		if res == 0 {
			return 0
		}
	}
	return res
}
