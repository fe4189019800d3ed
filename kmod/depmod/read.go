package depmod

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	fastxz "github.com/therootcompany/xz"
	"golang.org/x/sys/unix"

	"gokmod/kmod/compat"
	"gokmod/ko"
)

// modData is what depmod takes from a module file: its exports
// (kmod_module_get_symbols), its "alias" and "softdep" .modinfo entries in order
// (kmod_module_get_info), and the symbols it needs (kmod_module_get_dependency_symbols).
type modData struct {
	exports   []ko.KmodSymbol
	symErr    error // why the file could not be read, reported as kmod does
	info      []ko.KV
	depSyms   []ko.KmodSymbol
	needRaw   []byte // or, from the cache, table indexes still encoded (eachNeed)
	needWidth int    // bytes per index in needRaw
	hasDepSym bool
	// zstdNoSize: a .ko.zst whose frame does not record its decompressed size, which
	// kmod 34 refuses (ko.ZstdKnowsContentSize; symErr is then EINVAL). Never cached,
	// so that a record made as kmod 30 never hides it from a kmod 34 run.
	zstdNoSize bool
}

// reader reads module files into a buffer it reuses, so thousands of files cost no
// mmap/munmap (whose TLB shootdowns dominate on a multi-threaded process) and no garbage.
type reader struct {
	kmod34   bool // refuse a .ko.zst without its content size, as kmod 34 does
	buf, out []byte
	pr       ko.PartialReader
	sc       symScratch
	arena    decodeArena // for the records decoded from the cache
}

// readModule extracts what depmod needs from one module file.
func (r *reader) readModule(path string) *modData {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &modData{symErr: err}
	}
	defer unix.Close(fd)
	if md, ok := r.readPartial(fd); ok {
		return md
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &modData{symErr: err}
	}
	size := int(st.Size)
	if size < 6 {
		// kmod_file_open reads the 6 bytes of the longest compression magic (xz's)
		// first, and fails with EINVAL when the file is shorter (kmod 30 and 34.2).
		return &modData{symErr: unix.EINVAL}
	}
	var head [6]byte
	if n, ok := preadMax(fd, head[:], 0); ok && n == len(head) && string(head[:4]) != "\x7fELF" && ko.DetectCompression(head[:]) == ko.None {
		// Neither ELF nor compressed: kmod's elf_identify refuses it from its first
		// bytes (ENOEXEC), and so does this without reading the rest, which may be
		// gigabytes.
		return &modData{symErr: unix.ENOEXEC}
	}
	if size > bigModule {
		return r.readMapped(path, fd, size)
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size+size/4)
	}
	data := r.buf[:size]
	for off := 0; off < size; {
		n, err := unix.Pread(fd, data[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &modData{symErr: err}
		}
		if n == 0 {
			data = data[:off]
			break
		}
		off += n
	}
	return r.extract(path, data)
}

func readModule(path string) *modData { return (&reader{}).readModule(path) }

// bigModule is the size above which a module file is mapped rather than read: few real
// modules pass it, and a file named like one may be gigabytes, sparse or not. kmod maps every file (load_reg) and touches only the
// pages it parses: a garbage file costs it one page, a module padded with a hole its
// ELF headers and sections.
const bigModule = 16 << 20

// readMapped is readModule's path for a file larger than bigModule.
func (r *reader) readMapped(path string, fd, size int) *modData {
	data, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return &modData{symErr: err}
	}
	defer unix.Munmap(data)
	return r.extract(path, data)
}

// extract parses a module held in data (possibly compressed). Nothing returned refers
// to data, which may be unmapped afterwards.
func (r *reader) extract(path string, data []byte) (md *modData) {
	if c := ko.DetectCompression(data); c != ko.None {
		if c == ko.Zstd && !ko.ZstdKnowsContentSize(data) {
			if r.kmod34 {
				return &modData{symErr: unix.EINVAL, zstdNoSize: true}
			}
			defer func() { md.zstdNoSize = true }()
		}
		var err error
		data, err = r.decompress(data, c)
		if err != nil {
			return &modData{symErr: err}
		}
	}
	f, err := ko.Parse(path, data)
	if err != nil {
		// kmod reports its own ELF checks' errno (EINVAL for a cut-short module, where
		// ko says ENOEXEC).
		return &modData{symErr: ko.KmodElfErrno(data)}
	}
	md = &modData{info: depmodInfo(f)}
	if v, ok := newElfView(f); ok {
		v.scratch = &r.sc
		md.exports = v.exports()
		md.depSyms, _ = v.dependencySymbols()
	} else {
		md.exports, _ = f.KmodSymbols()
		md.depSyms, _ = f.KmodDependencySymbols()
	}
	md.hasDepSym = len(md.depSyms) > 0
	return md
}

// decompress returns a compressed module's contents. xz — all of Debian's .ko.xz trees —
// goes through the fastest pure-Go decoder measured (scripts/bench-depmod.sh: an
// xz-embedded port, 1.5× ulikunitz/xz); anything it rejects, and the other formats, go
// through ko.Decompress, whose errors are the ones reported.
func (r *reader) decompress(data []byte, c ko.Compression) ([]byte, error) {
	if c == ko.XZ {
		if xr, err := fastxz.NewReader(bytes.NewReader(data), 0); err == nil {
			if cap(r.out) < 8*len(data) {
				r.out = make([]byte, 0, min(8*len(data)+4096, ko.MaxDecompressedSize))
			}
			buf := bytes.NewBuffer(r.out[:0])
			_, err := buf.ReadFrom(io.LimitReader(xr, ko.MaxDecompressedSize+1))
			r.out = buf.Bytes()
			if err == nil && buf.Len() <= ko.MaxDecompressedSize {
				return r.out, nil
			}
		}
	}
	if c == ko.Zstd {
		if out, err := zstdDecoder().DecodeAll(data, r.out[:0]); err == nil {
			r.out = out
			return out, nil
		}
	}
	out, _, err := ko.Decompress(data)
	return out, err
}

// zstdDecoder is one decoder shared by all goroutines (DecodeAll is safe for concurrent
// use): making a decoder per file, as ko.Decompress does, costs more than decoding.
var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(ko.MaxDecompressedSize), zstd.WithDecoderMaxWindow(256<<20))
	if err != nil {
		panic(err)
	}
	return d
})

// startReaders starts the goroutines that read modules as the search finds them, so the
// directory walk and the reading overlap. Modules go to them in batches: one channel
// operation per module made the scheduler's hand-offs cost more than the reads.
func (d *depmod) startReaders() {
	q, wg := make(chan []*module, 256), &sync.WaitGroup{}
	d.readq, d.readWG = q, wg
	for w := jobs(d.o.Jobs); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := reader{kmod34: d.kmod == compat.Kmod34}
			for batch := range q {
				if d.cache != nil {
					// Set before the first batch was sent; read while the search runs.
					d.cache.wait()
				}
				for _, m := range batch {
					if d.cache != nil {
						m.data = r.readCached(d.cache, m, d.real(m.path))
					} else {
						m.data = r.readModule(d.real(m.path))
					}
				}
			}
		}()
	}
}

const readBatch = 32

// queueRead hands a module found by the search to the readers.
func (d *depmod) queueRead(m *module) {
	if d.readq == nil {
		return
	}
	d.pending = append(d.pending, m)
	if len(d.pending) == readBatch {
		d.readq <- d.pending
		d.pending = make([]*module, 0, readBatch)
	}
}

// stopReaders waits for the reads queued so far.
func (d *depmod) stopReaders() {
	if d.readq != nil {
		if len(d.pending) > 0 {
			d.readq <- d.pending
			d.pending = nil
		}
		close(d.readq)
		d.readq = nil
		d.readWG.Wait()
	}
}

// loadModules is depmod_load_modules: once every module is read, its exports are added
// to the symbol table in module order, so that a symbol exported twice belongs to the
// later module, as in kmod.
func (d *depmod) loadModules() error {
	d.stopReaders()
	n := 0
	for _, m := range d.mods {
		if m.data == nil { // not queued (cannot happen): read it now
			m.data = readModule(d.real(m.path))
		}
		n += len(m.data.exports)
	}
	// Sized once, with the symbols in one slab: grown entry by entry, the table of
	// Debian's 14,000 exports rehashes a dozen times into fresh pages.
	syms := make(map[string]*symbol, len(d.symbols)+n)
	for k, v := range d.symbols {
		syms[k] = v
	}
	d.symbols, d.symSlab = syms, make([]symbol, 0, n)
	for _, m := range d.mods {
		if m.data.symErr != nil {
			if m.data.zstdNoSize && d.kmod == compat.Kmod34 {
				// kmod 34's libkmod fails to open the file for the symbols, then again,
				// each time with its message, for the .modinfo and the needed symbols.
				d.log.libkmod(logErr, "libkmod-file-zstd.c", 0, "kmod_file_load_zstd", "zstd: Failed to determine decompression size\n")
				d.log.err("failed to load symbols from %s: %s\n", m.path, strerror(m.data.symErr))
				d.log.libkmod(logErr, "libkmod-file-zstd.c", 0, "kmod_file_load_zstd", "zstd: Failed to determine decompression size\n")
				d.log.libkmod(logErr, "libkmod-file-zstd.c", 0, "kmod_file_load_zstd", "zstd: Failed to determine decompression size\n")
				continue
			}
			d.log.err("failed to load symbols from %s: %s\n", m.path, strerror(m.data.symErr))
			continue
		}
		for _, s := range m.data.exports {
			d.addSymbol(s.Name, false, s.CRC, m)
		}
		m.data.exports = nil
	}
	return nil
}
