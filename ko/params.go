package ko

import "strings"

// Param is a module parameter as modinfo describes it, from the .modinfo
// "parm=NAME:DESC" and "parmtype=NAME:TYPE" entries.
type Param struct {
	Name        string
	Description string
	Type        string
	HasDesc     bool // a parm= entry was seen
	HasType     bool // a parmtype= entry was seen
}

// Params returns the module's parameters in the order kmod 30's modinfo
// prints them: it prepends each new name to a list, so the order is the
// reverse of each name's first appearance in .modinfo; a later entry for
// the same name overrides the earlier description or type. Entries without
// ':' are skipped (modinfo reports them as invalid).
//
// modinfo then prints "NAME:DESC (TYPE)", "NAME:DESC", or, for type only,
// "NAME:TYPE" in the full listing but "NAME: (TYPE)" under -p.
func (f *File) Params() []Param {
	var list []*Param
	idx := map[string]int{}
	for _, kv := range f.ModInfo() {
		isDesc := kv.Key == "parm"
		if !isDesc && kv.Key != "parmtype" {
			continue
		}
		name, rest, ok := strings.Cut(kv.Value, ":")
		if !ok {
			continue
		}
		i, seen := idx[name]
		if !seen {
			i = len(list)
			idx[name] = i
			list = append(list, &Param{Name: name})
		}
		p := list[i]
		if isDesc {
			p.Description, p.HasDesc = rest, true
		} else {
			p.Type, p.HasType = rest, true
		}
	}
	out := make([]Param, len(list))
	for i, p := range list {
		out[len(list)-1-i] = *p
	}
	return out
}

// KernelParam is one struct kernel_param from the __param section: what
// the kernel's parse_args matches module options against.
type KernelParam struct {
	Name string
	Ops  string // the kernel_param_ops symbol: "param_ops_uint", "param_array_ops", or a module's own ops

	Perm  uint16 // sysfs permissions (0 = not in sysfs)
	Level int8   // -1 for modules
	Flags uint8  // KERNEL_PARAM_FL_UNSAFE, KERNEL_PARAM_FL_HWPARAM
}

// KernelParams decodes __param. struct kernel_param is
// { const char *name; struct module *mod; const struct kernel_param_ops *ops;
// const u16 perm; s8 level; u8 flags; union { void *arg; ... }; }: 40 bytes
// on 64-bit, 20 on 32-bit (since Linux 4.2 added mod), the per-class
// layout a lone .ko is read with (a target kernel's is kernel.Kernel.Structs,
// from its BTF; kernel's tests check they agree). name and ops are
// found through relocations. nil, nil when the module has no parameters.
func (f *File) KernelParams() ([]KernelParam, error) {
	s := f.Section("__param")
	if s == nil || s.fileSize() == 0 {
		return nil, nil
	}
	w := f.r.wordSize()
	ent := uint64(3*w + 4 + w)
	if w == 8 {
		ent = 40
	}
	if s.fileSize()%ent != 0 {
		return nil, formatErr(f.Name, "__param size 0x%x is not a multiple of sizeof(struct kernel_param) (%d)", s.Size, ent)
	}
	v, err := f.newRelocView(s)
	if err != nil {
		return nil, err
	}
	d := s.data()
	out := make([]KernelParam, s.fileSize()/ent)
	for i := range out {
		off := uint64(i) * ent
		p := KernelParam{
			Perm:  f.r.u16(d, int(off)+3*w),
			Level: int8(d[int(off)+3*w+2]),
			Flags: d[int(off)+3*w+3],
		}
		t, ok, err := v.at(s, off, w)
		if err != nil {
			return nil, err
		}
		if ok {
			p.Name, _ = v.str(t)
		}
		if t, ok, err = v.at(s, off+2*uint64(w), w); err != nil {
			return nil, err
		} else if ok {
			p.Ops = v.symName(t)
		}
		out[i] = p
	}
	return out, nil
}
