package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This is a minimal reader of BTF, the BPF Type Format a kernel built with
// CONFIG_DEBUG_INFO_BTF keeps in vmlinux's .BTF section and shows as
// /sys/kernel/btf/vmlinux (Documentation/bpf/btf.rst). gokmod needs only a few struct
// sizes and member offsets from it, so it reads the header, indexes the type section and
// looks structs up by name; github.com/cilium/ebpf/btf would decode every type (about
// 100 ms and 16 MB for a 7.x vmlinux) and links go/parser, encoding/xml and flag into
// every kmod tool. Every read is bounds-checked: hostile input gives an error, never a
// panic, and allocation is bounded by the input's size (one uint32 per type).

// BTF kinds (include/uapi/linux/btf.h).
const (
	btfInt = iota + 1
	btfPtr
	btfArray
	btfStruct
	btfUnion
	btfEnum
	btfFwd
	btfTypedef
	btfVolatile
	btfConst
	btfRestrict
	btfFunc
	btfFuncProto
	btfVar
	btfDatasec
	btfFloat
	btfDeclTag
	btfTypeTag
	btfEnum64
)

const (
	btfMagic      = 0xeb9f
	btfHeaderLen  = 24      // struct btf_header up to str_len
	btfTypeLen    = 12      // struct btf_type: name_off, info, size/type
	btfMaxTypes   = 1 << 20 // BTF_MAX_TYPE is 0x000fffff
	btfMaxDepth   = 16      // nested anonymous members, typedef chains, arrays
	btfPointerLen = 8       // x86_64 (PTR types carry no size)
	btfMaxVisits  = 1 << 16 // members one lookup may visit (struct module has about 100)
)

// errNoMember says a struct has no member of the name looked for.
var errNoMember = errors.New("no such member")

// errNoBTF says a kernel image has no .BTF section (CONFIG_DEBUG_INFO_BTF unset).
var errNoBTF = errors.New("no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF)")

// btfSpec is a parsed BTF blob: its type and string sections and where each type starts.
type btfSpec struct {
	o     binary.ByteOrder
	types []byte
	strs  []byte
	offs  []uint32 // offs[id-1] is type id's offset in types
}

// btfType is one decoded struct btf_type.
type btfType struct {
	name       uint32 // offset in the string section
	kind       int
	vlen       int
	kflag      bool
	sizeOrType uint32
	extra      []byte // the kind's data after the 12 bytes
}

// parseBTF checks the header and indexes every type of a BTF blob.
func parseBTF(b []byte) (*btfSpec, error) {
	if len(b) < btfHeaderLen {
		return nil, fmt.Errorf("BTF: %d bytes, shorter than its header", len(b))
	}
	var o binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint16(b) == btfMagic:
		o = binary.LittleEndian
	case binary.BigEndian.Uint16(b) == btfMagic:
		o = binary.BigEndian
	default:
		return nil, fmt.Errorf("BTF: bad magic %#x", binary.LittleEndian.Uint16(b))
	}
	if b[2] != 1 {
		return nil, fmt.Errorf("BTF: version %d, want 1", b[2])
	}
	hdrLen := uint64(o.Uint32(b[4:]))
	if hdrLen < btfHeaderLen || hdrLen > uint64(len(b)) {
		return nil, fmt.Errorf("BTF: header length %d out of range", hdrLen)
	}
	body := b[hdrLen:]
	sect := func(what string, off, n uint32) ([]byte, error) {
		if uint64(off)+uint64(n) > uint64(len(body)) {
			return nil, fmt.Errorf("BTF: %s section (%d bytes at %d) beyond the %d bytes after the header", what, n, off, len(body))
		}
		return body[off : off+n], nil
	}
	s := &btfSpec{o: o}
	var err error
	if s.types, err = sect("type", o.Uint32(b[8:]), o.Uint32(b[12:])); err != nil {
		return nil, err
	}
	if s.strs, err = sect("string", o.Uint32(b[16:]), o.Uint32(b[20:])); err != nil {
		return nil, err
	}
	s.offs = make([]uint32, 0, min(len(s.types)/btfTypeLen, btfMaxTypes))
	for off := 0; off < len(s.types); {
		if len(s.offs) == btfMaxTypes {
			return nil, fmt.Errorf("BTF: more than %d types", btfMaxTypes)
		}
		_, n, err := s.decode(off)
		if err != nil {
			return nil, fmt.Errorf("BTF: type %d: %w", len(s.offs)+1, err)
		}
		s.offs = append(s.offs, uint32(off))
		off += n
	}
	return s, nil
}

// decode reads the type at off and returns it with its full length.
func (s *btfSpec) decode(off int) (btfType, int, error) {
	if off < 0 || off+btfTypeLen > len(s.types) {
		return btfType{}, 0, fmt.Errorf("truncated at offset %d", off)
	}
	h := s.types[off:]
	info := s.o.Uint32(h[4:])
	t := btfType{name: s.o.Uint32(h), kind: int(info >> 24 & 0x1f), vlen: int(info & 0xffff),
		kflag: info>>31 != 0, sizeOrType: s.o.Uint32(h[8:])}
	var extra int
	switch t.kind {
	case btfInt, btfVar, btfDeclTag:
		extra = 4
	case btfPtr, btfFwd, btfTypedef, btfVolatile, btfConst, btfRestrict, btfFunc, btfFloat, btfTypeTag:
	case btfArray:
		extra = 12
	case btfStruct, btfUnion, btfDatasec, btfEnum64:
		extra = 12 * t.vlen
	case btfEnum, btfFuncProto:
		extra = 8 * t.vlen
	default:
		return btfType{}, 0, fmt.Errorf("unknown kind %d at offset %d", t.kind, off)
	}
	if off+btfTypeLen+extra > len(s.types) {
		return btfType{}, 0, fmt.Errorf("kind %d with %d bytes of data truncated at offset %d", t.kind, extra, off)
	}
	t.extra = h[btfTypeLen : btfTypeLen+extra]
	return t, btfTypeLen + extra, nil
}

// typ returns type id (1-based; 0 is void).
func (s *btfSpec) typ(id uint32) (btfType, error) {
	if id == 0 || uint64(id) > uint64(len(s.offs)) {
		return btfType{}, fmt.Errorf("BTF: no type %d", id)
	}
	t, _, err := s.decode(int(s.offs[id-1]))
	return t, err
}

// nameIs reports whether the string at off is name.
func (s *btfSpec) nameIs(off uint32, name string) bool {
	if uint64(off)+uint64(len(name)) >= uint64(len(s.strs)) {
		return false
	}
	return string(s.strs[off:int(off)+len(name)]) == name && s.strs[int(off)+len(name)] == 0
}

// structsByName returns the ids of the structs called names, in one pass over the
// types; a name without a struct is absent from the map. Several complete structs of
// one name with different sizes are an error: the layout would be a guess.
func (s *btfSpec) structsByName(names []string) (map[string]uint32, error) {
	found := map[string]uint32{}
	size := map[string]uint32{}
	for i, off := range s.offs {
		t, _, err := s.decode(int(off))
		if err != nil {
			return nil, err
		}
		if t.kind != btfStruct {
			continue
		}
		for _, name := range names {
			if !s.nameIs(t.name, name) {
				continue
			}
			if id, ok := found[name]; ok && size[name] != t.sizeOrType {
				return nil, fmt.Errorf("BTF: two structs %s (types %d and %d), of %d and %d bytes", name, id, i+1, size[name], t.sizeOrType)
			} else if !ok {
				found[name], size[name] = uint32(i+1), t.sizeOrType
			}
		}
	}
	return found, nil
}

// member finds the member called name in struct or union id, also inside its anonymous
// struct and union members (struct kernel_param's arg is in one), and returns its byte
// offset and type.
func (s *btfSpec) member(id uint32, name string) (off uint64, typ uint32, err error) {
	budget := btfMaxVisits
	off, typ, ok, err := s.memberAt(id, name, 0, &budget)
	if err == nil && !ok {
		err = fmt.Errorf("BTF: %w: %s", errNoMember, name)
	}
	return off, typ, err
}

// memberAt is member's search at one depth; budget bounds the members visited in all,
// since hostile anonymous members may nest a struct in itself many times over.
func (s *btfSpec) memberAt(id uint32, name string, depth int, budget *int) (uint64, uint32, bool, error) {
	if depth > btfMaxDepth {
		return 0, 0, false, fmt.Errorf("BTF: anonymous members nested deeper than %d", btfMaxDepth)
	}
	t, err := s.typ(id)
	if err != nil {
		return 0, 0, false, err
	}
	if t.kind != btfStruct && t.kind != btfUnion {
		return 0, 0, false, fmt.Errorf("BTF: type %d is kind %d, not a struct or union", id, t.kind)
	}
	for i := 0; i < t.vlen; i++ {
		if *budget--; *budget < 0 {
			return 0, 0, false, fmt.Errorf("BTF: more than %d members searched for %s", btfMaxVisits, name)
		}
		m := t.extra[i*12:]
		mname, mtype, raw := s.o.Uint32(m), s.o.Uint32(m[4:]), s.o.Uint32(m[8:])
		bits := uint64(raw)
		if t.kflag { // bitfield size in the top 8 bits, offset in the low 24
			if raw>>24 != 0 {
				if s.nameIs(mname, name) {
					return 0, 0, false, fmt.Errorf("BTF: member %s is a bitfield", name)
				}
				continue
			}
			bits = uint64(raw & 0xffffff)
		}
		switch {
		case s.nameIs(mname, name):
			if bits%8 != 0 {
				return 0, 0, false, fmt.Errorf("BTF: member %s at bit %d, not on a byte", name, bits)
			}
			return bits / 8, mtype, true, nil
		case mname == 0 || s.nameIs(mname, ""):
			inner, err := s.resolve(mtype)
			if err != nil {
				return 0, 0, false, err
			}
			if it, _ := s.typ(inner); it.kind != btfStruct && it.kind != btfUnion {
				continue
			}
			off, typ, ok, err := s.memberAt(inner, name, depth+1, budget)
			if err != nil || ok {
				return bits/8 + off, typ, ok, err
			}
		}
	}
	return 0, 0, false, nil
}

// resolve follows typedefs and qualifiers to the type they name.
func (s *btfSpec) resolve(id uint32) (uint32, error) {
	for range btfMaxDepth {
		t, err := s.typ(id)
		if err != nil {
			return 0, err
		}
		switch t.kind {
		case btfTypedef, btfVolatile, btfConst, btfRestrict, btfTypeTag:
			id = t.sizeOrType
		default:
			return id, nil
		}
	}
	return 0, fmt.Errorf("BTF: typedefs of type %d nested deeper than %d", id, btfMaxDepth)
}

// sizeOf returns the size of type id in bytes: arrays (nested too) multiply their
// element's size, up to 4 GiB.
func (s *btfSpec) sizeOf(id uint32) (uint64, error) {
	mult, cur := uint64(1), id
	for range btfMaxDepth {
		id, err := s.resolve(cur)
		if err != nil {
			return 0, err
		}
		t, err := s.typ(id)
		if err != nil {
			return 0, err
		}
		var n uint64
		switch t.kind {
		case btfInt, btfStruct, btfUnion, btfEnum, btfEnum64, btfFloat:
			n = uint64(t.sizeOrType)
		case btfPtr:
			n = btfPointerLen
		case btfArray:
			n = uint64(s.o.Uint32(t.extra[8:]))
		default:
			return 0, fmt.Errorf("BTF: type %d of kind %d has no size", id, t.kind)
		}
		if n != 0 && mult > (1<<32)/n {
			return 0, fmt.Errorf("BTF: type %d is larger than 4 GiB", id)
		}
		mult *= n
		if t.kind != btfArray {
			return mult, nil
		}
		cur = s.o.Uint32(t.extra) // the element type
	}
	return 0, fmt.Errorf("BTF: arrays of type %d nested deeper than %d", id, btfMaxDepth)
}
