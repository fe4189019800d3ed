package depmod

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"gokmod/ko"
)

// FuzzCache feeds the cache parser and decoder records with a valid checksum and build
// record, so that the fuzzer gets past them: whatever the records say, parsing must fail cleanly or give
// entries that decode or are rejected, never panic or allocate without bound.
func FuzzCache(f *testing.F) {
	md := &modData{
		info:    []ko.KV{{Key: "alias", Value: "pci:v*d*"}, {Key: "softdep", Value: "pre: foo"}},
		exports: []ko.KmodSymbol{{Name: "foo_init", CRC: 0x1234, Bind: ko.BindGlobal}},
		depSyms: []ko.KmodSymbol{{Name: "printk", CRC: 7, Bind: ko.BindUndef}},
	}
	c := &moduleCache{}
	needs := c.intern(md.depSyms)
	f.Add(append(appendNames(nil, c.names), encodeEntry("/lib/modules/x/kernel/a.ko", fileKey{1, 2, 3, 4, 5}, false, encodeData(md, needs))...))
	f.Add([]byte{3, recOutputs, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, records []byte) {
		const id = "fuzz build"
		data := append([]byte(cacheMagic), byte(len(id)+1), recBuild)
		data = append(append(data, id...), records...)
		data = binary.LittleEndian.AppendUint32(data, crc32.Checksum(data, castagnoliTable()))
		data = append(data, cacheMagic...)
		c := &moduleCache{entries: map[string]cacheEntry{}}
		if c.parse(data, id) != nil {
			return
		}
		for _, e := range c.entries {
			md, ok := decodeData(e.body, len(c.names), nil)
			var arena decodeArena
			if md2, ok2 := decodeData(e.body, len(c.names), &arena); ok2 != ok || ok && (len(md2.info) != len(md.info) || len(md2.exports) != len(md.exports)) {
				t.Fatal("decoding into an arena differs")
			}
			if !ok {
				continue
			}
			if md.hasDepSym != (md.nNeedRaw > 0) {
				t.Fatal("hasDepSym inconsistent")
			}
			n := 0
			md.eachNeed(func(i int) {
				if i < 0 || i >= len(c.names) {
					t.Fatalf("need %d outside a table of %d", i, len(c.names))
				}
				n++
			})
			if n != md.nNeedRaw {
				t.Fatalf("eachNeed gave %d symbols, want %d", n, md.nNeedRaw)
			}
		}
	})
}

// TestCacheOtherBuild checks that a valid cache made by another executable is not used.
func TestCacheOtherBuild(t *testing.T) {
	rec := append([]byte{recBuild}, "another build"...)
	data := append([]byte(cacheMagic), byte(len(rec)))
	data = append(data, rec...)
	data = binary.LittleEndian.AppendUint32(data, crc32.Checksum(data, castagnoliTable()))
	data = append(data, cacheMagic...)
	c := &moduleCache{entries: map[string]cacheEntry{}}
	if err := c.parse(data, "this build"); err != errOtherBuild {
		t.Fatalf("parse: %v, want %v", err, errOtherBuild)
	}
	if err := c.parse(data, "another build"); err != nil {
		t.Fatalf("parse with its own build: %v", err)
	}
}
