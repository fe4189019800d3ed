package depmod

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The per-module cache is gokmod's own; kmod has none. What depmod takes from a module
// file (modData) depends only on the file's contents, so it is kept from one run to the
// next, keyed by everything that changes when a file is replaced or written: its path,
// device, inode, size, modification and status-change times (ctime cannot be set back by
// touch or tar). A key that differs in any way means the file is read again.
//
// When every module's data is the same as when the cache last recorded the output files
// (a module touched, or rebuilt without changing its aliases, exports or symbols, as a
// DKMS rebuild or a package reinstall does) and those files are still the ones written
// then, their bytes are what kmod would compute again: they are kept as they are, and
// modules.dep's times set to now, as a rewrite would (see keepOutputs).
//
// A record made within racyWindow of its file's last change may describe a file changed
// again within the same timestamp tick; it is used only after the file is read again
// and found alike (as git treats racily clean entries). A cache made by another gokmod
// build (another executable) is ignored whole: what it extracted may differ.
//
// The cache is checksummed as a whole and parsed with every length bounds-checked: a
// corrupt, foreign or truncated cache is ignored, never trusted, and rewritten.
//
// Layout (little-endian): cacheMagic, records, a CRC-32C of everything before it, and
// cacheMagic again. A record is a uvarint length and that many bytes, starting with its
// kind: recBuild first (the identity of the executable that made the cache), then
// recNames (entries of the needed-symbol table, cache_names.go), recModule (path, key,
// racy flag, data: see encodeEntry), recDir (a directory's listing, cache_dirs.go) and
// recOutputs (see outputsRecord).
// Later records replace earlier ones for the same path, so a run that changed a few
// modules appends their records and a new trailer instead of rewriting the file; the
// CRC-32C is extended, not recomputed. Every write ends with an outputs record, so the
// last one always describes the modules' latest records.

// CacheFile is the cache's name in the directory depmod writes to. Distributions remove
// modules.* with a kernel, so the cache goes with it.
const CacheFile = "modules.gokmod-cache"

const cacheMagic = "gokmod depmod cache 6\n"

const (
	recBuild   = 'B'
	recModule  = 'M'
	recOutputs = 'O'
	recNames   = 'N' // needed symbols (cache_names.go)
)

// racyWindow is how recent a file's last change must be for its record to be checked
// by reading the file again: above the coarsest timestamp granularity in use (whole
// seconds on some file systems).
var racyWindow = 2 * time.Second

// buildIdentity names the running executable by its file's key: a cache made by any
// other build is not trusted. "" when it cannot be known (then no cache is used).
var buildIdentity = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	var st unix.Stat_t
	if unix.Stat(exe, &st) != nil {
		return ""
	}
	return exe + "\x00" + string(keyOf(&st).append(nil))
})

// castagnoli is made on first use: a table made at package initialization would cost
// every gokmod command, cached or not, at start-up.
var castagnoliTable = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// CacheStats is what a run did with the cache, for tests (export_test.go).
type CacheStats struct {
	Loaded bool // a valid cache was read
	Reread int  // modules read from their files
	Reused bool // the previous outputs were written again without recomputing them

	DirsCached int // directories searched from their recorded listing
	DirsListed int // directories read
}

var cacheHook func(CacheStats)

// fileKey identifies a file's state.
type fileKey struct {
	dev, ino               uint64
	size, mtimeNs, ctimeNs int64
}

func keyOf(st *unix.Stat_t) fileKey {
	return fileKey{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtimeNs: st.Mtim.Nano(), ctimeNs: st.Ctim.Nano(),
	}
}

func (k fileKey) append(b []byte) []byte {
	for _, v := range []uint64{k.dev, k.ino, uint64(k.size), uint64(k.mtimeNs), uint64(k.ctimeNs)} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func (d *decoder) key() fileKey {
	return fileKey{dev: d.u64(), ino: d.u64(), size: int64(d.u64()), mtimeNs: int64(d.u64()), ctimeNs: int64(d.u64())}
}

// cacheEntry is one module's cached data, still encoded.
type cacheEntry struct {
	key  fileKey
	racy bool   // made within racyWindow of the file's change: check before use
	raw  []byte // the whole record, written again as is when still valid
	body []byte // its data part
}

// outputsRecord is what the last successful run wrote: a digest of everything besides
// the modules' data that the output files depend on, and each file's key after writing.
type outputsRecord struct {
	inputs [sha256.Size]byte
	files  map[string]fileKey
}

// moduleCache is the cache as loaded, and what the run found.
type moduleCache struct {
	path       string // where it is read from and written to
	entries    map[string]cacheEntry
	dirs       map[string]dirEntry // directory listings (cache_dirs.go)
	outputs    *outputsRecord      // nil: unknown
	loaded     bool                // a valid cache was read
	why        string              // why not, for the trace
	fileKey    fileKey             // the cache file's state when read
	size       int                 // its length
	crc        uint32              // the CRC-32C of its bytes before the trailer
	dead       int                 // bytes of records replaced by later ones
	outputsLen int                 // bytes of the last outputs record

	mapped []byte // the cache file's mapping, if any

	names       []neededSym // the needed-symbol table: the file's, then this run's additions
	namesLoaded int         // how many came from the file
	namesMu     sync.Mutex  // intern's, while readers run
	nameIdx     map[neededSym]uint32
	scans       int // intern calls answered without nameIdx

	// ready is closed when the file has been read (load). Until then only the search
	// runs: the readers, the first to look at entries, wait for it.
	ready chan struct{}
	// dirsReady is closed once dirs is read, before the rest (parseDirs); dirsOK says
	// whether it was.
	dirsReady chan struct{}
	dirsOK    bool

	mu      sync.Mutex
	changed []*module // modules whose record must be written
}

// wait returns once the cache file has been read.
func (c *moduleCache) wait() { <-c.ready }

// closeCache releases the cache file's mapping, once nothing the run keeps points into it.
func (d *depmod) closeCache() {
	d.stopReaders() // they compare records with what they read
	if d.cache != nil {
		d.cache.wait()
	}
	if d.cache != nil && d.cache.mapped != nil {
		unix.Munmap(d.cache.mapped)
		d.cache.mapped = nil
	}
}

// openCache reads the cache; any problem leaves it empty, with the reason kept.
func (d *depmod) openCache() {
	switch d.o.Cache {
	case CacheOff:
		return
	case CacheAuto:
		if d.o.CachePath == "" && (d.o.BaseDir != "" || d.o.OutDir != "" || d.o.Root != "") {
			return
		}
	}
	p := d.o.CachePath
	if p == "" {
		p = d.real(d.outdir + "/" + CacheFile)
	}
	id := buildIdentity()
	if id == "" {
		return
	}
	c := &moduleCache{path: p, entries: map[string]cacheEntry{}, ready: make(chan struct{}), dirsReady: make(chan struct{})}
	d.cache = c
	// The file is read and checked while the search walks the tree (about 5 ms of
	// 7 MB read, CRC and records for Debian's 6.1 tree, when one core would be idle).
	go func() {
		defer close(c.ready)
		defer func() {
			select {
			case <-c.dirsReady:
			default:
				close(c.dirsReady) // load gave up before parseDirs
			}
		}()
		c.load(id)
	}()
}

// load reads the cache file into c; any problem leaves it empty, with the reason kept.
func (c *moduleCache) load(id string) {
	p := c.path
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		c.why = err.Error()
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size <= 0 || st.Size > 1<<30 {
		c.why = "not a regular file, empty, or too large"
		return
	}
	// Read into anonymous memory populated in one call: fresh heap would take a page
	// fault per 4 KiB, and a mapping of the file itself would turn its truncation by
	// anyone during the run into SIGBUS. The records' strings point into this memory,
	// which closeCache releases when the run is over.
	data, err := unix.Mmap(-1, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		c.why = err.Error()
		return
	}
	c.mapped = data
	if n, _ := preadMax(fd, data, 0); n != len(data) {
		c.why = "short read"
		return
	}
	if err := c.parse(data, id); err != nil {
		c.why = err.Error()
		// The directory listings stay usable if parseDirs took them: they were checked
		// by the checksum and the build record, and the search may be using them.
		clear(c.entries)
		c.outputs, c.names = nil, nil
		return
	}
	c.loaded, c.fileKey, c.size, c.namesLoaded = true, keyOf(&st), len(data), len(c.names)
}

var errCorrupt = errors.New("corrupt cache")

// errOtherBuild is a valid cache made by another gokmod executable.
var errOtherBuild = errors.New("made by another gokmod build")

func (c *moduleCache) parse(data []byte, id string) error {
	body, err := c.verify(data, id)
	if err != nil {
		return err
	}
	c.parseDirs(body)
	if c.dirsReady != nil {
		close(c.dirsReady)
	}
	return c.parseRecords(body)
}

// verify checks the cache's framing, checksum and build record, and returns its records.
func (c *moduleCache) verify(data []byte, id string) ([]byte, error) {
	n := len(cacheMagic)
	if len(data) < 2*n+4 || string(data[:n]) != cacheMagic || string(data[len(data)-n:]) != cacheMagic {
		return nil, fmt.Errorf("%w: not a gokmod depmod cache", errCorrupt)
	}
	end := len(data) - n - 4
	c.crc = crc32.Checksum(data[:end], castagnoliTable())
	if c.crc != binary.LittleEndian.Uint32(data[end:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	body := data[n:end]
	l, k := binary.Uvarint(body)
	if k <= 0 || l == 0 || l > uint64(len(body)-k) || body[k] != recBuild {
		return nil, fmt.Errorf("%w: the build record must come first, once", errCorrupt)
	}
	if string(body[k+1:k+int(l)]) != id {
		return nil, errOtherBuild
	}
	return body, nil
}

// parseDirs reads the directory records first, so that parse lets the search use them
// (dirsReady) while the rest is parsed: the walk starts before the cache is read, and
// each directory it reads before then is one more getdents.
func (c *moduleCache) parseDirs(body []byte) {
	c.dirs = make(map[string]dirEntry, len(body)/3000)
	for p := body; len(p) > 0; {
		l, k := binary.Uvarint(p)
		if k <= 0 || l == 0 || l > uint64(len(p)-k) {
			clear(c.dirs) // parseRecords reports it
			return
		}
		if p[k] == recDir && !c.parseDir(decoder{b: p[k+1 : k+int(l)]}, p[:k+int(l)]) {
			clear(c.dirs)
			return
		}
		p = p[k+int(l):]
	}
	c.dirsOK = true
}

// parseRecords reads every record but the directories'.
func (c *moduleCache) parseRecords(body []byte) error {
	// Module records take about 700 bytes of the file each in Debian's trees (with the
	// needed-symbol table): a map sized from the file's length is not rehashed a dozen
	// times as it grows.
	c.entries = make(map[string]cacheEntry, len(body)/640)
	first := true
	for p := body; len(p) > 0; first = false {
		l, k := binary.Uvarint(p)
		if k <= 0 || l == 0 || l > uint64(len(p)-k) {
			return fmt.Errorf("%w: record length", errCorrupt)
		}
		raw := p[:k+int(l)]
		d := decoder{b: p[k+1 : k+int(l)]}
		if first != (p[k] == recBuild) {
			return fmt.Errorf("%w: the build record must come first, once", errCorrupt)
		}
		switch p[k] {
		case recBuild: // checked by verify
		case recModule:
			path := d.str()
			key := d.key()
			racy := d.byte()
			if d.err || racy > 1 {
				return fmt.Errorf("%w: module record", errCorrupt)
			}
			if old, ok := c.entries[path]; ok {
				c.dead += len(old.raw)
			}
			c.entries[path] = cacheEntry{key: key, racy: racy == 1, raw: raw, body: d.b}
		case recDir:
			if !c.dirsOK {
				return fmt.Errorf("%w: directory record", errCorrupt)
			}
		case recNames:
			if !c.parseNames(d) {
				return fmt.Errorf("%w: names record", errCorrupt)
			}
		case recOutputs:
			o := &outputsRecord{files: map[string]fileKey{}}
			if len(d.b) < sha256.Size {
				return fmt.Errorf("%w: outputs record", errCorrupt)
			}
			copy(o.inputs[:], d.b)
			d.b = d.b[sha256.Size:]
			for i, nf := 0, d.count(6); i < nf; i++ {
				name := d.str()
				o.files[name] = d.key()
			}
			if d.err || len(d.b) != 0 {
				return fmt.Errorf("%w: outputs record", errCorrupt)
			}
			if nf := len(o.files); nf == 0 {
				o = nil // an empty record: the outputs are not known
			}
			c.dead += c.outputsLen
			c.outputs, c.outputsLen = o, len(raw)
		default:
			return fmt.Errorf("%w: record kind %d", errCorrupt, p[k])
		}
		p = p[k+int(l):]
	}
	return nil
}

// cacheSlot is what a module carries for the cache: its file's key, the still-valid
// record if any, and whether its data is what the cache recorded.
type cacheSlot struct {
	key    fileKey
	keyOK  bool
	racy   bool   // the file changed less than racyWindow before it was keyed
	cached []byte // data part of a valid record: decoded instead of reading the file
	raw    []byte // the record to write
	same   bool   // the data equals the cache's (a valid record, or read again alike)
	known  bool   // the cache has a record for the path, valid or not
}

func (c *moduleCache) slot(path string, st *unix.Stat_t) cacheSlot {
	sl := cacheSlot{key: keyOf(st), keyOK: true}
	last := max(sl.key.mtimeNs, sl.key.ctimeNs)
	sl.racy = time.Now().UnixNano()-last < int64(racyWindow)
	e, ok := c.entries[path]
	sl.known = ok
	if ok && e.key == sl.key && !e.racy {
		sl.cached, sl.raw, sl.same = e.body, e.raw, true
	}
	return sl
}

// readCached stats a module and decodes its valid record, or reads it and makes the
// record. It runs in the reader goroutines.
func (r *reader) readCached(c *moduleCache, m *module, path string) *modData {
	// The stat comes before the read: a file changed in between is keyed by its older
	// state, and read again next time. It is made here, in parallel, rather than by the
	// walk, which then only lists directories.
	if !m.cache.keyOK {
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil {
			m.cache = c.slot(path, &st)
		}
	}
	if m.cache.cached != nil {
		// Decoded now, beside the walk, though a run whose outputs turn out reusable
		// will not need it: on a spare core it costs less than decoding afterwards.
		if md, ok := decodeData(m.cache.cached, c.namesLoaded, &r.arena); ok {
			return md
		}
		m.cache.cached, m.cache.raw, m.cache.same = nil, nil, false
	}
	md := r.readModule(path)
	if m.cache.keyOK && md.symErr == nil && !md.zstdNoSize {
		data := encodeData(md, c.intern(md.depSyms))
		m.cache.raw = encodeEntry(path, m.cache.key, m.cache.racy, data)
		old, ok := c.entries[path]
		m.cache.same = ok && bytes.Equal(old.body, data)
		c.mu.Lock()
		c.changed = append(c.changed, m)
		c.mu.Unlock()
	}
	return md
}
