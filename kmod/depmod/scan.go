package depmod

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	"unsafe"

	"golang.org/x/sys/unix"

	"gokmod/kmod/config"
)

// module is depmod's struct mod.
type module struct {
	name       string
	path       string // absolute, as found
	relpath    string // path below the module directory; "" when outside it (external)
	uncrelpath string // relpath with the extension cut to ".ko"
	sortIdx    int
	depSortIdx int
	idx        int
	users      int
	deps       []*module
	visited    bool
	seen       int // allDeps's marker

	data  *modData  // what was read from the file
	cache cacheSlot // its file's key and cache entry (cache.go)
}

// modulePath is mod_get_compressed_path: relative below the module directory, else
// absolute.
func (m *module) outPath() string {
	if m.relpath != "" {
		return m.relpath
	}
	return m.path
}

// Extensions are the module file name endings depmod considers. Debian's kmod 30 is
// built without zlib, so ".ko.gz" files are ignored, as there.
var Extensions = []string{".ko", ".ko.xz", ".ko.zst"}

func (d *depmod) hasModuleExt(name string) bool {
	exts := Extensions
	if d.o.Extensions != nil {
		exts = d.o.Extensions
	}
	for _, e := range exts {
		if len(name) > len(e) && strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// search is depmod_modules_search: the module directory, then each external directory,
// in directory order (readdir), choosing between same-named modules by priority.
func (d *depmod) search() error {
	if err := d.searchPath(d.dirname); err != nil {
		return err
	}
	for i := len(d.cfg.Externals) - 1; i >= 0; i-- { // kmod's list is reversed
		d.searchPath(d.cfg.Externals[i])
	}
	return nil
}

// The walk builds each path in d.walk, one buffer, as kmod appends names to its strbuf:
// in a directory loop every entry is met again at each level, its path longer each
// time, and a string made for each would be garbage of the square of the depth.
// Strings are made only for what is kept (a module's path), for messages and, with the
// cache, for directories' keys.

func (d *depmod) searchPath(path string) error {
	real := d.real(path)
	d.walk = append(append(d.walk[:0], path...), '/')
	if entries, ok := d.listedDir(-1, "", real); ok {
		return d.searchEntries(&openDir{-1}, 0, len(d.walk), entries)
	}
	fd, err := unix.Open(real, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		d.log.err("could not open directory %s: %s\n", path, strerror(err))
		return err
	}
	dir := &openDir{fd}
	defer dir.close()
	return d.searchDir(dir, 0, len(d.walk))
}

// openDir is a directory open for the walk; the walk may close it before its owner
// does (searchEntries), which close then leaves alone.
type openDir struct{ fd int }

func (o *openDir) close() {
	if o.fd >= 0 {
		unix.Close(o.fd)
		o.fd = -1
	}
}

// walkPath is the path of the entry name in the directory at d.walk[:blen].
func (d *depmod) walkPath(blen int, name string) string {
	return string(d.walk[:blen]) + name
}

// searchDir walks one directory with raw file descriptors and getdents: os.File's
// netpoller registration and per-entry allocations cost more than the walk itself.
// depth is the directory's below the searched one; d.walk[:blen] its path and a '/'.
func (d *depmod) searchDir(dir *openDir, depth, blen int) error {
	dfd := dir.fd
	key, keyOK := fileKey{}, false
	if d.cache != nil {
		// The key recorded with the listing is the open directory's, taken before the
		// listing: a change after it makes a newer key next time. A stat of the path
		// before the open could describe another directory: an automount point's, whose
		// file system open mounts (stat does not).
		var st unix.Stat_t
		if unix.Fstat(dfd, &st) == nil {
			key, keyOK = keyOf(&st), true
		}
	}
	entries, err := readDirents(dfd)
	if err != nil && len(entries) == 0 {
		return nil
	}
	d.dirsListed++
	if err == nil && keyOK {
		d.noteListing(d.real(string(d.walk[:blen-1])), key, entries)
	}
	return d.searchEntries(dir, depth, blen, entries)
}

// searchEntries is the loop of depmod_modules_search_dir over the entries of the
// directory at d.walk[:blen], read by searchDir from dfd or, when dfd < 0, recorded in
// the cache (cache_dirs.go).
//
// The directory is closed before the walk enters the last entry that needs it (a
// subdirectory, or an entry whose type only fstatat tells): kmod holds one descriptor
// per level, and so would gokmod, whose own descriptors (the Go runtime's, the
// readers') would then run out a few levels before kmod's where the limit cannot be
// raised. A chain of single subdirectories, and most loops, then hold one.
func (d *depmod) searchEntries(dir *openDir, depth, blen int, entries []dirent) error {
	last := -1
	for i, e := range entries {
		if e.typ != unix.DT_REG && !d.cfg.Excluded(e.name) {
			last = i
		}
	}
	for i, e := range entries {
		dfd := dir.fd
		name := e.name
		if d.cfg.Excluded(name) {
			continue
		}
		isDir, link := false, false
		switch e.typ {
		case unix.DT_REG:
		case unix.DT_DIR:
			isDir = true
		default: // only in a listing read now: the cache records none
			link = true
			var st unix.Stat_t
			if err := unix.Fstatat(dfd, name, &st, 0); err != nil {
				d.log.err("fstatat(%d, %s): %s\n", d.fds.at(depth), name, strerror(err))
				continue
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
			case unix.S_IFDIR:
				isDir = true
			default:
				d.log.err("unsupported file type %s: %o\n", d.walkPath(blen, name), st.Mode&unix.S_IFMT)
				continue
			}
		}
		if isDir {
			if link {
				d.walkLinks++
			}
			d.searchSubdir(dir, i == last, depth, blen, name)
			if link {
				d.walkLinks--
			}
			continue
		}
		if err := d.searchFile(blen, name); err != nil {
			d.log.err("failed %s: %s\n", d.walk[:blen+len(name)], strerror(err))
		}
	}
	return nil
}

// searchSubdir enters the subdirectory name of the directory open as parent (fd < 0:
// listed from the cache) at d.walk[:blen], from its recorded listing when still valid;
// parent is closed once the subdirectory is open when it is the last entry needing it.
func (d *depmod) searchSubdir(parent *openDir, lastUse bool, depth, blen int, name string) {
	dfd := parent.fd
	if d.fds.exhausted(depth) {
		// Where kmod's openat fails with EMFILE (fds.go): how deep it follows a
		// directory loop, whatever gokmod's own descriptors.
		d.log.err("openat(%d, %s, O_RDONLY): %s\n", d.fds.at(depth), name, strerror(unix.EMFILE))
		return
	}
	d.walk = append(d.walk[:blen], name...)
	plen := len(d.walk)
	real := ""
	if d.cache != nil {
		real = d.real(string(d.walk[:plen]))
		if entries, ok := d.listedDir(dfd, name, real); ok {
			d.walk = append(d.walk[:plen], '/')
			d.searchEntries(&openDir{-1}, depth+1, plen+1, entries)
			return
		}
	}
	var sub int
	var err error
	if dfd >= 0 {
		sub, err = unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	} else {
		sub, err = unix.Open(real, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		// kmod names the parent's descriptor: one per level from the first free one,
		// as its walk opens nothing else. Ours may differ (the readers and the cache
		// open files beside the walk, and a listing from the cache has none), so the
		// message names kmod's.
		d.log.err("openat(%d, %s, O_RDONLY): %s\n", d.fds.at(depth), name, strerror(err))
		return
	}
	if lastUse {
		parent.close()
	}
	d.walk = append(d.walk[:plen], '/')
	dir := &openDir{sub}
	err = d.searchDir(dir, depth+1, plen+1)
	dir.close()
	if err != nil {
		d.log.err("failed %s: %s\n", d.walkPath(blen, name), strerror(err))
	}
}

// statWalk stats the path in d.walk as kmod_module_new_from_path does, without a string
// made of it (in a loop, thousands of paths of kilobytes are refused).
func (d *depmod) statWalk() error {
	var st unix.Stat_t
	if d.o.Root != "" && d.o.Root != "/" {
		return unix.Stat(d.real(string(d.walk)), &st)
	}
	n, cwd := len(d.walk), unix.AT_FDCWD
	d.walk = append(d.walk, 0)
	_, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(cwd), uintptr(unsafe.Pointer(&d.walk[0])),
		uintptr(unsafe.Pointer(&st)), 0, 0, 0)
	d.walk = d.walk[:n]
	if e != 0 {
		return e
	}
	return nil
}

// dirent is one directory entry as getdents64 reports it.
type dirent struct {
	name string
	typ  uint8 // DT_*; DT_UNKNOWN on file systems that do not say
}

// readDirents lists a directory in readdir(3) order, without "." and "..".
func readDirents(fd int) ([]dirent, error) {
	var buf [16 << 10]byte
	var out []dirent
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, err
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return out, unix.EIO
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				out = append(out, dirent{s, b[18]})
			}
			b = b[reclen:]
		}
	}
}

// searchFile is depmod_modules_search_file for the file name in the directory at
// d.walk[:blen]. A module met again (in a loop) and kept costs no allocation: its path
// is compared where it is built.
func (d *depmod) searchFile(blen int, name string) error {
	if !d.hasModuleExt(name) {
		return nil
	}
	d.walk = append(d.walk[:blen], name...) // the path, also for the caller's message
	modname := config.PathToModname(name)
	if modname == "" {
		d.log.err("could not get modname from path %s\n", d.walk)
		return unix.EINVAL
	}
	if old := d.byName[modname]; old != nil {
		// Prefers keeps nothing of the paths it is given.
		if d.cfg.Prefers(d.dirname, old.path, unsafe.String(unsafe.SliceData(d.walk), len(d.walk))) {
			return nil
		}
		d.del(old)
	}
	// kmod stats the file here (kmod_module_new_from_path), by its path, after it
	// dropped the module it replaces. readdir just listed it, so the stat can fail only
	// where the path cannot be resolved as a whole: longer than PATH_MAX, or through
	// more than 40 symbolic links (ELOOP) — in a directory loop. Only such paths are
	// stat'd.
	if d.walkLinks > 0 || len(d.walk) >= unix.PathMax {
		if err := d.statWalk(); err != nil {
			d.log.err("could not create module %s: %s\n", d.walk, strerror(err))
			return err
		}
	}
	path := string(d.walk)
	if err := d.add(path, modname, cacheSlot{}); err != nil {
		d.log.err("could not add module %s: %s\n", path, strerror(err))
		return err
	}
	return nil
}

// add is depmod_module_add; slot is the module's cache key and record, if known.
func (d *depmod) add(path, modname string, slot cacheSlot) error {
	m := &module{name: modname, path: path, sortIdx: 1, depSortIdx: 1<<31 - 1, cache: slot}
	if strings.HasPrefix(path, d.dirname) && len(path) > len(d.dirname) && path[len(d.dirname)] == '/' {
		m.relpath = path[len(d.dirname)+1:]
	}
	if _, dup := d.byName[modname]; dup {
		d.log.err("hash_add_unique %s: %s\n", modname, strerror(unix.EEXIST))
		return unix.EEXIST
	}
	if m.relpath != "" {
		// The directory part plus as many bytes of the file name as the module name has,
		// plus ".ko": the name modules.order uses.
		slash := strings.LastIndexByte(m.relpath, '/')
		n := slash + 1 + len(modname) + 3
		unc := m.relpath
		if n < len(unc) {
			unc = unc[:n]
		}
		if _, dup := d.byUnc[unc]; dup {
			d.log.err("hash_add_unique %s: %s\n", unc, strerror(unix.EEXIST))
			return unix.EEXIST
		}
		m.uncrelpath = unc
		d.byUnc[unc] = m
	}
	d.byName[modname] = m
	d.queueRead(m)
	return nil
}

func (d *depmod) del(m *module) {
	if m.uncrelpath != "" {
		delete(d.byUnc, m.uncrelpath)
	}
	delete(d.byName, m.name)
}

// buildArray is depmod_modules_build_array: kmod's hash-table order of modules_by_name
// (512 buckets).
func (d *depmod) buildArray() {
	d.mods = make([]*module, 0, len(d.byName))
	for _, m := range d.byName {
		d.mods = append(d.mods, m)
	}
	hashOrder(d.mods, 512, func(m *module) string { return m.name })
	for i, m := range d.mods {
		m.idx = i
	}
}

// sortByOrder is depmod_modules_sort: modules listed in modules.order come first, in its
// order; the rest keep their hash order (glibc's qsort is a stable merge sort here).
func (d *depmod) sortByOrder() {
	data, err := d.order, d.orderErr
	if err != nil {
		d.log.warn("could not open %s at %s: %s\n", "modules.order", d.dirname, strerror(err))
		return
	}
	lines := fgetsLines(data)
	for i, l := range lines {
		if !strings.HasSuffix(l, "\n") {
			d.log.err("%s/%s:%d corrupted line misses '\\n'\n", d.dirname, "modules.order", i+1)
			return
		}
	}
	total := len(lines) + 1
	for i, l := range lines {
		if m := d.byUnc[cstr(l[:len(l)-1])]; m != nil {
			m.sortIdx = i + 1 - total
		}
	}
	slices.SortStableFunc(d.mods, func(a, b *module) int { return a.sortIdx - b.sortIdx })
	for i, m := range d.mods {
		m.idx = i
	}
}

// fgetsLines splits data as successive fgets(buf, PATH_MAX) calls would: at each newline
// (kept), and into pieces of at most PATH_MAX-1 bytes.
func fgetsLines(data []byte) []string {
	const max = 4096 - 1
	var out []string
	for len(data) > 0 {
		n := bytes.IndexByte(data, '\n') + 1
		if n == 0 {
			n = len(data)
		}
		if n > max {
			n = max
		}
		out = append(out, string(data[:n]))
		data = data[n:]
	}
	return out
}

// cstr cuts s at a NUL, as C sees a string.
func cstr(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}
