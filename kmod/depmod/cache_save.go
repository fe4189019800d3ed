package depmod

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The cache, part 3: recording a run, by appending to the cache or rewriting it.

// saveCache records this run: the modules' new records and the outputs (nil when they
// were not all written). It appends to the cache when it can, and rewrites it when it
// was not valid, has changed since it was read, or is mostly superseded records. It
// reports nothing: a cache that cannot be written only makes the next run slower.
func (d *depmod) saveCache(written map[string]fileKey) {
	if d.cache != nil && cacheHook != nil {
		cacheHook(CacheStats{Loaded: d.cache.loaded, Reread: len(d.cache.changed), Reused: d.reused,
			DirsCached: d.dirsCached, DirsListed: d.dirsListed})
	}
	if d.cache != nil && trace {
		c := d.cache
		fmt.Fprintf(d.o.Stderr, "depmod: trace: cache %s: loaded %v (%s), %d records, %d read again, outputs known %v, directories %d from the cache, %d read\n",
			c.path, c.loaded, c.why, len(c.entries), len(c.changed), c.outputs != nil, d.dirsCached, d.dirsListed)
	}
	c := d.cache
	if c == nil || d.o.DryRun {
		return
	}
	// The outputs are recorded only if every module's record describes what they were
	// computed from: a module that could not be read (or keyed) leaves them unknown.
	complete := len(written) == len(d.outs)
	for _, m := range d.mods {
		if m.cache.raw == nil || !m.cache.keyOK || m.data != nil && m.data.symErr != nil {
			complete = false
			break
		}
	}
	rec := []byte{recOutputs}
	if complete {
		if d.digest == ([sha256.Size]byte{}) {
			d.digest = d.inputsDigest()
		}
		rec = append(rec, d.digest[:]...)
		rec = binary.AppendUvarint(rec, uint64(len(d.outs)))
		for _, o := range d.outs {
			rec = appendStr(rec, o.name)
			rec = written[o.name].append(rec)
		}
	} else {
		rec = append(rec, make([]byte, sha256.Size)...)
		rec = binary.AppendUvarint(rec, 0)
	}
	rec = append(binary.AppendUvarint(nil, uint64(len(rec))), rec...)

	// Append when the cache read was valid and every record in it is still a module of
	// this run (none removed), unless superseded records would outweigh the live ones.
	live, present := 0, 0
	for _, m := range d.mods {
		live += len(m.cache.raw)
		if m.cache.keyOK { // slot looked the path up
			if m.cache.known {
				present++
			}
		} else if _, ok := c.entries[d.real(m.path)]; ok {
			present++
		}
	}
	allDirs, freshDirs, dirsPresent := d.savedDirs()
	if c.loaded && present == len(c.entries) && dirsPresent == len(c.dirs) && c.dead < live/2 && d.appendCache(freshDirs, rec) {
		return
	}
	// A new file: the records are written where they lie (the old cache's bytes or the
	// new records), with the checksum extended over each, instead of assembling megabytes.
	parts := make([][]byte, 0, len(d.mods)+4)
	parts = append(parts, []byte(cacheMagic))
	build := append([]byte{recBuild}, buildIdentity()...)
	parts = append(parts, append(binary.AppendUvarint(nil, uint64(len(build))), build...))
	if len(c.names) > 0 { // the whole table: the records kept use its indexes
		parts = append(parts, appendNames(nil, c.names))
	}
	for _, m := range d.mods {
		if len(m.cache.raw) > 0 {
			parts = append(parts, m.cache.raw)
		}
	}
	parts = append(parts, allDirs...)
	parts = append(parts, rec)
	crc := uint32(0)
	for _, p := range parts {
		crc = crc32.Update(crc, castagnoliTable(), p)
	}
	parts = append(parts, append(binary.LittleEndian.AppendUint32(nil, crc), cacheMagic...))
	tmp := c.path + "." + strconv.Itoa(os.Getpid()) + "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return
	}
	total, err := writeParts(fd, parts)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Rename(tmp, c.path)
	}
	if err != nil {
		unix.Unlink(tmp)
		return
	}
	if trace {
		fmt.Fprintf(d.o.Stderr, "depmod: trace: cache rewritten: %d bytes\n", total)
	}
}

// writeParts writes every part, in order, a thousand at a time (IOV_MAX is 1024).
func writeParts(fd int, parts [][]byte) (int, error) {
	total := 0
	for len(parts) > 0 {
		batch := parts[:min(len(parts), 1000)]
		want := 0
		for _, p := range batch {
			want += len(p)
		}
		n, err := unix.Writev(fd, batch)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		total += n
		if n < want { // a short write: finish this batch plainly
			rest := make([]byte, 0, want-n)
			skip := n
			for _, p := range batch {
				if skip >= len(p) {
					skip -= len(p)
					continue
				}
				rest = append(rest, p[skip:]...)
				skip = 0
			}
			if err := writeAll(fd, rest); err != nil {
				return total, err
			}
			total += len(rest)
		}
		parts = parts[len(batch):]
	}
	return total, nil
}

// appendCache adds the changed modules' records, the directories' new listings (dirs)
// and rec to the cache file in place of its trailer, when the file is still the one
// read. A crash half-way leaves a file whose trailer does not check: ignored next time,
// as any corrupt cache.
func (d *depmod) appendCache(dirs [][]byte, rec []byte) bool {
	c := d.cache
	fd, err := unix.Open(c.path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || keyOf(&st) != c.fileKey || int(st.Size) != c.size {
		return false
	}
	var add []byte
	if n := c.newNames(); len(n) > 0 { // before the records that use them
		add = appendNames(add, n)
	}
	for _, m := range c.changed {
		if m.cache.raw != nil && d.byName[m.name] == m { // not set aside for another of its name
			add = append(add, m.cache.raw...)
		}
	}
	for _, r := range dirs {
		add = append(add, r...)
	}
	add = append(add, rec...)
	crc := crc32.Update(c.crc, castagnoliTable(), add)
	add = binary.LittleEndian.AppendUint32(add, crc)
	add = append(add, cacheMagic...)
	at := int64(c.size - len(cacheMagic) - 4)
	// A failed or short write leaves a file whose end does not check: ignored next time.
	// It is not truncated: another depmod may have it mapped (openCache).
	n, err := unix.Pwrite(fd, add, at)
	if err != nil || n != len(add) {
		return false
	}
	if trace {
		fmt.Fprintf(d.o.Stderr, "depmod: trace: cache appended: %d bytes\n", len(add))
	}
	return true
}
