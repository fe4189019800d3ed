package depmod

import (
	"bytes"

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
	path := pathBuf{b: []byte(d.dirname + "/\x00")}
	return d.upToDateDir(dfd, st.Mtim.Sec, len(d.dirname)+1, &path, &statter{})
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
