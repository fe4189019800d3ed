package kernel

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// How the layouts of Structs are found: in BTF first (the running kernel's
// /sys/kernel/btf/vmlinux, then the image's .BTF section), each struct by its name and
// each member by its name, then, for struct module, in an in-tree module.

// structSpec says how to fill one layout from BTF: the struct's name, where its size
// goes (nil: not needed), its members, and its From.
type structSpec struct {
	name    string
	size    *uint64
	members []memberSpec
	from    *string
	check   func() error // what the readers assume of the layout (see within)
}

// memberSpec is one member: its names in BTF (the first found is used: kernel_symbol's
// are value_offset... with PREL32 and value... without), where its offset goes, and
// where its size goes (nil: not needed).
type memberSpec struct {
	names   []string
	off     *uint64
	size    *uint64
	missing *bool // nil: the member must exist; else set when it does not
}

// specs lists every layout of s with the members gokmod reads.
func (s *Structs) specs() []structSpec {
	m, p, y, v := &s.Module, &s.KernelParam, &s.KernelSymbol, &s.ModversionInfo
	a, str, mv := &s.KparamArray, &s.KparamString, &s.ModuleVersionAttribute
	return []structSpec{
		{"module", &m.Size, []memberSpec{
			{[]string{"name"}, &m.Name, &m.NameLen, nil},
			{[]string{"init"}, &m.Init, nil, nil},
			{[]string{"exit"}, &m.Exit, nil, &m.NoExit},
		}, &m.From, func() error {
			if m.NoExit {
				return within(m.Size, m.NameLen > 0, m.Name, m.NameLen, m.Init, 8)
			}
			return within(m.Size, m.NameLen > 0, m.Name, m.NameLen, m.Init, 8, m.Exit, 8)
		}},
		{"kernel_param", &p.Size, []memberSpec{
			{[]string{"name"}, &p.Name, nil, nil}, {[]string{"ops"}, &p.Ops, nil, nil},
			{[]string{"perm"}, &p.Perm, nil, nil}, {[]string{"level"}, &p.Level, nil, nil},
			{[]string{"flags"}, &p.Flags, nil, nil}, {[]string{"arg"}, &p.Arg, nil, nil},
		}, &p.From, func() error {
			return within(p.Size, true, p.Name, 8, p.Ops, 8, p.Perm, 2, p.Level, 1, p.Flags, 1, p.Arg, 8)
		}},
		{"kernel_symbol", &y.Size, []memberSpec{
			{[]string{"value_offset", "value"}, &y.Value, &y.Field, nil},
			{[]string{"name_offset", "name"}, &y.Name, nil, nil},
			{[]string{"namespace_offset", "namespace"}, &y.Namespace, nil, nil},
		}, &y.From, func() error {
			return within(y.Size, y.Field == 4 || y.Field == 8, y.Value, y.Field, y.Name, y.Field, y.Namespace, y.Field)
		}},
		{"modversion_info", &v.Size, []memberSpec{
			{[]string{"crc"}, &v.CRC, nil, nil}, {[]string{"name"}, &v.Name, &v.NameLen, nil},
		}, &v.From, func() error {
			return within(v.Size, v.NameLen > 0, v.CRC, 8, v.Name, v.NameLen)
		}},
		{"kparam_array", nil, []memberSpec{
			{[]string{"max"}, &a.Max, nil, nil}, {[]string{"elemsize"}, &a.ElemSize, nil, nil}, {[]string{"ops"}, &a.Ops, nil, nil},
		}, &a.From, func() error { return nil }}, // read through bounds-checked module memory
		{"kparam_string", nil, []memberSpec{{[]string{"maxlen"}, &str.MaxLen, nil, nil}}, &str.From,
			func() error { return nil }},
		{"module_version_attribute", &mv.Size, []memberSpec{{[]string{"module_name"}, &mv.ModuleName, nil, nil}}, &mv.From,
			func() error { return within(mv.Size, true, mv.ModuleName, 8) }},
	}
}

// within checks what the readers of a layout assume: ok, and each (offset, length) pair
// of offLen inside a struct of size bytes, so that reading an entry's fields never
// leaves the entry.
func within(size uint64, ok bool, offLen ...uint64) error {
	if !ok || size == 0 {
		return fmt.Errorf("implausible layout (size %d)", size)
	}
	for i := 0; i+1 < len(offLen); i += 2 {
		if offLen[i] > size || offLen[i+1] > size-offLen[i] {
			return fmt.Errorf("implausible layout: a %d-byte field at %d of a %d-byte struct", offLen[i+1], offLen[i], size)
		}
	}
	return nil
}

// readBTF fills every layout the BTF blob b describes; where names it ("…/vmlinux
// (.BTF)"). A struct missing from it keeps its default, and its From says why. An error
// means b is not readable BTF at all, and nothing was changed.
func (s *Structs) readBTF(b []byte, where string) error {
	spec, err := parseBTF(b)
	if err != nil {
		return err
	}
	var names []string
	for _, st := range s.specs() {
		names = append(names, st.name)
	}
	ids, err := spec.structsByName(names)
	if err != nil {
		return err
	}
	for _, st := range s.specs() {
		if err := fillFromBTF(spec, ids[st.name], st); err != nil {
			*st.from = fmt.Sprintf("%s (not from %s: %v)", *st.from, where, err)
			if st.from == &s.Module.From {
				s.Module.SizeErr = fmt.Errorf("not from %s: %w", where, err)
			}
			continue
		}
		*st.from = where
	}
	if s.Module.From == where {
		s.Module.SizeErr, s.Module.InitExit = nil, true
	}
	s.btf = true
	return nil
}

// fillFromBTF fills one layout, or nothing when any of its members is missing.
func fillFromBTF(spec *btfSpec, id uint32, st structSpec) error {
	if id == 0 {
		return fmt.Errorf("BTF: no struct %s", st.name)
	}
	t, err := spec.typ(id)
	if err != nil {
		return err
	}
	type val struct {
		dst *uint64
		v   uint64
	}
	vals := []val{{st.size, uint64(t.sizeOrType)}}
	var missing []*bool
	for _, m := range st.members {
		var off uint64
		var typ uint32
		var err error
		for _, n := range m.names {
			if off, typ, err = spec.member(id, n); err == nil {
				break
			}
		}
		if err != nil && m.missing != nil && errors.Is(err, errNoMember) {
			missing = append(missing, m.missing)
			continue
		}
		if err != nil {
			return fmt.Errorf("struct %s: %w", st.name, err)
		}
		vals = append(vals, val{m.off, off})
		if m.size != nil {
			n, err := spec.sizeOf(typ)
			if err != nil {
				return fmt.Errorf("struct %s member %s: %w", st.name, m.names[0], err)
			}
			vals = append(vals, val{m.size, n})
		}
	}
	old := make([]uint64, len(vals))
	for i, v := range vals {
		if v.dst != nil {
			old[i], *v.dst = *v.dst, v.v
		}
	}
	for _, m := range missing {
		*m = true
	}
	if err := st.check(); err != nil {
		for i, v := range vals {
			if v.dst != nil {
				*v.dst = old[i]
			}
		}
		for _, m := range missing {
			*m = false
		}
		return fmt.Errorf("BTF: struct %s: %w", st.name, err)
	}
	return nil
}

// maxBTF bounds the BTF file read from /sys/kernel/btf (a 7.x vmlinux's is 5.5 MB).
const maxBTF = 64 << 20

// fromFile fills the layouts from the BTF file path (the running kernel's
// /sys/kernel/btf/vmlinux), or notes why it could not.
func (s *Structs) fromFile(path string) {
	fh, err := os.Open(path)
	if err != nil {
		s.noBTF = append(s.noBTF, err.Error())
		return
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxBTF+1))
	switch {
	case err != nil:
		err = fmt.Errorf("%s: %w", path, err)
	case len(b) > maxBTF:
		err = fmt.Errorf("%s: more than %d bytes", path, maxBTF)
	default:
		err = s.readBTF(b, path)
	}
	if err != nil {
		s.noBTF = append(s.noBTF, fmt.Sprintf("%s: %v", path, err))
	}
}

// fromImage fills the layouts from the kernel image's .BTF section, unless BTF already
// gave them; where names the image.
func (s *Structs) fromImage(v *vmlinux, where string) {
	if s.btf {
		return
	}
	sec := v.f.Section(".BTF")
	if sec == nil {
		s.noBTF = append(s.noBTF, fmt.Sprintf("%s: %v", where, errNoBTF))
		return
	}
	b := v.bytes(sec)
	if b == nil {
		s.noBTF = append(s.noBTF, fmt.Sprintf("%s: .BTF section unreadable", where))
		return
	}
	label := where + " (.BTF)"
	if len(s.noBTF) > 0 { // the running kernel's own BTF was unusable: say why
		label = where + " (.BTF; not " + strings.Join(s.noBTF, "; ") + ")"
	}
	if err := s.readBTF(b, label); err != nil {
		s.noBTF = append(s.noBTF, fmt.Sprintf("%s (.BTF): %v", where, err))
	}
}

// finish runs after every BTF source was tried: without BTF, sizeof(struct module) and
// the offsets of init and exit come from an in-tree module's .gnu.linkonce.this_module,
// and each layout left at its default says why BTF did not give it.
func (s *Structs) finish(modDir string, inTree map[string]string) {
	why := "no BTF: no kernel image read"
	if len(s.noBTF) > 0 {
		why = "no BTF: " + strings.Join(s.noBTF, "; ")
	}
	for _, st := range s.specs() {
		if *st.from == abiDefault {
			*st.from = abiDefault + " (" + why + ")"
		}
	}
	m := &s.Module
	if s.btf && m.SizeErr == nil {
		return
	}
	if s.btf { // BTF without a usable struct module
		why = m.SizeErr.Error()
	}
	size, init, exit, from, err := moduleStructSize(modDir, inTree)
	if err != nil {
		m.SizeErr = fmt.Errorf("%s; %w", why, err)
		return
	}
	m.Size, m.SizeErr = size, nil
	m.From = from + " (.gnu.linkonce.this_module; " + why + ")"
	if init >= 0 && exit >= 0 {
		m.Init, m.Exit, m.InitExit = uint64(init), uint64(exit), true
	}
}
