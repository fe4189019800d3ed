package ko

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/elftest"
)

// partialWant are the sections asked of the partial reader in the tests: the
// one modinfo wants, others depmod would, the first and last sections, and
// names that match nothing (a NUL inside a name must never match).
var partialWant = []string{".modinfo", "__versions", ".symtab", ".strtab", "__ksymtab_strings",
	".gnu.linkonce.this_module", ".note.gnu.build-id", ".shstrtab", ".bss", "", "nonexistent", ".modinfo\x00"}

// samePartial checks the partial reader's contract on data: whenever it
// accepts the module, Parse accepts it too and the sections and signature
// are the same. It reports whether the reader accepted (with the size given
// and with the size found by reading).
func samePartial(t testing.TB, r *PartialReader, name string, data []byte) (accepted [2]bool) {
	t.Helper()
	a := samePartialAt(t, r, name, bytes.NewReader(data), data, int64(len(data)))
	b := samePartialAt(t, r, name, bytes.NewReader(data), data, -1)
	return [2]bool{a, b}
}

// samePartialAt is samePartial on the module data as read through ra (which
// may hold more, past a stated size), with the size given (-1 for none).
func samePartialAt(t testing.TB, r *PartialReader, name string, ra io.ReaderAt, data []byte, size int64) bool {
	t.Helper()
	p, ok := r.Read(ra, size, name, partialWant...)
	if !ok {
		if p != nil {
			t.Errorf("%s: not ok, yet a result", name)
		}
		return false
	}
	f, perr := Parse(name, data)
	if perr != nil {
		t.Errorf("%s (size %d): partial reader accepted a module Parse rejects: %v", name, size, perr)
		return true
	}
	if p.Size != int64(len(data)) || p.Name != name || len(p.Sections) != len(partialWant) {
		t.Errorf("%s: Size %d Name %q %d sections, want %d %q %d", name, p.Size, p.Name, len(p.Sections), len(data), name, len(partialWant))
		return true
	}
	for i, w := range partialWant {
		s, got := f.Section(w), p.Sections[i]
		if (s != nil) != got.Found {
			t.Errorf("%s: section %q found %v, Parse %v", name, w, got.Found, s != nil)
			continue
		}
		if s == nil {
			continue
		}
		d := s.data()
		if !bytes.Equal(d, got.Data) || (d == nil) != (got.Data == nil) {
			t.Errorf("%s: section %q: %d bytes (nil %v), Parse %d (nil %v)", name, w, len(got.Data), got.Data == nil, len(d), d == nil)
		}
	}
	if f.Section(".modinfo") != nil && !reflect.DeepEqual(f.ModInfoStrings(), ElfStrings(p.Sections[0].Data)) {
		t.Errorf("%s: modinfo strings differ", name)
	}
	fs, ferr := f.Signature()
	ps, pserr := p.Signature()
	if (ferr == nil) != (pserr == nil) || (ferr != nil && ferr.Error() != pserr.Error()) {
		t.Errorf("%s: Signature error %v, Parse's %v", name, pserr, ferr)
	}
	if ferr != nil && !errors.Is(pserr, unix.EBADMSG) {
		t.Errorf("%s: Signature error %v is not EBADMSG", name, pserr)
	}
	if !reflect.DeepEqual(fs, ps) {
		t.Errorf("%s: Signature %+v, Parse's %+v", name, ps, fs)
	}
	return true
}

// TestPartialRealTrees checks the partial reader against Parse on every
// module of both kernels (the 6.12 ones decompressed in memory), through
// an io.ReaderAt and, for 6.1's plain files, through file descriptors as
// modinfo uses it. Every real module must take the fast path.
func TestPartialRealTrees(t *testing.T) {
	var n atomic.Int64
	for k := range 2 {
		files := kernelModules(t, k)
		readers := make(chan *PartialReader, 16)
		forEachParallel(t, files, func(path string) {
			var r *PartialReader
			select {
			case r = <-readers:
			default:
				r = new(PartialReader)
			}
			defer func() {
				select {
				case readers <- r:
				default:
				}
			}()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			data, c, err := Decompress(raw)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return
			}
			if acc := samePartial(t, r, path, data); !acc[0] || !acc[1] {
				t.Errorf("%s: a real module left to the full reader (size known %v, unknown %v)", path, acc[0], acc[1])
			}
			n.Add(1)
			if c != None {
				return
			}
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer unix.Close(fd)
			f, _ := Parse(path, data)
			for _, size := range []int64{int64(len(data)), -1} {
				p, ok := r.ReadFd(fd, size, path, ".modinfo")
				if !ok {
					t.Errorf("%s: ReadFd(size %d) not ok", path, size)
					continue
				}
				if !bytes.Equal(p.Sections[0].Data, f.Section(".modinfo").data()) {
					t.Errorf("%s: ReadFd .modinfo differs", path)
				}
				s1, e1 := f.Signature()
				s2, e2 := p.Signature()
				if !reflect.DeepEqual(s1, s2) || (e1 == nil) != (e2 == nil) {
					t.Errorf("%s: ReadFd signature differs: %v %v", path, e1, e2)
				}
			}
		})
	}
	t.Logf("%d modules read both ways", n.Load())
}

// hostileVariants are corruptions of a module that the partial reader must
// survive: every one either falls back (ok=false) or matches Parse.
func hostileVariants(b []byte) map[string][]byte {
	le := binary.LittleEndian
	out := map[string][]byte{}
	if len(b) < 64 {
		return out
	}
	shoff := le.Uint64(b[40:])
	shnum := uint64(le.Uint16(b[60:]))
	shstrndx := uint64(le.Uint16(b[62:]))
	sh := func(i uint64) int { return int(shoff + 64*i) }
	okSh := func(i uint64) bool { return shoff+64*(i+1) <= uint64(len(b)) }
	for _, n := range []int{0, 1, 4, 16, 63, 64, 65, len(b) / 2, int(shoff), int(shoff) + 1, int(shoff) + 64, len(b) - 40, len(b) - 28, len(b) - 27, len(b) - 1} {
		if n >= 0 && n <= len(b) {
			out["truncated at "+itoa(n)] = b[:n]
		}
	}
	out["ELF32 class"] = patch(b, func(c []byte) { c[4] = 1 })
	out["big-endian"] = patch(b, func(c []byte) { c[5] = 2 })
	out["bad data encoding"] = patch(b, func(c []byte) { c[5] = 9 })
	out["not ELF"] = patch(b, func(c []byte) { c[0] = 'X' })
	out["shoff 0"] = patch(b, func(c []byte) { le.PutUint64(c[40:], 0) })
	out["shoff past EOF"] = patch(b, func(c []byte) { le.PutUint64(c[40:], uint64(len(b))+4096) })
	out["shoff huge"] = patch(b, func(c []byte) { le.PutUint64(c[40:], 1<<63) })
	out["shoff max"] = patch(b, func(c []byte) { le.PutUint64(c[40:], ^uint64(0)-10) })
	out["shoff 1"] = patch(b, func(c []byte) { le.PutUint64(c[40:], 1) })
	out["shentsize 40"] = patch(b, func(c []byte) { le.PutUint16(c[58:], 40) })
	out["shnum 0 (extended)"] = patch(b, func(c []byte) { le.PutUint16(c[60:], 0) })
	out["shnum max"] = patch(b, func(c []byte) { le.PutUint16(c[60:], 0xffff) })
	out["shnum +1"] = patch(b, func(c []byte) { le.PutUint16(c[60:], uint16(shnum+1)) })
	out["shstrndx 0"] = patch(b, func(c []byte) { le.PutUint16(c[62:], 0) })
	out["shstrndx xindex"] = patch(b, func(c []byte) { le.PutUint16(c[62:], 0xffff) })
	out["shstrndx = shnum"] = patch(b, func(c []byte) { le.PutUint16(c[62:], uint16(shnum)) })
	if !okSh(shnum - 1) {
		return out
	}
	for i := uint64(0); i < shnum; i++ {
		out["section "+itoa(int(i))+" offset huge"] = patch(b, func(c []byte) { le.PutUint64(c[sh(i)+24:], 1<<62) })
		out["section "+itoa(int(i))+" size huge"] = patch(b, func(c []byte) { le.PutUint64(c[sh(i)+32:], ^uint64(0)) })
		out["section "+itoa(int(i))+" past image"] = patch(b, func(c []byte) { le.PutUint64(c[sh(i)+32:], uint64(len(b))) })
		out["section "+itoa(int(i))+" nobits huge"] = patch(b, func(c []byte) {
			le.PutUint32(c[sh(i)+4:], SHTNobits)
			le.PutUint64(c[sh(i)+32:], ^uint64(0))
		})
		out["section "+itoa(int(i))+" null type"] = patch(b, func(c []byte) { le.PutUint32(c[sh(i)+4:], SHTNull) })
		out["section "+itoa(int(i))+" name past table"] = patch(b, func(c []byte) { le.PutUint32(c[sh(i):], 0xfffffff0) })
		out["section "+itoa(int(i))+" size 0"] = patch(b, func(c []byte) { le.PutUint64(c[sh(i)+32:], 0) })
	}
	so := le.Uint64(b[sh(shstrndx)+24:])
	ss := le.Uint64(b[sh(shstrndx)+32:])
	out["names not NUL-terminated"] = patch(b, func(c []byte) {
		if so+ss <= uint64(len(c)) && ss > 0 {
			c[so+ss-1] = 'x'
		}
	})
	out["names empty"] = patch(b, func(c []byte) { le.PutUint64(c[sh(shstrndx)+32:], 0) })
	out["names far from the table"] = patch(b, func(c []byte) { le.PutUint64(c[sh(shstrndx)+24:], 64) }) // garbage names, read apart
	out["names nobits"] = patch(b, func(c []byte) { le.PutUint32(c[sh(shstrndx)+4:], SHTNobits) })
	// Trailers: bogus, malformed, well-formed around the module.
	img := b
	if t, err := parseTrailer(b); err == nil && t != nil {
		img = b[:t.imageLen]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	out["magic only"] = cat(img, []byte(SignatureMagic))
	out["sig_len 0"] = cat(img, []byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte(SignatureMagic))
	out["sig_len huge"] = cat(img, []byte{0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, []byte(SignatureMagic))
	out["sig_len eats the ELF"] = cat(img, binary.BigEndian.AppendUint32([]byte{0, 0, 2, 0, 0, 0, 0, 0}, uint32(len(img)-10)), []byte(SignatureMagic))
	out["sig_len eats the table"] = cat(img, binary.BigEndian.AppendUint32([]byte{0, 0, 2, 0, 0, 0, 0, 0}, uint32(len(img)-int(shoff)-10)), []byte(SignatureMagic))
	out["unknown id type"] = cat(img, []byte{1, 2, 3, 4}, []byte{0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 4}, []byte(SignatureMagic))
	out["unknown hash"] = cat(img, []byte{1, 2, 3, 4}, []byte{0, 77, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4}, []byte(SignatureMagic))
	out["bad DER"] = cat(img, []byte{0x30, 0x82, 0xff, 0xff}, []byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4}, []byte(SignatureMagic))
	out["X509 trailer"] = elftest.Sign(img, IDX509, []byte("Signer"), []byte{0xab, 0xcd}, []byte{1, 2, 3})
	out["PKCS#7 trailer"] = elftest.Sign(img, IDPKCS7, nil, nil, pkcs7(attr(derOIDCN, "CN"), []byte{0x80, 1}, derOIDSHA256, nil, false))
	out["padding then trailer"] = elftest.Sign(cat(img, make([]byte, 40000)), IDX509, []byte("S"), []byte{1}, []byte{2})
	out["long signature"] = elftest.Sign(img, IDX509, []byte("S"), []byte{1}, bytes.Repeat([]byte{7}, 100000))
	out["trailer at start"] = cat([]byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1}, []byte(SignatureMagic))
	out["padding after"] = cat(b, make([]byte, 3*partialWindow))
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPartialHostile feeds corrupted real and synthetic modules to the
// partial reader: it must never panic, and never accept what Parse rejects
// or disagree with it.
func TestPartialHostile(t *testing.T) {
	var r PartialReader
	bases := map[string][]byte{
		"synth": synthModule(64, binary.LittleEndian, true, true, false, false).Build(),
	}
	for _, name := range []string{"crc7.ko", "nf_conntrack_snmp.ko"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		bases[name] = b
	}
	for bn, b := range bases {
		if acc := samePartial(t, &r, bn, b); !acc[0] || !acc[1] {
			t.Errorf("%s: the unmodified module was not accepted", bn)
		}
		accepted := 0
		for vn, v := range hostileVariants(b) {
			if acc := samePartial(t, &r, bn+": "+vn, v); acc[0] || acc[1] {
				accepted++
			}
		}
		t.Logf("%s: %d of %d variants accepted (the rest fall back)", bn, accepted, len(hostileVariants(b)))
	}
	// Compressed, 32-bit and big-endian modules are left to the full reader.
	for _, name := range []string{"crc7-6.12.ko.xz"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Read(bytes.NewReader(b), int64(len(b)), name, ".modinfo"); ok {
			t.Errorf("%s: compressed file accepted", name)
		}
	}
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		b := synthModule(32, o, false, false, false, true).Build()
		if _, ok := r.Read(bytes.NewReader(b), int64(len(b)), "32", ".modinfo"); ok {
			t.Errorf("ELF32 %v accepted", o)
		}
	}
	b := synthModule(64, binary.BigEndian, true, true, false, false).Build()
	if _, ok := r.Read(bytes.NewReader(b), int64(len(b)), "be", ".modinfo"); ok {
		t.Error("big-endian ELF64 accepted")
	}
}

// TestPartialSizes checks a stated size that is wrong or absurd, and reads
// that fail or come back short.
func TestPartialSizes(t *testing.T) {
	var r PartialReader
	b, err := os.ReadFile(filepath.Join("testdata", "nf_conntrack_snmp.ko"))
	if err != nil {
		t.Fatal(err)
	}
	// A stated size past the end, or absurd, is a fallback; one short of the end
	// reads the file as if it were that long (the caller's stat said so).
	for _, size := range []int64{int64(len(b)) + 1, int64(len(b)) + 4096, 1 << 40, MaxDecompressedSize + 1} {
		if _, ok := r.Read(bytes.NewReader(b), size, "sized", ".modinfo"); ok {
			t.Errorf("size %d (file is %d): accepted", size, len(b))
		}
	}
	for _, size := range []int64{0, 1, 63, 64, 65, int64(len(b)) / 2, int64(len(b)) - 28, int64(len(b)) - 1} {
		samePartialAt(t, &r, "sized", bytes.NewReader(b), b[:size], size)
	}
	signed := elftest.Sign(b, IDX509, []byte("S"), []byte{1}, []byte{2})
	if !samePartialAt(t, &r, "signed", bytes.NewReader(append(signed, "junk"...)), signed, int64(len(signed))) {
		t.Error("a signed module read up to its stated size was not accepted")
	}
	if _, ok := r.Read(failingReader{b, len(b) - 100}, -1, "eio", ".modinfo"); ok {
		t.Error("a read error was not a fallback")
	}
	if _, ok := r.Read(failingReader{b, 32}, -1, "eio", ".modinfo"); ok {
		t.Error("a read error in the header was not a fallback")
	}
	if p, ok := r.Read(bytes.NewReader(b), -1, "ok", ".modinfo"); !ok || !p.Sections[0].Found {
		t.Error("the module itself was not read")
	}
}

// failingReader fails with EIO on any read that reaches byte bad.
type failingReader struct {
	b   []byte
	bad int
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > int64(f.bad) {
		return 0, unix.EIO
	}
	return bytes.NewReader(f.b).ReadAt(p, off)
}

var _ io.ReaderAt = failingReader{}

// FuzzPartial checks the partial reader's contract on arbitrary input: no
// panic, and nothing accepted that Parse rejects or reads differently.
func FuzzPartial(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "crc7.ko"))
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range hostileVariants(b) {
		if len(v) < 64<<10 {
			f.Add(v)
		}
	}
	var r PartialReader
	f.Fuzz(func(t *testing.T, data []byte) {
		samePartial(t, &r, "fuzz.ko", data)
	})
}
