package ko

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"gokmod/internal/testing/elftest"
)

// synthModule is a module exercising every table, built by elftest.
func synthModule(class int, o binary.ByteOrder, rela, prel32, noNS, relocCRCs bool) *elftest.Module {
	return &elftest.Module{
		Class: class, Order: o, Machine: elftest.EMX86_64,
		Rela: rela, PREL32: prel32, NoNamespace: noNS, RelocCRCs: relocCRCs,
		Name: "synth",
		ModInfo: []string{
			"parm=debug:Debug level", "parmtype=debug:int", "license=GPL",
			"parmtype=quiet:bool", "alias=pci:v*", "alias=usb:v*", "depends=", "name=synth",
			"vermagic=6.1.0 SMP mod_unload ",
		},
		Exports: []elftest.Export{
			{Name: "synth_a", CRC: 0x11111111},
			{Name: "synth_b", CRC: 0x22222222},
			{Name: "synth_c", CRC: 0x33333333},
			{Name: "synth_gpl", Namespace: "SYNTH", GPL: true, CRC: 0xdeadbeef},
		},
		Versions:    []elftest.Version{{CRC: 0xabcdef01, Name: "module_layout"}, {CRC: 0x12345678, Name: "printk"}},
		ExtVersions: []elftest.Version{{CRC: 0x87654321, Name: "a_rather_long_symbol_name_that_does_not_fit_in_the_fifty_six_bytes_of_modversion_info"}},
		Params:      []elftest.Param{{Name: "debug", Ops: "param_ops_int", Perm: 0o644}, {Name: "quiet", Ops: "param_ops_bool", Perm: 0o444}},
		Undef:       []string{"printk", "kmalloc"},
	}
}

// TestSynthetic parses modules of both classes and byte orders, with RELA
// and REL relocations, PREL32 and pointer kernel_symbol fields, 2- and
// 3-field kernel_symbol, raw and relocated CRCs.
func TestSynthetic(t *testing.T) {
	for _, class := range []int{32, 64} {
		for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			for _, rela := range []bool{true, false} {
				for _, prel := range []bool{true, false} {
					for _, noNS := range []bool{false, true} {
						for _, rc := range []bool{false, true} {
							name := fmt.Sprintf("elf%d-%v-rela%v-prel%v-nons%v-reloccrc%v", class, o, rela, prel, noNS, rc)
							t.Run(name, func(t *testing.T) {
								checkSynth(t, synthModule(class, o, rela, prel, noNS, rc))
							})
						}
					}
				}
			}
		}
	}
}

func checkSynth(t *testing.T, m *elftest.Module) {
	data := m.Build()
	f, err := Parse("synth.ko", data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != m.Class || f.ByteOrder != m.Order || f.Type != 1 {
		t.Errorf("class %d order %v type %d", f.Class, f.ByteOrder, f.Type)
	}
	if s := f.Section(".bss"); s == nil || s.Type != SHTNobits {
		t.Errorf(".bss: %+v", s)
	} else if d, err := s.Data(); d != nil || err != nil {
		t.Errorf(".bss data %v %v", d, err)
	}
	if f.Section("nonexistent") != nil {
		t.Error("found a nonexistent section")
	}
	if v, _ := f.ModInfoValue("vermagic"); v != "6.1.0 SMP mod_unload " {
		t.Errorf("vermagic %q", v)
	}
	if a := f.ModInfoValues("alias"); !slices.Equal(a, []string{"pci:v*", "usb:v*"}) {
		t.Errorf("aliases %q", a)
	}
	if d := f.ModInfoValues("depends"); !slices.Equal(d, []string{""}) {
		t.Errorf("depends %q", d)
	}
	wantParams := []Param{
		{Name: "quiet", Type: "bool", HasType: true},
		{Name: "debug", Description: "Debug level", Type: "int", HasDesc: true, HasType: true},
	}
	if p := f.Params(); !slices.Equal(p, wantParams) {
		t.Errorf("params %+v", p)
	}
	vers, err := f.Versions()
	if err != nil || len(vers) != 2 || vers[0] != (Version{0xabcdef01, "module_layout"}) || vers[1] != (Version{0x12345678, "printk"}) {
		t.Errorf("versions %v %v", vers, err)
	}
	ext, err := f.ExtVersions()
	if err != nil || len(ext) != 1 || ext[0].CRC != 0x87654321 || len(ext[0].Name) < 60 {
		t.Errorf("ext versions %v %v", ext, err)
	}
	ex, err := f.Exports()
	if err != nil {
		t.Fatal(err)
	}
	want := []Export{
		{Name: "synth_a", CRC: 0x11111111, HasCRC: true, Section: "__ksymtab"},
		{Name: "synth_b", CRC: 0x22222222, HasCRC: true, Section: "__ksymtab"},
		{Name: "synth_c", CRC: 0x33333333, HasCRC: true, Section: "__ksymtab"},
		{Name: "synth_gpl", Namespace: "SYNTH", CRC: 0xdeadbeef, HasCRC: true, GPL: true, Section: "__ksymtab_gpl"},
	}
	if m.NoNamespace {
		want[3].Namespace = ""
	}
	if !slices.Equal(ex, want) {
		t.Errorf("exports\n%+v\nwant\n%+v", ex, want)
	}
	ks, err := f.KmodSymbols()
	if err != nil || len(ks) != 4 {
		t.Errorf("kmod symbols %v %v", ks, err)
	}
	for _, s := range ks {
		i := slices.IndexFunc(want, func(e Export) bool { return e.Name == s.Name })
		if i < 0 || s.CRC != uint64(want[i].CRC) || s.Bind != BindLocal {
			t.Errorf("kmod symbol %+v", s)
		}
	}
	dep, err := f.KmodDependencySymbols()
	wantDep := []KmodSymbol{
		{Name: "param_ops_int", Bind: BindUndef}, {Name: "param_ops_bool", Bind: BindUndef},
		{Name: "printk", CRC: 0x12345678, Bind: BindUndef}, {Name: "kmalloc", Bind: BindUndef},
		{Name: "module_layout", CRC: 0xabcdef01, Bind: BindUndef},
	}
	if err != nil || !slices.Equal(dep, wantDep) {
		t.Errorf("dependency symbols %+v %v", dep, err)
	}
	kp, err := f.KernelParams()
	wantKP := []KernelParam{{Name: "debug", Ops: "param_ops_int", Perm: 0o644, Level: -1}, {Name: "quiet", Ops: "param_ops_bool", Perm: 0o444, Level: -1}}
	if err != nil || !slices.Equal(kp, wantKP) {
		t.Errorf("kernel params %+v %v", kp, err)
	}
	tm, err := f.ThisModule()
	if err != nil || tm.Name != "synth" || len(tm.Refs) != 1 || tm.Refs[0].Symbol != "init_module" {
		t.Errorf("this_module %+v %v", tm, err)
	}
	undef, err := f.UndefinedSymbols()
	var un []string
	for _, s := range undef {
		un = append(un, s.Name)
	}
	if err != nil || !slices.Equal(un, []string{"param_ops_int", "param_ops_bool", "printk", "kmalloc"}) {
		t.Errorf("undefined %v %v", un, err)
	}
	rs, err := f.Relocations()
	if err != nil || len(rs) == 0 {
		t.Errorf("relocations %v %v", rs, err)
	}
	for _, r := range rs {
		if r.Target <= 0 || r.Symtab != f.Section(".symtab").Index || len(r.Relocs) == 0 {
			t.Errorf("relocation section %+v", r)
		}
	}
	if s, err := f.Signature(); s != nil || err != nil {
		t.Errorf("unsigned module: %v %v", s, err)
	}
}
