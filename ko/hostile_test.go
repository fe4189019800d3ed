package ko

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/elftest"
)

// baseModule builds a small valid module of the given class and byte order,
// and parses it for the offsets the corruptions below use.
func baseModule(t *testing.T, class int, o binary.ByteOrder) ([]byte, *File) {
	t.Helper()
	b := synthModule(class, o, true, true, false, false).Build()
	f, err := Parse("base.ko", b)
	if err != nil {
		t.Fatal(err)
	}
	return b, f
}

// patch returns a copy of b with fn applied.
func patch(b []byte, fn func(b []byte)) []byte {
	c := append([]byte(nil), b...)
	fn(c)
	return c
}

// wantFormatErr asserts err is a *FormatError naming the file, mentioning
// substr, and matching errno.
func wantFormatErr(t *testing.T, err error, substr string, errno unix.Errno) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", substr)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %v is not a *FormatError", err, err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Errorf("error %q does not mention %q", err, substr)
	}
	if !errors.Is(err, errno) {
		t.Errorf("error %q is not %v", err, errno)
	}
}

// TestHostileHeaders feeds broken headers and section tables to Parse.
func TestHostileHeaders(t *testing.T) {
	le := binary.LittleEndian
	b64, f64 := baseModule(t, 64, le)
	b32, f32 := baseModule(t, 32, binary.BigEndian)
	be := binary.BigEndian
	sh64 := func(i int) int { return int(f64.shoff) + 64*i }
	sh32 := func(i int) int { return int(f32.shoff) + 40*i }
	xzData, err := os.ReadFile(findModule(t, 1, "llc.ko.xz"))
	if err != nil {
		t.Fatal(err)
	}
	n64 := len(f64.Sections)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"garbage", []byte("this is not a kernel module at all"), "not an ELF file"},
		{"compressed", xzData, "xz-compressed"},
		{"magic only", []byte("\x7fELF"), "truncated ELF identification"},
		{"bad class", patch(b64, func(b []byte) { b[4] = 3 }), "unsupported ELF class 3"},
		{"class none", patch(b64, func(b []byte) { b[4] = 0 }), "unsupported ELF class 0"},
		{"bad data", patch(b64, func(b []byte) { b[5] = 7 }), "unsupported ELF data encoding 7"},
		{"short header 64", b64[:40], "truncated ELF header"},
		{"short header 32", b32[:50], "truncated ELF header"},
		{"no section table", patch(b64, func(b []byte) { le.PutUint64(b[40:], 0) }), "no section header table"},
		{"bad shentsize", patch(b64, func(b []byte) { le.PutUint16(b[58:], 40) }), "section header entry size 40"},
		{"table past end", patch(b64, func(b []byte) { le.PutUint64(b[40:], uint64(len(b)-10)) }), "extends past the end of the file"},
		{"table offset overflow", patch(b64, func(b []byte) { le.PutUint64(b[40:], ^uint64(0)-3) }), "extends past the end of the file"},
		{"huge shnum", patch(b64, func(b []byte) { le.PutUint16(b[60:], 0xfff0) }), "extends past the end of the file"},
		{"shstrndx out of range", patch(b64, func(b []byte) { le.PutUint16(b[62:], uint16(n64)) }), "section name table index"},
		{"shstrndx zero", patch(b64, func(b []byte) { le.PutUint16(b[62:], 0) }), "section name table index 0 out of range"},
		{"shstrtab not terminated", patch(b64, func(b []byte) {
			s := f64.Sections[len(f64.Sections)-1]
			b[s.Offset+s.Size-1] = 'x'
		}), "not NUL-terminated"},
		{"shstrtab past end", patch(b64, func(b []byte) { le.PutUint64(b[sh64(n64-1)+24:], uint64(len(b))) }), "section name table (section"},
		{"section name out of range", patch(b64, func(b []byte) { le.PutUint32(b[sh64(1):], 0xffffff) }), "name offset 0xffffff"},
		{"section offset overflow", patch(b64, func(b []byte) { le.PutUint64(b[sh64(1)+24:], ^uint64(0)-8) }), "(.text) at 0xfffffffffffffff7"},
		{"section size past end", patch(b64, func(b []byte) { le.PutUint64(b[sh64(2)+32:], uint64(len(b))) }), "section 2 (.modinfo)"},
		{"section size overflow", patch(b64, func(b []byte) { le.PutUint64(b[sh64(2)+32:], ^uint64(0)) }), "extends past the end of the file"},
		{"32-bit BE table past end", patch(b32, func(b []byte) { be.PutUint32(b[32:], uint32(len(b)-4)) }), "extends past the end of the file"},
		{"32-bit BE section past end", patch(b32, func(b []byte) { be.PutUint32(b[sh32(3)+20:], 0xffffffff) }), "extends past the end of the file"},
		{"32-bit BE shstrndx", patch(b32, func(b []byte) { be.PutUint16(b[50:], 0xfffe) }), "section name table index 65534"},
		{"xindex no sections", patch(b64, func(b []byte) { le.PutUint16(b[60:], 0) }), "no sections"},
		{"xindex huge count", patch(b64, func(b []byte) {
			le.PutUint16(b[60:], 0)
			le.PutUint64(b[sh64(0)+32:], 1<<40)
		}), "extends past the end of the file"},
		{"xindex shstrndx out of range", patch(b64, func(b []byte) {
			le.PutUint16(b[62:], 0xffff)
			le.PutUint32(b[sh64(0)+40:], 1<<30)
		}), "section name table index 1073741824"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("bad.ko", c.data)
			if f != nil {
				t.Errorf("got a File")
			}
			wantFormatErr(t, err, c.want, unix.ENOEXEC)
			if err != nil && !strings.HasPrefix(err.Error(), "bad.ko: ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestExtendedNumbering checks that e_shnum == 0 and e_shstrndx ==
// SHN_XINDEX defer to section 0, as the ELF spec says.
func TestExtendedNumbering(t *testing.T) {
	le := binary.LittleEndian
	b, f := baseModule(t, 64, le)
	n := len(f.Sections)
	x := patch(b, func(b []byte) {
		le.PutUint16(b[60:], 0)
		le.PutUint16(b[62:], 0xffff)
		le.PutUint64(b[int(f.shoff)+32:], uint64(n))
		le.PutUint32(b[int(f.shoff)+40:], uint32(n-1))
	})
	g, err := Parse("x.ko", x)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Sections) != n || g.Section(".modinfo") == nil {
		t.Errorf("%d sections", len(g.Sections))
	}
	if d, err := g.Sections[0].Data(); err != nil || d != nil {
		t.Errorf("section 0 data: %v %v", d, err)
	}
	if _, err := StripSection(x, "__versions"); err != nil {
		t.Error(err)
	}
}

// TestTruncatedReal cuts real modules at several points: every cut inside
// the ELF image must fail cleanly.
func TestTruncatedReal(t *testing.T) {
	for _, name := range []string{"llc.ko", "stp.ko"} {
		f, err := Open(findModule(t, 0, name))
		if err != nil {
			t.Fatal(err)
		}
		full := f.Bytes()
		tableEnd := int(f.shoff) + 64*len(f.Sections)
		cuts := []int{1, 3, 10, 16, 63, 64, 100, 0x1000, int(f.shoff), int(f.shoff) + 1, tableEnd - 1}
		for _, cut := range cuts {
			_, err := Parse(name, full[:cut])
			if err == nil {
				t.Errorf("%s cut at %d parsed", name, cut)
				continue
			}
			if !errors.Is(err, unix.ENOEXEC) {
				t.Errorf("%s cut at %d: %v is not ENOEXEC", name, cut, err)
			}
		}
		// Cutting into the signature leaves an unsigned but valid ELF.
		g, err := Parse(name, full[:len(full)-1])
		if err != nil || g.Signed() {
			t.Errorf("%s without its last byte: %v, signed %v", name, err, g != nil && g.Signed())
		}
	}
}

// TestHostileTables corrupts the tables behind the lazy accessors.
func TestHostileTables(t *testing.T) {
	le := binary.LittleEndian
	b, f := baseModule(t, 64, le)
	sh := func(name string) int { return int(f.shoff) + 64*f.Section(name).Index }
	parse := func(t *testing.T, b []byte) *File {
		t.Helper()
		g, err := Parse("bad.ko", b)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	t.Run("symtab bad link", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint32(b[sh(".symtab")+40:], 9999) }))
		_, err := g.Symbols()
		wantFormatErr(t, err, "links to string table 9999", unix.ENOEXEC)
		_, err = g.Exports()
		wantFormatErr(t, err, "links to string table", unix.ENOEXEC)
	})
	t.Run("symtab ragged", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint64(b[sh(".symtab")+32:], f.Section(".symtab").Size-1) }))
		_, err := g.Symbols()
		wantFormatErr(t, err, "not a multiple of the 24-byte entry", unix.ENOEXEC)
		if _, err := g.KmodDependencySymbols(); err == nil {
			t.Error("KmodDependencySymbols accepted a ragged .symtab")
		}
		if ks, err := g.KmodSymbols(); err != nil || len(ks) != 5 { // falls back to __ksymtab_strings, the namespace included
			t.Errorf("KmodSymbols fallback: %v %v", ks, err)
		}
	})
	t.Run("symbol name out of range", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint32(b[f.Section(".symtab").Offset+24:], 0xfffffff) }))
		_, err := g.Symbols()
		wantFormatErr(t, err, "symbol 1 name offset 0xfffffff", unix.ENOEXEC)
	})
	t.Run("relocation target out of range", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint32(b[sh(".rela__ksymtab")+44:], 5000) }))
		_, err := g.Relocations()
		wantFormatErr(t, err, "applies to section 5000", unix.ENOEXEC)
	})
	t.Run("relocation symbol out of range", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) {
			off := f.Section(".rela__ksymtab").Offset + 24 + 8 // the name field's relocation
			le.PutUint64(b[off:], 0xffffff<<32|2)
		}))
		_, err := g.Exports()
		wantFormatErr(t, err, "refers to symbol 16777215", unix.ENOEXEC)
	})
	t.Run("relocation ragged", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint64(b[sh(".rela__param")+32:], 25) }))
		_, err := g.KernelParams()
		wantFormatErr(t, err, "not a multiple of the 24-byte entry", unix.ENOEXEC)
	})
	t.Run("ksymtab unrelocated", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint32(b[sh(".rela__ksymtab")+44:], uint32(f.Section(".text").Index)) }))
		_, err := g.Exports()
		wantFormatErr(t, err, "cannot find the name of every struct kernel_symbol", unix.ENOEXEC)
	})
	t.Run("versions ragged", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint64(b[sh("__versions")+32:], 65) }))
		_, err := g.Versions()
		wantFormatErr(t, err, "__versions size 0x41", unix.EINVAL)
		if _, err := g.KmodDependencySymbols(); err != nil {
			t.Errorf("kmod ignores a ragged __versions: %v", err)
		}
	})
	t.Run("ext versions without names", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { b[f.Section(".shstrtab").Offset+uint64(nameOffset(t, f, "__version_ext_names"))] = 'X' }))
		_, err := g.ExtVersions()
		wantFormatErr(t, err, "presence does not match", unix.ENOEXEC)
	})
	t.Run("ext versions too few names", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint64(b[sh("__version_ext_names")+32:], 5) }))
		_, err := g.ExtVersions()
		wantFormatErr(t, err, "more extended version crcs", unix.ENOEXEC)
	})
	t.Run("param ragged", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint64(b[sh("__param")+32:], 41) }))
		_, err := g.KernelParams()
		wantFormatErr(t, err, "sizeof(struct kernel_param)", unix.ENOEXEC)
	})
	t.Run("nobits tables", func(t *testing.T) {
		// Tables turned into SHT_NOBITS with absurd sizes must read as
		// empty, not drive loops or allocations.
		g := parse(t, patch(b, func(b []byte) {
			for _, n := range []string{".symtab", ".rela__ksymtab", "__param", "__ksymtab", "__versions", ".modinfo"} {
				le.PutUint32(b[sh(n)+4:], SHTNobits)
				le.PutUint64(b[sh(n)+32:], 1<<62)
			}
		}))
		exercise(g)
		if s, err := g.Symbols(); s != nil || err != nil {
			t.Errorf("symbols %v %v", s, err)
		}
		_, err := g.Exports() // __ksymtab_gpl is left, its symbols are gone
		wantFormatErr(t, err, "out of range (0 symbols)", unix.ENOEXEC)
	})
	t.Run("nobits huge", func(t *testing.T) {
		g := parse(t, patch(b, func(b []byte) { le.PutUint64(b[sh(".bss")+32:], ^uint64(0)) }))
		if d, err := g.Section(".bss").Data(); d != nil || err != nil {
			t.Errorf("NOBITS data %v %v", d, err)
		}
	})
}

// nameOffset finds a section's sh_name.
func nameOffset(t *testing.T, f *File, name string) uint32 {
	s := f.Section(name)
	return f.r.u32(f.image, int(f.shoff)+64*s.Index)
}

// TestZeroSizeSections checks that empty tables are empty, not errors.
func TestZeroSizeSections(t *testing.T) {
	secs := []elftest.Section{
		{Name: ".modinfo", Type: elftest.SHTProgbits},
		{Name: "__versions", Type: elftest.SHTProgbits},
		{Name: "__ksymtab", Type: elftest.SHTProgbits},
		{Name: "__kcrctab", Type: elftest.SHTProgbits},
		{Name: "__ksymtab_strings", Type: elftest.SHTProgbits},
		{Name: "__param", Type: elftest.SHTProgbits},
		{Name: ".gnu.linkonce.this_module", Type: elftest.SHTProgbits},
		{Name: ".symtab", Type: elftest.SHTSymtab, Link: 9},
		{Name: ".strtab", Type: elftest.SHTStrtab},
	}
	for _, class := range []int{32, 64} {
		b, _ := (&elftest.File{Class: class, Order: binary.BigEndian, Sections: secs}).Build()
		f, err := Parse("empty.ko", b)
		if err != nil {
			t.Fatal(err)
		}
		if kv := f.ModInfo(); len(kv) != 0 {
			t.Errorf("modinfo %v", kv)
		}
		if v, err := f.Versions(); len(v) != 0 || err != nil {
			t.Errorf("versions %v %v", v, err)
		}
		if e, err := f.Exports(); len(e) != 0 || err != nil {
			t.Errorf("exports %v %v", e, err)
		}
		if p, err := f.KernelParams(); len(p) != 0 || err != nil {
			t.Errorf("params %v %v", p, err)
		}
		if s, err := f.Symbols(); len(s) != 0 || err != nil {
			t.Errorf("symbols %v %v", s, err)
		}
		if s, err := f.KmodSymbols(); len(s) != 0 || err != nil {
			t.Errorf("kmod symbols %v %v", s, err)
		}
		if s, err := f.KmodDependencySymbols(); len(s) != 0 || err != nil {
			t.Errorf("kmod dependency symbols %v %v", s, err)
		}
		if tm, err := f.ThisModule(); err != nil || tm.Size != 0 || tm.Name != "" {
			t.Errorf("this module %+v %v", tm, err)
		}
	}
}

// TestModInfoStrings checks kmod_elf_get_strings's edge cases.
func TestModInfoStrings(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\x00", nil},
		{"x", nil}, // kmod: a single byte after padding yields nothing
		{"\x00\x00x", nil},
		{"ab", []string{"ab"}},
		{"\x00\x00a=1\x00\x00\x00b=2\x00", []string{"a=1", "b=2"}},
		{"a=1\x00b", []string{"a=1", "b"}},
		{"noequals\x00k=v=w\x00", []string{"noequals", "k=v=w"}},
	}
	for _, c := range cases {
		got := elfStrings([]byte(c.in))
		if len(got) != len(c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: %q, want %q", c.in, got, c.want)
			}
		}
	}
	f, err := Parse("m.ko", (&elftest.Module{Class: 64, ModInfo: []string{"noequals", "k=v=w"}}).Build())
	if err != nil {
		t.Fatal(err)
	}
	if kv := f.ModInfo(); len(kv) != 2 || kv[0] != (KV{Key: "noequals"}) || kv[1] != (KV{"k", "v=w"}) {
		t.Errorf("%+v", kv)
	}
}
