package ko

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// checkXZ walks every xz stream from the end (footer, index, block headers)
// before decoding. A block header may claim a dictionary of up to 4 GiB, which a
// decoder allocates before reading any data (the decoder's own limit is a second
// guard); the index also states the uncompressed size, which lets a bomb be
// refused up front rather than after decoding a gigabyte.
func checkXZ(b []byte) error {
	end := len(b)
	var total uint64
	for end > 0 {
		// Stream padding: zero bytes in multiples of four between and after streams.
		for end >= 4 && binary.LittleEndian.Uint32(b[end-4:end]) == 0 {
			end -= 4
		}
		if end == 0 {
			break
		}
		if end < 24 {
			return errors.New("truncated stream")
		}
		footer := b[end-12 : end]
		if footer[10] != 'Y' || footer[11] != 'Z' {
			return errors.New("missing stream footer")
		}
		if crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[0:4]) {
			return errors.New("stream footer checksum mismatch")
		}
		indexSize := (uint64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
		if indexSize > uint64(end-12) {
			return errors.New("index extends before the start of the file")
		}
		indexStart := end - 12 - int(indexSize)
		idx := b[indexStart : end-12]
		if idx[0] != 0 {
			return errors.New("bad index indicator")
		}
		p := 1
		count, ok := xzVarint(idx, &p)
		if !ok || count > uint64(len(idx)) {
			return errors.New("bad index record count")
		}
		sizes := make([]uint64, 0, count)
		var blocksLen uint64
		for i := uint64(0); i < count; i++ {
			unpadded, ok1 := xzVarint(idx, &p)
			uncompressed, ok2 := xzVarint(idx, &p)
			if !ok1 || !ok2 || unpadded == 0 || unpadded > uint64(len(b)) {
				return errors.New("bad index record")
			}
			total += uncompressed
			if uncompressed > uint64(maxOutput) || total > uint64(maxOutput) {
				return &FormatError{Msg: fmt.Sprintf("decompressed data exceeds %d bytes", maxOutput), Errno: efbig}
			}
			padded := (unpadded + 3) &^ 3
			sizes = append(sizes, padded)
			blocksLen += padded
		}
		if blocksLen+12 > uint64(indexStart) {
			return errors.New("blocks extend before the start of the file")
		}
		start := indexStart - int(blocksLen) - 12
		if !bytes.HasPrefix(b[start:], magicXZ) {
			return errors.New("missing stream header")
		}
		pos := start + 12
		for _, sz := range sizes {
			if err := checkXZBlockHeader(b[pos : pos+int(sz)]); err != nil {
				return err
			}
			pos += int(sz)
		}
		end = start
	}
	return nil
}

// checkXZBlockHeader rejects LZMA2 dictionaries over maxWindow (see checkXZ).
func checkXZBlockHeader(blk []byte) error {
	if len(blk) == 0 || blk[0] == 0 {
		return errors.New("bad block header")
	}
	hsize := (int(blk[0]) + 1) * 4
	if hsize > len(blk) {
		return errors.New("block header larger than its block")
	}
	h := blk[:hsize-4] // without CRC32
	flags := h[1]
	p := 2
	if flags&0x40 != 0 {
		if _, ok := xzVarint(h, &p); !ok {
			return errors.New("bad block header")
		}
	}
	if flags&0x80 != 0 {
		if _, ok := xzVarint(h, &p); !ok {
			return errors.New("bad block header")
		}
	}
	for i := 0; i <= int(flags&3); i++ {
		id, ok1 := xzVarint(h, &p)
		psize, ok2 := xzVarint(h, &p)
		if !ok1 || !ok2 || psize > uint64(len(h)-p) {
			return errors.New("bad filter flags")
		}
		props := h[p : p+int(psize)]
		p += int(psize)
		if id == 0x21 { // LZMA2: one byte encoding the dictionary size
			if len(props) != 1 || props[0] > 40 {
				return errors.New("bad LZMA2 properties")
			}
			d := uint64(2|props[0]&1) << (props[0]/2 + 11)
			if props[0] == 40 {
				d = 1<<32 - 1
			}
			if d > maxWindow {
				return fmt.Errorf("LZMA2 dictionary of %d bytes is larger than the %d bytes allowed", d, maxWindow)
			}
		}
	}
	return nil
}

// xzVarint decodes the xz multibyte integer at b[*p:], at most nine bytes.
func xzVarint(b []byte, p *int) (uint64, bool) {
	var v uint64
	for i := 0; i < 9; i++ {
		if *p >= len(b) {
			return 0, false
		}
		c := b[*p]
		*p++
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, false // non-minimal encoding, as xz forbids
			}
			return v, true
		}
	}
	return 0, false
}
