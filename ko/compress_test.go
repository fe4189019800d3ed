package ko

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

func compress(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	var err error
	switch c {
	case Gzip:
		w = gzip.NewWriter(&buf)
	case XZ:
		w, err = xz.NewWriter(&buf)
	case Zstd:
		// A 1 MiB window keeps TestDecompressBomb's lowered limit above it.
		w, err = zstd.NewWriter(&buf, zstd.WithWindowSize(1<<20))
	default:
		return data
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompressionRoundTrip compresses a real module in every format and
// opens it back through Open.
func TestCompressionRoundTrip(t *testing.T) {
	plain, err := os.ReadFile(findModule(t, 0, "llc.ko"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []Compression{None, Gzip, XZ, Zstd} {
		z := compress(t, c, plain)
		if got := DetectCompression(z); got != c {
			t.Errorf("DetectCompression = %v, want %v", got, c)
		}
		out, got, err := Decompress(z)
		if err != nil || got != c || !bytes.Equal(out, plain) {
			t.Errorf("%v: Decompress: %v, %v, equal %v", c, got, err, bytes.Equal(out, plain))
		}
		p := filepath.Join(dir, "llc.ko."+c.String())
		if err := os.WriteFile(p, z, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if f.Compression != c || f.RawSize != int64(len(z)) || !bytes.Equal(f.Bytes(), plain) {
			t.Errorf("%v: Open: compression %v raw size %d", c, f.Compression, f.RawSize)
		}
		if v, _ := f.ModInfoValue("name"); v != "llc" {
			t.Errorf("%v: name %q", c, v)
		}
	}
	names := map[Compression]string{None: "none", Gzip: "gzip", XZ: "xz", Zstd: "zstd", 7: "Compression(7)"}
	for c, n := range names {
		if c.String() != n {
			t.Errorf("%d.String() = %q, want %q", int(c), c.String(), n)
		}
	}
}

// TestDecompressBomb lowers the output limit and checks each format stops.
func TestDecompressBomb(t *testing.T) {
	defer func(old int64) { maxOutput = old }(maxOutput)
	maxOutput = 1 << 20
	zeros := make([]byte, 2<<20)
	for _, c := range []Compression{Gzip, XZ, Zstd} {
		_, _, err := Decompress(compress(t, c, zeros))
		if !errors.Is(err, unix.EFBIG) {
			t.Errorf("%v: %v, want EFBIG", c, err)
		}
	}
	// Exactly at the limit is fine.
	for _, c := range []Compression{Gzip, XZ, Zstd} {
		out, _, err := Decompress(compress(t, c, zeros[:1<<20]))
		if err != nil || len(out) != 1<<20 {
			t.Errorf("%v at the limit: %d bytes, %v", c, len(out), err)
		}
	}
}

// TestDecompressCorrupt checks truncated and damaged streams.
func TestDecompressCorrupt(t *testing.T) {
	plain := bytes.Repeat([]byte("kernel module "), 1000)
	for _, c := range []Compression{Gzip, XZ, Zstd} {
		z := compress(t, c, plain)
		for _, cut := range []int{6, 12, len(z) / 2, len(z) - 1} {
			_, got, err := Decompress(z[:cut])
			var fe *FormatError
			if got != c || !errors.As(err, &fe) || !errors.Is(err, unix.ENOEXEC) {
				t.Errorf("%v cut at %d: %v, %v", c, cut, got, err)
			}
		}
		damaged := append([]byte(nil), z...)
		damaged[len(damaged)/2] ^= 0xff
		if out, _, err := Decompress(damaged); err == nil && bytes.Equal(out, plain) {
			t.Errorf("%v: damage went unnoticed", c)
		}
	}
}

// TestXZHugeDictionary checks that a block header claiming a 4 GiB
// dictionary is refused before the decoder would allocate it.
func TestXZHugeDictionary(t *testing.T) {
	z := compress(t, XZ, []byte("hello"))
	// Stream header (12 bytes), then the block header: size, flags,
	// filter id 0x21, props size 1, dictionary byte.
	if z[12+2] != 0x21 || z[12+3] != 1 {
		t.Fatalf("unexpected block header % x", z[12:24])
	}
	z[12+4] = 40
	_, _, err := Decompress(z)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("dictionary")) {
		t.Errorf("huge dictionary: %v", err)
	}
}
