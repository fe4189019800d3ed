package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
)

// btfBuilder writes BTF blobs for tests: types are appended in id order (from 1).
type btfBuilder struct {
	o     binary.ByteOrder
	types bytes.Buffer
	strs  bytes.Buffer
	n     uint32 // types so far
}

func newBTF(o binary.ByteOrder) *btfBuilder {
	b := &btfBuilder{o: o}
	b.strs.WriteByte(0)
	return b
}

func (b *btfBuilder) str(s string) uint32 {
	if s == "" {
		return 0
	}
	off := uint32(b.strs.Len())
	b.strs.WriteString(s)
	b.strs.WriteByte(0)
	return off
}

func (b *btfBuilder) put(v ...uint32) {
	for _, x := range v {
		binary.Write(&b.types, b.o, x)
	}
}

// add appends a type and returns its id.
func (b *btfBuilder) add(name string, kind, vlen int, kflag bool, sizeOrType uint32, extra ...uint32) uint32 {
	info := uint32(kind)<<24 | uint32(vlen)
	if kflag {
		info |= 1 << 31
	}
	b.put(b.str(name), info, sizeOrType)
	b.put(extra...)
	b.n++
	return b.n
}

func (b *btfBuilder) integer(name string, size uint32) uint32 {
	return b.add(name, btfInt, 0, false, size, size*8)
}

// member is one struct member: name, type and byte offset.
type member struct {
	name string
	typ  uint32
	off  uint32
}

func (b *btfBuilder) composite(kind int, name string, size uint32, ms ...member) uint32 {
	var extra []uint32
	for _, m := range ms {
		extra = append(extra, b.str(m.name), m.typ, m.off*8)
	}
	return b.add(name, kind, len(ms), false, size, extra...)
}

func (b *btfBuilder) bytes() []byte {
	var h bytes.Buffer
	binary.Write(&h, b.o, uint16(btfMagic))
	h.Write([]byte{1, 0})
	binary.Write(&h, b.o, []uint32{btfHeaderLen, 0, uint32(b.types.Len()), uint32(b.types.Len()), uint32(b.strs.Len())})
	return append(append(h.Bytes(), b.types.Bytes()...), b.strs.Bytes()...)
}

// synthBTF describes the structs gokmod reads as an x86_64 kernel lays them out, with
// struct module's init and exit at the given offsets, through typedefs, qualifiers,
// arrays and an anonymous union as pahole writes them.
func synthBTF(o binary.ByteOrder, modSize, init, exit uint32) []byte {
	b := newBTF(o)
	char := b.integer("char", 1)
	u8, u16, s8 := b.integer("u8", 1), b.integer("u16", 2), b.integer("s8", 1)
	intT, uint := b.integer("int", 4), b.integer("unsigned int", 4)
	ulong := b.integer("long unsigned int", 8)
	cchar := b.add("", btfConst, 0, false, char)
	ptr := b.add("", btfPtr, 0, false, cchar)
	idx := b.integer("__ARRAY_SIZE_TYPE__", 4)
	name := b.add("", btfArray, 0, false, 0, char, idx, 56)
	u16t := b.add("__u16", btfTypedef, 0, false, u16)
	cu16 := b.add("", btfConst, 0, false, u16t)
	proto := b.add("", btfFuncProto, 0, false, intT)
	fptr := b.add("", btfPtr, 0, false, proto)
	b.add("module", btfFwd, 0, false, 0) // a forward declaration is not the struct
	b.composite(btfStruct, "module", modSize, member{"state", intT, 0}, member{"name", name, 24},
		member{"init", fptr, init}, member{"exit", fptr, exit})
	arg := b.composite(btfUnion, "", 8, member{"arg", ptr, 0}, member{"str", ptr, 0})
	b.composite(btfStruct, "kernel_param", 40, member{"name", ptr, 0}, member{"mod", ptr, 8},
		member{"ops", ptr, 16}, member{"perm", cu16, 24}, member{"level", s8, 26},
		member{"flags", u8, 27}, member{"", arg, 32})
	b.composite(btfStruct, "kernel_symbol", 12, member{"value_offset", intT, 0},
		member{"name_offset", intT, 4}, member{"namespace_offset", intT, 8})
	b.composite(btfStruct, "modversion_info", 64, member{"crc", ulong, 0}, member{"name", name, 8})
	b.composite(btfStruct, "kparam_array", 32, member{"max", uint, 0}, member{"elemsize", uint, 4},
		member{"num", ptr, 8}, member{"ops", ptr, 16}, member{"elem", ptr, 24})
	b.composite(btfStruct, "kparam_string", 16, member{"maxlen", uint, 0}, member{"string", ptr, 8})
	b.composite(btfStruct, "module_version_attribute", 72, member{"mattr", name, 0},
		member{"module_name", ptr, 56}, member{"version", ptr, 64})
	return b.bytes()
}

// TestReadBTF: a synthetic BTF in either byte order gives the layouts it describes, each
// from it.
func TestReadBTF(t *testing.T) {
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		s := DefaultStructs()
		if err := s.readBTF(synthBTF(o, 0x300, 0x100, 0x2f0), "synth"); err != nil {
			t.Fatal(err)
		}
		want := DefaultStructs()
		want.Module = ModuleLayout{Size: 0x300, Name: 24, NameLen: 56, Init: 0x100, Exit: 0x2f0, InitExit: true}
		for _, st := range want.specs() {
			*st.from = "synth"
		}
		s.btf, s.noBTF = false, nil
		if s.Describe() != want.Describe() || s.Module != want.Module {
			t.Errorf("%v: got %s\n%+v\nwant %s", o, s.Describe(), s.Module, want.Describe())
		}
	}
}

// TestReadBTFFallback: a struct missing, or laid out so that reading it would leave an
// entry, keeps its default and says why; unreadable BTF changes nothing.
func TestReadBTFFallback(t *testing.T) {
	b := newBTF(binary.LittleEndian)
	ulong := b.integer("long unsigned int", 8)
	b.composite(btfStruct, "modversion_info", 8, member{"crc", ulong, 0}, member{"name", ulong, 8})
	s := DefaultStructs()
	if err := s.readBTF(b.bytes(), "odd"); err != nil {
		t.Fatal(err)
	}
	if l := s.ModversionInfo; l.Size != 64 || l.Name != 8 || l.NameLen != 56 {
		t.Errorf("modversion_info %+v, want the default", l)
	}
	if !strings.Contains(s.ModversionInfo.From, "(not from odd: BTF: struct modversion_info: implausible layout") ||
		!strings.Contains(s.KernelParam.From, "(not from odd: BTF: no struct kernel_param)") || s.Module.SizeErr == nil {
		t.Errorf("reasons: %s", s.Describe())
	}
	s.finish("/nowhere", nil)
	if s.Module.SizeErr == nil || !strings.Contains(s.Module.SizeErr.Error(), "not from odd: BTF: no struct module; no in-tree module found in /nowhere") {
		t.Errorf("struct module: %v", s.Module.SizeErr)
	}
	for _, bad := range [][]byte{nil, []byte("not BTF at all, not even close"), synthBTF(binary.LittleEndian, 1, 2, 3)[:40]} {
		s := DefaultStructs()
		if err := s.readBTF(bad, "bad"); err == nil || s.Describe() != DefaultStructs().Describe() {
			t.Errorf("%q: %v, %s", bad, err, s.Describe())
		}
	}
}

// FuzzBTF: hostile BTF never panics, hangs or allocates beyond its size; what it gives
// passes the layout checks the readers rely on.
func FuzzBTF(f *testing.F) {
	f.Add(synthBTF(binary.LittleEndian, 0x300, 0x138, 0x2f0))
	f.Add(synthBTF(binary.BigEndian, 0x300, 0x138, 0x2f0))
	f.Add(synthBTF(binary.LittleEndian, 8, 0x100, 0x2f0))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := DefaultStructs()
		if s.readBTF(b, "fuzz") != nil {
			return
		}
		for _, st := range s.specs() {
			if *st.from != "fuzz" {
				continue // the default, and why
			}
			if err := st.check(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
	})
}

// TestBTFOfEveryKernel: the BTF of every prepared kernel's vmlinux parses with every
// type indexed, and its struct module is found.
func TestBTFOfEveryKernel(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		f, err := elf.Open(k.VMLinux())
		if err != nil {
			t.Fatal(err)
		}
		sec := f.Section(".BTF")
		if sec == nil {
			f.Close()
			t.Fatalf("%s: no .BTF (CONFIG_DEBUG_INFO_BTF unset?)", k.Release)
		}
		b, err := sec.Data()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		spec, err := parseBTF(b)
		if err != nil {
			t.Fatalf("%s: %v", k.Release, err)
		}
		if ids, err := spec.structsByName([]string{"module"}); err != nil || ids["module"] == 0 {
			t.Errorf("%s: struct module %v %v", k.Release, ids, err)
		}
		testenv.Report(t, "%s: BTF of %d bytes, %d types", k.Release, len(b), len(spec.offs))
	}
}

// TestBTFSelfNesting: a struct whose anonymous members are itself, many times over, is
// searched within a bound instead of for ever.
func TestBTFSelfNesting(t *testing.T) {
	b := newBTF(binary.LittleEndian)
	ms := make([]member, 1000)
	for i := range ms {
		ms[i] = member{"", 1, 0} // type 1: the struct itself
	}
	b.composite(btfStruct, "module", 8, ms...)
	spec, err := parseBTF(b.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := spec.member(1, "name"); err == nil || !strings.Contains(err.Error(), "members searched") && !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("self-nested struct: %v", err)
	}
}
