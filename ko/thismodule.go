package ko

import (
	"cmp"
	"slices"
)

// ThisModule describes .gnu.linkonce.this_module, the module's statically
// initialised struct module.
type ThisModule struct {
	// Size is the section size: sizeof(struct module) for the kernel the
	// module was built for, which load_module checks against its own
	// (check_modstruct_version covers the CRC; the size mismatch is
	// reported as "module has bad size").
	Size uint64
	// Name is struct module's name field (KBUILD_MODNAME), which the kernel
	// uses when .modinfo has no name= entry.
	Name string
	// Refs are the relocations against the struct, by byte offset: on a
	// 6.x x86_64 module these point init and exit at init_module and
	// cleanup_module.
	Refs []Ref
}

// Ref is a relocated field: its offset and the symbol it points to.
type Ref struct {
	Offset uint64
	Symbol string
	Addend int64
}

// moduleNameOffset returns where struct module's name lies: after
// enum module_state (int, padded to the word size) and struct list_head
// (two pointers), so 24 on 64-bit and 12 on 32-bit; the field is
// MODULE_NAME_LEN = 64 - sizeof(unsigned long) bytes. These are per-class
// defaults for a lone .ko; a target kernel's own layout is
// kernel.Kernel.Structs (from its BTF), which kernel's tests check agrees.
func (f *File) moduleNameOffset() (off, n int) {
	w := f.r.wordSize()
	return w + 2*w, 64 - w
}

// ThisModule returns the .gnu.linkonce.this_module summary, or nil, nil
// when the section is absent (the kernel then refuses the module with
// "No module found in object").
func (f *File) ThisModule() (*ThisModule, error) {
	s := f.Section(".gnu.linkonce.this_module")
	if s == nil {
		return nil, nil
	}
	tm := &ThisModule{Size: s.Size}
	off, n := f.moduleNameOffset()
	if d := s.data(); len(d) > off {
		tm.Name = cstring(d[off:min(len(d), off+n)])
	}
	v, err := f.newRelocView(s)
	if err != nil {
		return nil, err
	}
	for o, r := range v.byOff[s.Index] {
		ref := Ref{Offset: o, Addend: r.Addend}
		if int(r.Sym) < len(v.syms) {
			ref.Symbol = v.syms[r.Sym].Name
		}
		tm.Refs = append(tm.Refs, ref)
	}
	slices.SortFunc(tm.Refs, func(a, b Ref) int { return cmp.Compare(a.Offset, b.Offset) })
	return tm, nil
}
