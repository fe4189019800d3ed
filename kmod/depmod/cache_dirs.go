package depmod

import (
	"bytes"
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
)

// The cache, part 6: directory listings. Listing a directory (open, getdents, close)
// costs four system calls and ext4's hashed-directory walk; a stat costs one. A
// directory's modification time changes whenever an entry is added to it, removed from
// it or renamed in it, so a listing recorded with the directory's key (device, inode,
// size, modification and status-change times, taken before the listing) is still the
// directory's listing while the key is the same: the search then stats the directory
// instead of reading it (as git's untracked cache does). A listing recorded within
// racyWindow of the directory's last change is not trusted, as a module record is not.
// Modules are still stat'd one by one: a file rewritten in place changes its own times,
// not its directory's.
//
// Only clean listings are recorded: those whose entries are all regular files or
// directories, besides "build" and "source", which depmod always skips. Anything else
// (a symbolic link, an entry type the file system leaves unknown) is classified by a stat
// relative to the open directory, so such a directory is always read.
//
// A listing is used only by a process of the effective user that recorded it: a stat
// needs no read permission on the directory, and another user's run must meet kmod's
// "Permission denied" where the directory cannot be read.
//
// Record recDir: the real path, the key, the racy flag, the effective uid, then the
// entries (a uvarint count, then each name and its getdents type).

const recDir = 'D'

// waitForListings makes listingReady wait (tests: SetWaitForListings).
var waitForListings bool

// dirEntry is one directory's recorded listing, still encoded.
type dirEntry struct {
	key  fileKey
	racy bool
	euid uint64 // of the process that read the directory
	raw  []byte // the whole record
	body []byte // its entries
}

// dirRun is a directory this run listed or took from the cache: its real path and the
// record that describes it now.
type dirRun struct {
	path  string
	raw   []byte
	fresh bool // not in the cache as it is
}

// parseDir reads a recDir record into c.dirs.
func (c *moduleCache) parseDir(d decoder, raw []byte) bool {
	path := d.str()
	key := d.key()
	racy := d.byte()
	euid := d.u64()
	if d.err || racy > 1 {
		return false
	}
	// The entries are checked when used (listedDir): a listing that does not
	// decode is read from the directory instead.
	if old, ok := c.dirs[path]; ok {
		c.dead += len(old.raw)
	}
	c.dirs[path] = dirEntry{key: key, racy: racy == 1, euid: euid, raw: raw, body: d.b}
	return true
}

// encodeDir is a directory's record.
func encodeDir(path string, key fileKey, racy bool, euid uint64, entries []dirent) []byte {
	e := fileRecordHead(recDir, path, key, racy)
	e = binary.AppendUvarint(e, euid)
	e = binary.AppendUvarint(e, uint64(len(entries)))
	for _, en := range entries {
		e = appendStr(e, en.name)
		e = append(e, en.typ)
	}
	return append(binary.AppendUvarint(nil, uint64(len(e))), e...)
}

// decodeListing is a record's entries back; the names point into the cache's bytes.
func decodeListing(b []byte) ([]dirent, bool) {
	d := decoder{b: b}
	n := d.count(2)
	out := make([]dirent, n)
	for i := range out {
		out[i] = dirent{name: d.str(), typ: d.byte()}
		if out[i].name == "" {
			return nil, false
		}
	}
	return out, !d.err && len(d.b) == 0 && cleanListing(out)
}

// cleanListing says whether a listing may be recorded.
func cleanListing(entries []dirent) bool {
	for _, e := range entries {
		if e.typ != unix.DT_REG && e.typ != unix.DT_DIR && e.name != "build" && e.name != "source" {
			return false
		}
	}
	return true
}

// listingReady reports whether the cache can answer for directories: its listings read
// (the search does not wait for them; until then it reads directories) and valid.
func (c *moduleCache) listingReady() bool {
	if c == nil {
		return false
	}
	if waitForListings {
		<-c.dirsReady
	}
	select {
	case <-c.dirsReady:
		return c.dirsOK
	default:
		return false
	}
}

// listedDir is the recorded listing of the directory the search is about to enter, at
// real, if the cache holds one still valid; the listing is noted as this run's. The
// directory is stat'd (by name in the open directory dfd, or by its real path when the
// listing above it came from the cache, dfd < 0) only when there is a record to check.
func (d *depmod) listedDir(dfd int, name, real string) ([]dirent, bool) {
	if !d.cache.listingReady() {
		return nil, false
	}
	e, ok := d.cache.dirs[real]
	if !ok || e.racy || e.euid != d.euid {
		return nil, false
	}
	var st unix.Stat_t
	var err error
	if dfd >= 0 {
		err = unix.Fstatat(dfd, name, &st, 0)
	} else {
		err = unix.Stat(real, &st)
	}
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || keyOf(&st) != e.key {
		return nil, false
	}
	entries, ok := decodeListing(e.body)
	if !ok {
		return nil, false
	}
	d.dirsRun = append(d.dirsRun, dirRun{path: real, raw: e.raw})
	d.dirsCached++
	return entries, true
}

// noteListing records a directory's listing, read now, under the key taken before.
func (d *depmod) noteListing(real string, key fileKey, entries []dirent) {
	if d.cache == nil || !cleanListing(entries) {
		return
	}
	last := max(key.mtimeNs, key.ctimeNs)
	racy := time.Now().UnixNano()-last < int64(racyWindow)
	raw := encodeDir(real, key, racy, d.euid, entries)
	// The cache may not have been read yet (the search does not wait for it): whether
	// the record is new is decided when it is saved.
	d.dirsRun = append(d.dirsRun, dirRun{path: real, raw: raw, fresh: true})
}

// savedDirs returns the records of the directories this run searched (once each, though
// a directory may be searched twice, as an external directory named twice), those of
// them the cache does not hold as they are (fresh), and how many of the cache's
// directories this run searched.
func (d *depmod) savedDirs() (all, fresh [][]byte, present int) {
	c := d.cache
	seen := make(map[string]bool, len(d.dirsRun))
	for _, r := range d.dirsRun {
		if seen[r.path] {
			continue
		}
		seen[r.path] = true
		all = append(all, r.raw)
		old, ok := c.dirs[r.path]
		if ok {
			present++
		}
		if r.fresh && !(ok && bytes.Equal(old.raw, r.raw)) {
			fresh = append(fresh, r.raw)
		}
	}
	return all, fresh, present
}
