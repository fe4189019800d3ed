package kernel

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"

	"gokmod/internal/testing/elftest"
)

var updateFixtures = flag.Bool("update", false, "rewrite testdata/bzimage with the system's bzip2, lz4 and xz")

// Addresses of the synthetic vmlinux, in the kernel's text mapping as a real one.
const (
	synthRodata = 0xffffffff82000000
	synthKsym   = 0xffffffff82100000
)

// synthVmlinux builds a small x86_64 kernel ELF: a banner and two export names in
// .rodata, one __ksymtab entry (PREL32) with its __kcrctab CRC, and pad bytes of
// compressible filler (so that every format has something to squeeze).
func synthVmlinux(pad int) []byte {
	banner := "Linux version 6.1.0-99-amd64 (debian-kernel@lists.debian.org) (gcc) #1 SMP PREEMPT_DYNAMIC Debian 6.1.321-1 (2026-01-01)\n\x00"
	rodata := []byte("synth_export\x00" + banner)
	ks := make([]byte, 12)
	le := binary.LittleEndian
	rel := func(to, from uint64) uint32 { return uint32(int32(int64(to - from))) }
	le.PutUint32(ks[0:], rel(synthRodata+0x1000, synthKsym)) // value
	le.PutUint32(ks[4:], rel(synthRodata, synthKsym+4))      // name
	crc := []byte{0x78, 0x56, 0x34, 0x12}
	filler := make([]byte, pad)
	for i := range filler {
		filler[i] = byte(i*7) ^ byte(i>>9)
	}
	f := elftest.File{Class: 64, Machine: elftest.EMX86_64, Type: 2, Sections: []elftest.Section{
		{Name: ".text", Type: elftest.SHTProgbits, Flags: elftest.SHFAlloc, Addr: 0xffffffff81000000, Addralign: 16, Data: filler},
		{Name: ".rodata", Type: elftest.SHTProgbits, Flags: elftest.SHFAlloc, Addr: synthRodata, Addralign: 16, Data: rodata},
		{Name: "__ksymtab", Type: elftest.SHTProgbits, Flags: elftest.SHFAlloc, Addr: synthKsym, Addralign: 4, Data: ks},
		{Name: "__kcrctab", Type: elftest.SHTProgbits, Flags: elftest.SHFAlloc, Addr: synthKsym + 0x100, Addralign: 4, Data: crc},
	}}
	b, _ := f.Build()
	return b
}

// bzImage wraps a compressed payload as the kernel's build does: 3 setup sectors
// after the boot sector, a setup header of protocol 2.15, some protected-mode code
// before the payload, the decompressed size appended to it (unless gzip, whose ISIZE
// already is), and more bytes after it.
func bzImage(payload []byte, elfSize int, appendSize bool) []byte {
	le := binary.LittleEndian
	img := make([]byte, 4*512)
	img[hdrSetupSects] = 3
	le.PutUint16(img[hdrBootFlag:], 0xaa55)
	copy(img[hdrMagic:], "HdrS")
	le.PutUint16(img[hdrVersion:], 0x20f)
	pm := bytes.Repeat([]byte{0x90}, 716)
	if appendSize {
		payload = le.AppendUint32(append([]byte(nil), payload...), uint32(elfSize))
	}
	le.PutUint32(img[hdrPayloadOffset:], uint32(len(pm)))
	le.PutUint32(img[hdrPayloadLength:], uint32(len(payload)))
	img = append(append(img, pm...), payload...)
	return append(img, bytes.Repeat([]byte{0xcc}, 333)...)
}

// compressors made in Go; bzip2 (no Go writer) and the kernel's own xz and lz4 options
// come from testdata/bzimage, made by the system's tools (go test -run
// TestBzImageFixtures -update).
func goCompress(t testing.TB, format string, b []byte) []byte {
	var out bytes.Buffer
	switch format {
	case "gzip":
		w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
		w.Write(b)
		w.Close()
	case "xz":
		w, err := xz.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
	case "zstd":
		w, _ := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
		w.Write(b)
		w.Close()
	case "lz4":
		w := lz4.NewWriter(&out)
		if err := w.Apply(lz4.LegacyOption(true)); err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
	case "lzma":
		w, err := lzma.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
	default:
		t.Fatalf("no Go compressor for %s", format)
	}
	return out.Bytes()
}

// fixtureCmds are the kernel build's commands (scripts/Makefile.lib, xz_wrap.sh).
var fixtureCmds = map[string][]string{
	"bz2":     {"bzip2", "-9"},
	"lz4":     {"lz4", "-l", "-9", "-c"},
	"x86.xz":  {"xz", "--check=crc32", "--x86", "--lzma2=,dict=32MiB", "-c"},
	"zst":     {"zstd", "-22", "--ultra", "-c"},
	"lzma.9":  {"lzma", "-9", "-c"},
	"gzip.n9": {"gzip", "-n", "-9", "-c"},
}

var fixtureFormat = map[string]string{"bz2": "bzip2", "lz4": "lz4", "x86.xz": "xz", "zst": "zstd", "lzma.9": "lzma", "gzip.n9": "gzip"}

func fixtureELF() []byte { return synthVmlinux(96 << 10) }

// TestBzImageFixtures checks the committed compressions (made by the real tools with
// the kernel build's options) against the synthetic ELF they were made from, and
// rewrites them with -update.
func TestBzImageFixtures(t *testing.T) {
	want := fixtureELF()
	for ext, cmd := range fixtureCmds {
		path := filepath.Join("testdata", "bzimage", "vmlinux."+ext)
		if *updateFixtures {
			c := exec.Command(cmd[0], cmd[1:]...)
			c.Stdin = bytes.NewReader(want)
			out, err := c.Output()
			if err != nil {
				t.Fatalf("%v: %v", cmd, err)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		payload, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with go test ./kernel/ -run TestBzImageFixtures -update)", err)
		}
		img := bzImage(payload, len(want), fixtureFormat[ext] != "gzip")
		got, how, err := ExtractVmlinux(img)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: decompressed %d bytes, not the synthetic ELF (%d)", path, len(got), len(want))
		}
		if !strings.HasPrefix(how, fixtureFormat[ext]+" payload at offset 2764") {
			t.Errorf("%s: how = %q", path, how)
		}
	}
}

// Every format the Go libraries can write, through the boot header and through the
// fallback scan (an image with the header blanked), with a kernel ELF the package
// then reads exports and the version from.
func TestBzImageFormats(t *testing.T) {
	elfb := synthVmlinux(200 << 10)
	for _, format := range []string{"gzip", "xz", "zstd", "lz4", "lzma"} {
		payload := goCompress(t, format, elfb)
		img := bzImage(payload, len(elfb), format != "gzip")
		got, how, err := ExtractVmlinux(img)
		if err != nil || !bytes.Equal(got, elfb) {
			t.Fatalf("%s: %v (%d bytes, how %q)", format, err, len(got), how)
		}
		// Without "HdrS" the payload is found by its magic number.
		noHdr := append([]byte(nil), img...)
		copy(noHdr[hdrMagic:], "XXXX")
		got, how, err = ExtractVmlinux(noHdr)
		if err != nil || !bytes.Equal(got, elfb) || !strings.Contains(how, "found at offset") {
			t.Fatalf("%s without a setup header: %v (%d bytes, how %q)", format, err, len(got), how)
		}
		// Through the package's reader: the export and the banner's version.
		path := filepath.Join(t.TempDir(), "vmlinuz")
		if err := os.WriteFile(path, img, 0o644); err != nil {
			t.Fatal(err)
		}
		k := &Kernel{BuiltinSysfs: map[string]bool{}}
		if err := k.readVmlinux(path); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(k.Ksymtab) != 1 || k.Ksymtab[0].Name != "synth_export" || k.Ksymtab[0].CRC != 0x12345678 || k.Ksymtab[0].Addr != synthRodata+0x1000 {
			t.Errorf("%s: exports %+v", format, k.Ksymtab)
		}
		if k.Version != (Version{6, 1, 321}) {
			t.Errorf("%s: version %v", format, k.Version)
		}
		if !strings.Contains(k.Sources.Exports, format+" payload at offset") {
			t.Errorf("%s: exports source %q", format, k.Sources.Exports)
		}
	}
}

// An lz4 legacy frame of more than one 8 MiB block, with the magic repeated between
// blocks as concatenated frames have it.
func TestLz4LegacyBlocks(t *testing.T) {
	elfb := synthVmlinux(9 << 20)
	payload := goCompress(t, "lz4", elfb)
	got, _, err := ExtractVmlinux(bzImage(payload, len(elfb), true))
	if err != nil || !bytes.Equal(got, elfb) {
		t.Fatalf("%v (%d bytes of %d)", err, len(got), len(elfb))
	}
	// Split after the first block and insert the magic again.
	n := binary.LittleEndian.Uint32(payload[4:])
	cat := append(append(append([]byte(nil), payload[:8+n]...), payload[:4]...), payload[8+n:]...)
	got, _, err = ExtractVmlinux(bzImage(cat, len(elfb), true))
	if err != nil || !bytes.Equal(got, elfb) {
		t.Fatalf("repeated magic: %v", err)
	}
}

// Broken images fail with an error that says what is wrong, never a panic.
func TestBzImageErrors(t *testing.T) {
	elfb := synthVmlinux(64 << 10)
	good := bzImage(goCompress(t, "xz", elfb), len(elfb), true)
	le := binary.LittleEndian
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		img  []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"garbage", bytes.Repeat([]byte("garbage!"), 1000), "no compressed kernel found"},
		{"short", good[:100], "too short for an x86 boot header"},
		{"truncated", good[:len(good)/2], "truncated: the payload at offset 2764"},
		{"old protocol", mut(func(b []byte) []byte { le.PutUint16(b[hdrVersion:], 0x206); return b[:2764+100] }), "older than 2.08"},
		{"wrong size field", mut(func(b []byte) []byte {
			end := 2764 + int(le.Uint32(b[hdrPayloadLength:]))
			le.PutUint32(b[end-4:], uint32(len(elfb)+1))
			return b
		}), "the image's size field says"},
		{"unknown payload", mut(func(b []byte) []byte { copy(b[2764:], "NOPE"); return b }), "not a compression the kernel supports"},
		{"corrupt stream", mut(func(b []byte) []byte { b[2764+200] ^= 0xff; return b }), "xz payload at offset 2764"},
		{"lzo", mut(func(b []byte) []byte {
			copy(b[2764:], []byte{0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a})
			return b
		}), "lzo-compressed kernels are not supported"},
		{"not an ELF", bzImage(goCompress(t, "gzip", []byte("hello, world")), 12, false), "not an ELF"},
	}
	for _, c := range cases {
		_, _, err := ExtractVmlinux(c.img)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	// The files themselves: the error names the file.
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		os.WriteFile(p, c.img, 0o644)
		k := &Kernel{BuiltinSysfs: map[string]bool{}}
		if err := k.readVmlinux(p); err == nil || !strings.HasPrefix(err.Error(), p+": ") {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, p)
		}
	}
	// A truncated vmlinux ELF.
	p := filepath.Join(dir, "vmlinux")
	os.WriteFile(p, elfb[:len(elfb)-100], 0o644)
	k := &Kernel{BuiltinSysfs: map[string]bool{}}
	if err := k.readVmlinux(p); err == nil || !strings.HasPrefix(err.Error(), p+": ") {
		t.Errorf("truncated vmlinux: %v", err)
	}
}

// The limit on the decompressed size holds for every decoder.
func TestBzImageLimit(t *testing.T) {
	elfb := synthVmlinux(1 << 20)
	defer func(old int64) { maxVmlinux = old }(maxVmlinux)
	maxVmlinux = 512 << 10
	for _, format := range []string{"gzip", "xz", "zstd", "lz4", "lzma"} {
		_, _, err := ExtractVmlinux(bzImage(goCompress(t, format, elfb), 1000, format != "gzip"))
		if err == nil || !strings.Contains(err.Error(), "524288") {
			t.Errorf("%s: %v", format, err)
		}
		// The size field alone is refused up front.
		_, _, err = ExtractVmlinux(bzImage(goCompress(t, format, elfb), len(elfb), true))
		if format != "gzip" && (err == nil || !strings.Contains(err.Error(), "more than the 524288 accepted")) {
			t.Errorf("%s: size field: %v", format, err)
		}
	}
}

// FuzzBzImage feeds arbitrary images to the payload parser and decoders: no panic, no
// hang, and output only within the limit.
func FuzzBzImage(f *testing.F) {
	elfb := synthVmlinux(4 << 10)
	for _, format := range []string{"gzip", "xz", "zstd", "lz4", "lzma"} {
		f.Add(bzImage(goCompress(f, format, elfb), len(elfb), format != "gzip"))
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "bzimage", "vmlinux.bz2")); err == nil {
		f.Add(bzImage(b, len(fixtureELF()), true))
	}
	f.Add([]byte{})
	f.Add(elfb[:64])
	defer func(old int64) { maxVmlinux = old }(maxVmlinux)
	maxVmlinux = 4 << 20
	f.Fuzz(func(t *testing.T, img []byte) {
		out, _, err := ExtractVmlinux(img)
		if err == nil && (int64(len(out)) > maxVmlinux || !bytes.HasPrefix(out, elfMagic)) {
			t.Fatalf("accepted %d bytes", len(out))
		}
	})
}

// A vmlinux file above the limit is refused before any of it is read.
func TestVmlinuxFileLimit(t *testing.T) {
	defer func(old int64) { maxVmlinux = old }(maxVmlinux)
	maxVmlinux = 64 << 10
	p := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(p, synthVmlinux(128<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &Kernel{BuiltinSysfs: map[string]bool{}}
	if err := k.readVmlinux(p); err == nil || !strings.Contains(err.Error(), p+": ") || !strings.Contains(err.Error(), "more than the 65536 accepted") {
		t.Errorf("%v", err)
	}
}

// A section table that points many sections at the same bytes cannot make the reader
// hold more than MaxVmlinuxSize of section data.
func TestVmlinuxOverlappingSections(t *testing.T) {
	defer func(old int64) { maxVmlinux = old }(maxVmlinux)
	maxVmlinux = 2 << 20
	const n, size, dupBase = 50, 400 << 10, 0xffffffff90000000
	le := binary.LittleEndian
	ks := make([]byte, 12*n)
	for i := range n {
		field := uint64(synthKsym) + uint64(12*i+4)
		le.PutUint32(ks[12*i+4:], uint32(int32(int64(uint64(dupBase)+uint64(i)*0x100000-field))))
	}
	secs := []elftest.Section{
		{Name: ".text", Type: elftest.SHTProgbits, Flags: elftest.SHFAlloc, Addr: 0xffffffff81000000, Data: bytes.Repeat([]byte("name\x00"), size/5)},
		{Name: "__ksymtab", Type: elftest.SHTProgbits, Flags: elftest.SHFAlloc, Addr: synthKsym, Data: ks},
	}
	for i := range n {
		secs = append(secs, elftest.Section{Name: ".dup", Type: elftest.SHTProgbits, Flags: elftest.SHFAlloc, Addr: uint64(dupBase) + uint64(i)*0x100000})
	}
	f := elftest.File{Class: 64, Machine: elftest.EMX86_64, Type: 2, Sections: secs}
	b, lay := f.Build()
	for i := range n {
		h := b[lay.Shoff+(3+i)*lay.Shentsize:]
		le.PutUint64(h[24:], uint64(lay.Offsets[1]))
		le.PutUint64(h[32:], size)
	}
	p := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := openVmlinux(p)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	syms, err := v.ksymtab(DefaultStructs().KernelSymbol, "__ksymtab", "__kcrctab", false)
	if err != nil || len(syms) != n || syms[0].Name != "name" {
		t.Fatalf("%d symbols, %v", len(syms), err)
	}
	if v.read > maxVmlinux {
		t.Errorf("read %d bytes of sections, limit %d", v.read, maxVmlinux)
	}
}
