package ko

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds are small real modules (testdata/, copied from Debian's 6.1
// and 6.12 kernels) and synthetic ones of every class and byte order.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range []string{"crc7.ko", "nf_conntrack_snmp.ko", "crc7-6.12.ko.xz"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if out, _, err := Decompress(b); err == nil {
			b = out
		}
		seeds = append(seeds, b)
	}
	for _, class := range []int{32, 64} {
		for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			seeds = append(seeds, synthModule(class, o, class == 64, class == 64, false, class == 32).Build())
		}
	}
	return seeds
}

// exercise calls every accessor; hostile input may make them fail but
// never panic or hang.
func exercise(f *File) {
	for _, s := range f.Sections {
		s.Data()
	}
	f.Section(".modinfo")
	f.Symbols()
	f.UndefinedSymbols()
	f.Relocations()
	f.ModInfo()
	f.Params()
	f.Versions()
	f.ExtVersions()
	f.Exports()
	f.KernelParams()
	f.KmodSymbols()
	f.KmodDependencySymbols()
	f.ThisModule()
	if s, err := f.Signature(); err == nil && s != nil {
		KmodHex(s.KeyID)
	}
	f.ModuleImage()
	StripSection(f.Bytes(), "__versions")
	StripVermagic(f.Bytes())
}

// FuzzParse checks that no input makes Parse or an accessor panic.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.ko", data)
		if err != nil {
			if m != nil {
				t.Fatal("File and error")
			}
			return
		}
		exercise(m)
	})
}

// FuzzDecompress checks the decompressors and the xz pre-check on
// arbitrary input.
func FuzzDecompress(f *testing.F) {
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x05, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'})
	for _, name := range []string{"crc7-6.12.ko.xz"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(compress(f, Gzip, []byte("module")))
	f.Add(compress(f, Zstd, []byte("module")))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := Decompress(data)
		if err == nil && int64(len(out)) > maxOutput {
			t.Fatalf("%d bytes out", len(out))
		}
	})
}

// FuzzPKCS7 checks the DER reader on arbitrary signatures.
func FuzzPKCS7(f *testing.F) {
	m, err := Parse("crc7.ko", fuzzSeeds(f)[0])
	if err != nil {
		f.Fatal(err)
	}
	s, err := m.Signature()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.Raw)
	f.Fuzz(func(t *testing.T, der []byte) {
		parsePKCS7(der)
	})
}

// TestSeedsParse makes sure the fuzz seeds are valid modules, so fuzzing
// starts from deep inside the parser.
func TestSeedsParse(t *testing.T) {
	for i, s := range fuzzSeeds(t) {
		f, err := Parse("seed", s)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		exercise(f)
		if ex, err := f.Exports(); err != nil || len(ex) == 0 {
			t.Errorf("seed %d: exports %v %v", i, ex, err)
		}
	}
}
