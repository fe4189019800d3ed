package depmod

import (
	"encoding/binary"
	"unsafe"

	"gokmod/ko"
)

// The cache, part 4: a module's record, encoded and decoded with every length checked.

// encodeEntry is one module's record: its path and key, then its data.
func encodeEntry(path string, key fileKey, racy bool, data []byte) []byte {
	e := append(fileRecordHead(recModule, path, key, racy), data...)
	return append(binary.AppendUvarint(nil, uint64(len(e))), e...)
}

// fileRecordHead starts a record about a file or directory: its kind, path, key and
// racy flag.
func fileRecordHead(kind byte, path string, key fileKey, racy bool) []byte {
	e := []byte{kind}
	e = appendStr(e, path)
	e = key.append(e)
	if racy {
		return append(e, 1)
	}
	return append(e, 0)
}

// encodeData is what depmod uses of a module: its .modinfo entries (alias/softdep),
// exports, and the needed symbols as indexes into the cache's table (needs, from
// moduleCache.intern).
func encodeData(md *modData, needs []uint32) []byte {
	var e []byte
	e = binary.AppendUvarint(e, uint64(len(md.info)))
	for _, kv := range md.info {
		e = appendStr(e, kv.Key)
		e = appendStr(e, kv.Value)
	}
	e = binary.AppendUvarint(e, uint64(len(md.exports)))
	for _, s := range md.exports {
		e = appendStr(e, s.Name)
		e = binary.LittleEndian.AppendUint64(e, s.CRC)
		e = append(e, s.Bind)
	}
	// Fixed-width indexes, two bytes each while the table is small enough (Debian's 6.1
	// modules need 18,000 distinct symbols): loadDependencies walks 189,000 of them, a
	// load each, where varints cost a loop each and a checking pass in decodeData.
	e = binary.AppendUvarint(e, uint64(len(needs)))
	if len(needs) == 0 {
		return e
	}
	width := byte(2)
	for _, i := range needs {
		if i > 0xffff {
			width = 4
		}
	}
	e = append(e, width)
	for _, i := range needs {
		if width == 2 {
			e = binary.LittleEndian.AppendUint16(e, uint16(i))
		} else {
			e = binary.LittleEndian.AppendUint32(e, i)
		}
	}
	return e
}

// decodeData is encodeEntry's data part back, for a table of nnames needed symbols. The
// strings point into the cache's bytes, which are never modified. The slices come from
// a (nil: allocated one by one).
func decodeData(b []byte, nnames int, a *decodeArena) (*modData, bool) {
	d := decoder{b: b}
	md := a.modData()
	if n := d.count(2); n > 0 {
		md.info = a.kvs(n)
		for i := range md.info {
			md.info[i] = ko.KV{Key: d.str(), Value: d.str()}
		}
	}
	if n := d.count(10); n > 0 {
		md.exports = a.syms(n)
		for i := range md.exports {
			md.exports[i] = ko.KmodSymbol{Name: d.str(), CRC: d.fixed64(), Bind: d.byte()}
		}
	}
	// The needed symbols — most of the data — stay encoded: loadDependencies walks
	// them once. They are checked here, so that walk cannot fail.
	n := d.count(2)
	if d.err {
		return nil, false
	}
	if n > 0 {
		width := int(d.byte())
		if d.err || width != 2 && width != 4 || len(d.b) != n*width {
			return nil, false
		}
		top := uint32(0)
		for i := 0; i < len(d.b); i += width {
			top = max(top, needAt(d.b, i, width))
		}
		if uint64(top) >= uint64(nnames) {
			return nil, false
		}
		md.needRaw, md.needWidth = d.b, width
	} else if len(d.b) != 0 {
		return nil, false
	}
	md.hasDepSym = n > 0
	return md, true
}

// decodeArena hands out what decodeData fills from blocks shared by many modules: one
// allocation per few hundred modules rather than three per module (a cached run decodes
// all 4,023 of Debian's).
type decodeArena struct {
	mds []modData
	kv  []ko.KV
	sym []ko.KmodSymbol
}

func (a *decodeArena) modData() *modData {
	if a == nil {
		return &modData{}
	}
	if len(a.mds) == cap(a.mds) {
		a.mds = make([]modData, 0, 256)
	}
	a.mds = a.mds[:len(a.mds)+1]
	return &a.mds[len(a.mds)-1]
}

func (a *decodeArena) kvs(n int) []ko.KV {
	if a == nil {
		return make([]ko.KV, n)
	}
	return take(&a.kv, n, 4096)
}

func (a *decodeArena) syms(n int) []ko.KmodSymbol {
	if a == nil {
		return make([]ko.KmodSymbol, n)
	}
	return take(&a.sym, n, 2048)
}

// take cuts n items off the block, starting a new block of at least size when it is
// full.
func take[T any](block *[]T, n, size int) []T {
	if cap(*block)-len(*block) < n {
		*block = make([]T, 0, max(n, size))
	}
	k := len(*block)
	*block = (*block)[:k+n]
	return (*block)[k : k+n : k+n]
}

// eachNeed calls f with the table index of each needed symbol kept encoded by
// decodeData, which checked them.
func (md *modData) eachNeed(f func(int)) {
	b, w := md.needRaw, md.needWidth
	if w == 0 { // none, or read from the module (depSyms)
		return
	}
	for i := 0; i+w <= len(b); i += w {
		f(int(needAt(b, i, w)))
	}
}

// needAt is the index encoded at b[i:], width bytes wide.
func needAt(b []byte, i, width int) uint32 {
	if width == 2 {
		return uint32(binary.LittleEndian.Uint16(b[i:]))
	}
	return binary.LittleEndian.Uint32(b[i:])
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
