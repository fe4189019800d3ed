package depmod

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"gokmod/ko"
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
// recModule (path, key, racy flag, data: see encodeEntry) and recOutputs (see
// outputsRecord).
// Later records replace earlier ones for the same path, so a run that changed a few
// modules appends their records and a new trailer instead of rewriting the file; the
// CRC-32C is extended, not recomputed. Every write ends with an outputs record, so the
// last one always describes the modules' latest records.

// CacheFile is the cache's name in the directory depmod writes to. Distributions remove
// modules.* with a kernel, so the cache goes with it.
const CacheFile = "modules.gokmod-cache"

const cacheMagic = "gokmod depmod cache 2\n"

const (
	recBuild   = 'B'
	recModule  = 'M'
	recOutputs = 'O'
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
	outputs    *outputsRecord // nil: unknown
	loaded     bool           // a valid cache was read
	why        string         // why not, for the trace
	fileKey    fileKey        // the cache file's state when read
	size       int            // its length
	crc        uint32         // the CRC-32C of its bytes before the trailer
	dead       int            // bytes of records replaced by later ones
	outputsLen int            // bytes of the last outputs record

	mapped []byte // the cache file's mapping, if any

	mu      sync.Mutex
	changed []*module // modules whose record must be written
}

// closeCache releases the cache file's mapping, once nothing the run keeps points into it.
func (d *depmod) closeCache() {
	d.stopReaders() // they compare records with what they read
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
	c := &moduleCache{path: p, entries: map[string]cacheEntry{}}
	d.cache = c
	id := buildIdentity()
	if id == "" {
		d.cache = nil
		return
	}
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
		clear(c.entries)
		c.outputs = nil
		return
	}
	c.loaded, c.fileKey, c.size = true, keyOf(&st), len(data)
}

var errCorrupt = errors.New("corrupt cache")

// errOtherBuild is a valid cache made by another gokmod executable.
var errOtherBuild = errors.New("made by another gokmod build")

func (c *moduleCache) parse(data []byte, id string) error {
	n := len(cacheMagic)
	if len(data) < 2*n+4 || string(data[:n]) != cacheMagic || string(data[len(data)-n:]) != cacheMagic {
		return fmt.Errorf("%w: not a gokmod depmod cache", errCorrupt)
	}
	end := len(data) - n - 4
	c.crc = crc32.Checksum(data[:end], castagnoliTable())
	if c.crc != binary.LittleEndian.Uint32(data[end:]) {
		return fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	first := true
	for p := data[n:end]; len(p) > 0; first = false {
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
		case recBuild:
			if string(d.b) != id {
				return errOtherBuild
			}
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
}

func (c *moduleCache) slot(path string, st *unix.Stat_t) cacheSlot {
	sl := cacheSlot{key: keyOf(st), keyOK: true}
	last := max(sl.key.mtimeNs, sl.key.ctimeNs)
	sl.racy = time.Now().UnixNano()-last < int64(racyWindow)
	if e, ok := c.entries[path]; ok && e.key == sl.key && !e.racy {
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
		if md, ok := decodeData(m.cache.cached); ok {
			return md
		}
		m.cache.cached, m.cache.raw, m.cache.same = nil, nil, false
	}
	md := r.readModule(path)
	if m.cache.keyOK && md.symErr == nil {
		data := encodeData(md)
		m.cache.raw = encodeEntry(path, m.cache.key, m.cache.racy, data)
		old, ok := c.entries[path]
		m.cache.same = ok && bytes.Equal(old.body, data)
		c.mu.Lock()
		c.changed = append(c.changed, m)
		c.mu.Unlock()
	}
	return md
}

// inputsDigest covers what the outputs depend on besides the modules' data: the module
// list in output order with names and paths (which the configuration, the search and
// modules.order decide), the symbol prefix, where the tree is, and the built-in lists.
func (d *depmod) inputsDigest() [sha256.Size]byte {
	h := sha256.New()
	b := make([]byte, 0, 64<<10)
	b = appendStr(b, cacheMagic)
	b = appendStr(b, d.dirname)
	b = appendStr(b, d.outdir)
	b = append(b, d.o.SymPrefix)
	for _, m := range d.mods {
		if len(b) > 60<<10 { // hashed in pieces: one buffer, no growth
			h.Write(b)
			b = b[:0]
		}
		b = appendStr(b, m.path)
		b = appendStr(b, m.relpath)
		b = appendStr(b, m.name)
	}
	h.Write(b)
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		data, err := os.ReadFile(d.real(d.dirname + "/" + f))
		h.Write([]byte(fmt.Sprintf("%s %v %d\n", f, err == nil, len(data))))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// reusable reports whether the output files are what this run would compute: every
// module's data as recorded, the same other inputs, no message that computing them would
// print, and the files untouched since written.
func (d *depmod) reusable() bool {
	c := d.cache
	if c == nil || c.outputs == nil || d.o.DryRun || d.o.ErrSyms || d.o.WarnDups || d.o.Verbose > 0 {
		return false
	}
	for _, m := range d.mods {
		if !m.cache.same || m.data != nil && m.data.symErr != nil {
			return false
		}
	}
	if len(d.mods) != len(c.entries) {
		return false
	}
	d.digest = d.inputsDigest()
	if d.digest != c.outputs.inputs || len(c.outputs.files) != len(outputs) {
		return false
	}
	for _, o := range outputs {
		var st unix.Stat_t
		want, ok := c.outputs.files[o.name]
		if !ok || unix.Stat(d.real(d.outdir+"/"+o.name), &st) != nil || keyOf(&st) != want {
			return false
		}
	}
	return true
}

// utimensNow is futimens(fd, NULL): the file's times set to now (utimensat with a NULL
// path, which x/sys/unix does not spell).
func utimensNow(fd int) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// keepOutputs is what a run does when the outputs are reusable: the files stay as they
// are (byte for byte what kmod would write again), and modules.dep's times are set to
// now, as a rewrite would, so that depmod -A sees the tree up to date. The files' keys
// are gathered for the cache.
//
// The keys recorded are those reusable checked, and modules.dep's is taken through the
// descriptor whose times were set: a file renamed over one of them meanwhile (another
// depmod) is never recorded as this run's.
func (d *depmod) keepOutputs() error {
	fd, err := unix.Open(d.real(d.outdir+"/modules.dep"), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || keyOf(&st) != d.cache.outputs.files["modules.dep"] {
		return unix.ESTALE
	}
	if err := utimensNow(fd); err != nil {
		return err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	d.written = map[string]fileKey{}
	for name, k := range d.cache.outputs.files {
		d.written[name] = k
	}
	d.written["modules.dep"] = keyOf(&st)
	return nil
}

// saveCache records this run: the modules' new records and the outputs (nil when they
// were not all written). It appends to the cache when it can, and rewrites it when it
// was not valid, has changed since it was read, or is mostly superseded records. It
// reports nothing: a cache that cannot be written only makes the next run slower.
func (d *depmod) saveCache(written map[string]fileKey) {
	if d.cache != nil && cacheHook != nil {
		cacheHook(CacheStats{Loaded: d.cache.loaded, Reread: len(d.cache.changed), Reused: d.reused})
	}
	if d.cache != nil && trace {
		c := d.cache
		fmt.Fprintf(d.o.Stderr, "depmod: trace: cache %s: loaded %v (%s), %d records, %d read again, outputs known %v\n",
			c.path, c.loaded, c.why, len(c.entries), len(c.changed), c.outputs != nil)
	}
	c := d.cache
	if c == nil || d.o.DryRun {
		return
	}
	// The outputs are recorded only if every module's record describes what they were
	// computed from: a module that could not be read (or keyed) leaves them unknown.
	complete := len(written) == len(outputs)
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
		rec = binary.AppendUvarint(rec, uint64(len(outputs)))
		for _, o := range outputs {
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
		if _, ok := c.entries[d.real(m.path)]; ok {
			present++
		}
	}
	if c.loaded && present == len(c.entries) && c.dead < live/2 && d.appendCache(rec) {
		return
	}
	// A new file: the records are written where they lie (the old cache's bytes or the
	// new records), with the checksum extended over each, instead of assembling megabytes.
	parts := make([][]byte, 0, len(d.mods)+4)
	parts = append(parts, []byte(cacheMagic))
	build := append([]byte{recBuild}, buildIdentity()...)
	parts = append(parts, append(binary.AppendUvarint(nil, uint64(len(build))), build...))
	for _, m := range d.mods {
		if len(m.cache.raw) > 0 {
			parts = append(parts, m.cache.raw)
		}
	}
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

// appendCache adds the changed modules' records and rec to the cache file in place of its
// trailer, when the file is still the one read. A crash half-way leaves a file whose
// trailer does not check: ignored next time, as any corrupt cache.
func (d *depmod) appendCache(rec []byte) bool {
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
	for _, m := range c.changed {
		if m.cache.raw != nil && d.byName[m.name] == m { // not set aside for another of its name
			add = append(add, m.cache.raw...)
		}
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

// encodeEntry is one module's record: its path and key, then its data.
func encodeEntry(path string, key fileKey, racy bool, data []byte) []byte {
	e := []byte{recModule}
	e = appendStr(e, path)
	e = key.append(e)
	if racy {
		e = append(e, 1)
	} else {
		e = append(e, 0)
	}
	e = append(e, data...)
	return append(binary.AppendUvarint(nil, uint64(len(e))), e...)
}

// encodeData is what depmod uses of a module: its .modinfo entries (alias/softdep),
// exports and needed symbols.
func encodeData(md *modData) []byte {
	var e []byte
	e = binary.AppendUvarint(e, uint64(len(md.info)))
	for _, kv := range md.info {
		e = appendStr(e, kv.Key)
		e = appendStr(e, kv.Value)
	}
	for _, syms := range [][]ko.KmodSymbol{md.exports, md.depSyms} {
		e = binary.AppendUvarint(e, uint64(len(syms)))
		for _, s := range syms {
			e = appendStr(e, s.Name)
			e = binary.LittleEndian.AppendUint64(e, s.CRC)
			e = append(e, s.Bind)
		}
	}
	return e
}

// decodeData is encodeEntry's data part back. The strings point into the cache's bytes,
// which are never modified.
func decodeData(b []byte) (*modData, bool) {
	d := decoder{b: b}
	md := &modData{}
	if n := d.count(2); n > 0 {
		md.info = make([]ko.KV, n)
		for i := range md.info {
			md.info[i] = ko.KV{Key: d.str(), Value: d.str()}
		}
	}
	if n := d.count(10); n > 0 {
		md.exports = make([]ko.KmodSymbol, n)
		for i := range md.exports {
			md.exports[i] = ko.KmodSymbol{Name: d.str(), CRC: d.fixed64(), Bind: d.byte()}
		}
	}
	// The needed symbols — most of the data — stay encoded: loadDependencies walks
	// them once. They are checked here, so that walk cannot fail.
	n := d.count(10)
	raw := d.b
	for range n {
		d.str()
		d.fixed64()
		d.byte()
	}
	if d.err || len(d.b) != 0 {
		return nil, false
	}
	md.depRaw, md.nDepRaw = raw, n
	md.hasDepSym = n > 0
	return md, true
}

// eachDepSym calls f with each symbol a module needs, decoded or still encoded.
func (md *modData) eachDepSym(f func(ko.KmodSymbol)) {
	for _, s := range md.depSyms {
		f(s)
	}
	d := decoder{b: md.depRaw}
	for range md.nDepRaw {
		f(ko.KmodSymbol{Name: d.str(), CRC: d.fixed64(), Bind: d.byte()})
	}
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decoder reads what encodeEntry wrote; any overrun sets err and yields zero values.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) u64() uint64 {
	v, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[k:]
	return v
}

// count reads a number of items each at least min bytes long, so that a corrupt count
// cannot make a huge allocation.
func (d *decoder) count(min int) int {
	n := d.u64()
	if n > uint64(len(d.b)/min) {
		d.err, d.b = true, nil
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.u64()
	if n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return ""
	}
	if n == 0 {
		return ""
	}
	s := unsafe.String(&d.b[0], int(n))
	d.b = d.b[n:]
	return s
}

func (d *decoder) fixed64() uint64 {
	if len(d.b) < 8 {
		d.err, d.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.err, d.b = true, nil
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}
