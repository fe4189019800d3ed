package load_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/ko"
	"gokmod/load"
)

// sec is one section of a synthetic module.
type sec struct {
	name         string
	typ          uint32
	flags, align uint64
	data         []byte
	size         uint64 // for NOBITS
	link, info   uint32
}

// buildELF lays out an ELF64 x86_64 ET_REL with sections (index 0 and .shstrtab added).
func buildELF(secs []sec) []byte {
	var shstr bytes.Buffer
	shstr.WriteByte(0)
	names := make([]uint32, len(secs)+1)
	for i, s := range secs {
		names[i] = uint32(shstr.Len())
		shstr.WriteString(s.name + "\x00")
	}
	names[len(secs)] = uint32(shstr.Len())
	shstr.WriteString(".shstrtab\x00")
	secs = append(secs, sec{name: ".shstrtab", typ: 3, data: shstr.Bytes(), align: 1})
	out := make([]byte, 64)
	offs := make([]uint64, len(secs))
	for i, s := range secs {
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		offs[i] = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	shoff := uint64(len(out))
	out = append(out, make([]byte, 64)...) // section 0
	le := binary.LittleEndian
	for i, s := range secs {
		h := make([]byte, 64)
		le.PutUint32(h[0:], names[i])
		le.PutUint32(h[4:], s.typ)
		le.PutUint64(h[8:], s.flags)
		le.PutUint64(h[24:], offs[i])
		size := uint64(len(s.data))
		if s.typ == 8 {
			size = s.size
		}
		le.PutUint64(h[32:], size)
		le.PutUint32(h[40:], s.link)
		le.PutUint32(h[44:], s.info)
		le.PutUint64(h[48:], s.align)
		if s.typ == 2 {
			le.PutUint64(h[56:], 24)
		}
		out = append(out, h...)
	}
	copy(out, "\x7fELF\x02\x01\x01")
	le.PutUint16(out[16:], 1)  // ET_REL
	le.PutUint16(out[18:], 62) // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[40:], shoff)
	le.PutUint16(out[52:], 64)
	le.PutUint16(out[58:], 64)
	le.PutUint16(out[60:], uint16(len(secs)+1))
	le.PutUint16(out[62:], uint16(len(secs)))
	return out
}

// workedExample builds the LOAD_MODULE_SPEC §3.5 module: text 0x40 (align 16), rodata
// 0x100, this_module 0x540 (align 64), .init.text 0x10; 60 symbols of which 20 are kept
// with 300 bytes of names; a 900-byte strtab.
func workedExample(vermagic string) []byte {
	const (
		text, rodata, thismod, inittext, modinfo, symtab, strtab = 1, 2, 3, 4, 5, 6, 7
	)
	var str bytes.Buffer
	str.WriteByte(0)
	var syms bytes.Buffer
	syms.Write(make([]byte, 24))
	sym := func(name string, shndx uint16) {
		e := make([]byte, 24)
		binary.LittleEndian.PutUint32(e, uint32(str.Len()))
		str.WriteString(name + "\x00")
		e[4] = 0x12 // GLOBAL FUNC
		binary.LittleEndian.PutUint16(e[6:], shndx)
		syms.Write(e)
	}
	for i := 0; i < 18; i++ {
		sym(fmt.Sprintf("core_symbol_%03d", i), text) // 15 characters
	}
	sym("core_s_018", text) // 10 characters: 1 + 18*16 + 11 = 300 bytes
	for i := 0; i < 40; i++ {
		sym(fmt.Sprintf("init_%02d", i), inittext)
	}
	for str.Len() < 900 {
		str.WriteByte(0)
	}
	tm := make([]byte, 0x540)
	copy(tm[24:], "wx")
	mi := []byte("vermagic=" + vermagic + "\x00name=wx\x00license=GPL\x00intree=Y\x00retpoline=Y\x00")
	return buildELF([]sec{
		{name: ".text", typ: 1, flags: 6, align: 16, data: make([]byte, 0x40)},
		{name: ".rodata", typ: 1, flags: 2, align: 8, data: make([]byte, 0x100)},
		{name: ".gnu.linkonce.this_module", typ: 1, flags: 3, align: 64, data: tm},
		{name: ".init.text", typ: 1, flags: 6, align: 16, data: make([]byte, 0x10)},
		{name: ".modinfo", typ: 1, flags: 2, align: 1, data: mi},
		{name: ".symtab", typ: 2, align: 8, data: syms.Bytes(), link: strtab, info: 1},
		{name: ".strtab", typ: 3, align: 1, data: str.Bytes()},
	})
}

// TestWorkedExample checks the layout rules against LOAD_MODULE_SPEC §3.5 on both
// generations: 6.1 16384/8192, 6.12 12288/8192.
func TestWorkedExample(t *testing.T) {
	for _, tg := range kernels(t) {
		k := *tg.k
		k.Structs.Module.Size = 0x540 // 6.12 checks this_module's size against it
		b := workedExample(k.Vermagic)
		if _, err := ko.Parse("wx", b); err != nil {
			t.Fatal(err)
		}
		m := load.New(&k, load.Options{})
		r := m.Load(b, "", 0)
		wantErr(t, r, 0)
		core, init := uint32(16384), uint32(8192)
		if load.New(&k, load.Options{}).Has(load.ModuleMemory) {
			core = 12288
		}
		if r.Layout.CoreSize() != core || r.Layout.InitSize() != init || r.Layout.CoreSymbols != 20 || r.Layout.CoreStrtab != 300 {
			t.Errorf("%s: core %d init %d (want %d %d), %d symbols %d bytes kept\n%v", k.Release,
				r.Layout.CoreSize(), r.Layout.InitSize(), core, init, r.Layout.CoreSymbols, r.Layout.CoreStrtab, r.Layout)
		}
		// No __versions: check_modstruct_version forces the load (F); without
		// CONFIG_MODVERSIONS (Debian's 7.x) there is nothing to check.
		if k.Config.Modversions() {
			wantLog(t, r, "wx: module_layout: kernel tainted.", "Disabling lock debugging due to kernel taint", "wx: "+sigFailed)
			if r.Taint.String() != "FE" {
				t.Errorf("%s: taint %q", k.Release, r.Taint)
			}
		} else {
			wantLog(t, r, "wx: "+sigFailed)
			if r.Taint.String() != "E" {
				t.Errorf("%s: taint %q", k.Release, r.Taint)
			}
		}
	}
}

// TestELFStructureErrors covers the section-level checks, whose order differs: 6.1
// validates the name table first, 6.12 section offsets first.
func TestELFStructureErrors(t *testing.T) {
	for _, tg := range kernels(t) {
		k := *tg.k
		k.Structs.Module.Size = 0x540
		gen61 := !load.New(&k, load.Options{}).Has(load.ElfValidityCache)
		good := workedExample(k.Vermagic)
		shoff := binary.LittleEndian.Uint64(good[40:])
		shdr := func(b []byte, i int) []byte { return b[shoff+uint64(i)*64:] }
		for _, tc := range []struct {
			name          string
			edit          func([]byte)
			log61, log612 string
		}{
			{"section 0", func(b []byte) { binary.LittleEndian.PutUint32(shdr(b, 0)[4:], 1) },
				"ELF Spec violation: section 0 type(1)!=SH_NULL or non-zero len or addr",
				"ELF Spec violation: section 0 type(1)!=SH_NULL or non-zero len or addr"},
			{"section offset", func(b []byte) { binary.LittleEndian.PutUint64(shdr(b, 2)[32:], 1<<40) },
				"Invalid ELF section in module (section 2 type 1)",
				"Invalid ELF section in module (section 2 type 1)"},
			{"no this_module", func(b []byte) { copy(b[bytes.Index(b, []byte(".gnu.linkonce")):], ".gnu.linkonceX") },
				"wx: No module found in object",
				"module wx: Exactly one .gnu.linkonce.this_module section must exist."},
			{"this_module not alloc", func(b []byte) { binary.LittleEndian.PutUint64(shdr(b, 3)[8:], 1) },
				"wx: No module found in object",
				"module wx: .gnu.linkonce.this_module must occupy memory during process execution"},
			{"this_module size", func(b []byte) { binary.LittleEndian.PutUint64(shdr(b, 3)[32:], 0x500) },
				"", "module wx: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time"},
			{"no symtab", func(b []byte) { binary.LittleEndian.PutUint32(shdr(b, 6)[4:], 1) },
				"wx: module has no symbols (stripped?)", "wx: module has no symbols (stripped?)"},
			{"W+X", func(b []byte) { binary.LittleEndian.PutUint64(shdr(b, 1)[8:], 7) },
				"wx: section .text (index 1) has invalid WRITE|EXEC flags",
				"wx: section .text (index 1) has invalid WRITE|EXEC flags"},
		} {
			b := append([]byte(nil), good...)
			tc.edit(b)
			r := load.New(&k, load.Options{}).Load(b, "", 0)
			want := tc.log612
			if gen61 {
				want = tc.log61
			}
			// Before 5.16 elf_validity_check's own checks end in load_module's line.
			if !load.New(&k, load.Options{}).Has(load.ElfValidityMessages) && (tc.name == "section 0" || tc.name == "section offset") {
				want = "Module has invalid ELF structures"
			}
			if want == "" {
				continue
			}
			wantErr(t, r, unix.ENOEXEC)
			if log := r.LogText(); len(log) == 0 || log[len(log)-1] != want {
				t.Errorf("%s %s: log %q, want last line %q", k.Release, tc.name, log, want)
			}
		}
	}
}
