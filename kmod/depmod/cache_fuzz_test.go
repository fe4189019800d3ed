package depmod

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
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
	f.Add(encodeDir("/lib/modules/x/kernel", fileKey{1, 2, 3, 4, 5}, false, 0, []dirent{{"a.ko", 8}, {"sub", 4}, {"build", 10}}))
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
		for path, e := range c.dirs {
			entries, ok := decodeListing(e.body)
			if !ok {
				continue
			}
			// Encoded again and parsed, the listing is the same.
			c2 := &moduleCache{dirs: map[string]dirEntry{}}
			again := encodeDir(path, e.key, e.racy, e.euid, entries)
			_, k := binary.Uvarint(again)
			if !c2.parseDir(decoder{b: again[k+1:]}, again) {
				t.Fatalf("listing of %q does not parse again", path)
			}
			e2 := c2.dirs[path]
			entries2, ok := decodeListing(e2.body)
			if !ok || e2.key != e.key || e2.racy != e.racy || e2.euid != e.euid || !slices.Equal(entries, entries2) {
				t.Fatalf("listing of %q: %v, parsed again %v", path, entries, entries2)
			}
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
			nNeed := 0
			if md.needWidth > 0 {
				nNeed = len(md.needRaw) / md.needWidth
			}
			if md.hasDepSym != (nNeed > 0) {
				t.Fatal("hasDepSym inconsistent")
			}
			n := 0
			md.eachNeed(func(i int) {
				if i < 0 || i >= len(c.names) {
					t.Fatalf("need %d outside a table of %d", i, len(c.names))
				}
				n++
			})
			if n != nNeed {
				t.Fatalf("eachNeed gave %d symbols, want %d", n, nNeed)
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

// TestInternScanAndMapAgree interns the same modules once through intern's first calls
// (a pass over the table) and once through its map, from tables with duplicate entries
// and modules needing a symbol twice: the indexes must be the same.
func TestInternScanAndMapAgree(t *testing.T) {
	sym := func(name string, crc uint64) ko.KmodSymbol {
		return ko.KmodSymbol{Name: name, CRC: crc, Bind: ko.BindUndef}
	}
	table := []neededSym{{"a", 1, ko.BindUndef}, {"b", 2, ko.BindUndef}, {"a", 1, ko.BindUndef}, {"c", 3, ko.BindWeak}}
	mods := [][]ko.KmodSymbol{
		{sym("a", 1), sym("x", 9), sym("a", 1), sym("x", 9)},
		{sym("c", 3), sym("b", 2), sym("y", 8)},
		{sym("x", 9), sym("z", 7), sym("c", 3)},
		{},
		{sym("y", 8), sym("q", 1), sym("q", 1)},
		{sym("q", 1), sym("b", 2)},
	}
	run := func(scans int) ([][]uint32, []neededSym) {
		c := &moduleCache{names: slices.Clone(table), namesLoaded: len(table), scans: scans}
		var out [][]uint32
		for _, m := range mods {
			out = append(out, c.intern(m))
		}
		return out, c.names
	}
	scanned, scanNames := run(0) // four calls by pass, then the map
	mapped, mapNames := run(4)   // the map from the start
	for i := range mods {
		if !slices.Equal(scanned[i], mapped[i]) {
			t.Errorf("module %d: by pass %v, by map %v", i, scanned[i], mapped[i])
		}
	}
	if !slices.Equal(scanNames, mapNames) {
		t.Errorf("tables differ: %v and %v", scanNames, mapNames)
	}
	for i, m := range mods {
		for j, s := range m {
			if e := scanNames[scanned[i][j]]; e.name != s.Name || e.crc != s.CRC {
				t.Errorf("module %d symbol %d: %v indexes %v", i, j, s, e)
			}
		}
	}
}
