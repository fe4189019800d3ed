package load

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// The reloc_* helpers of arm64's module.c on hand-made instructions: the immediates
// they write (decoded back by the instruction formats of the Arm ARM) and the ranges
// at which they report -ERANGE. Debian's modules use only some of these types; the
// rest are checked here.
func TestArm64RelocHelpers(t *testing.T) {
	insn := func(v uint32) []byte { b := make([]byte, 4); binary.LittleEndian.PutUint32(b, v); return b }
	get := func(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
	const bl, bcond, tbz, movz, adrp = 0x94000000, 0x54000000, 0x36000000, 0xd2800000, 0x90000000
	const place = 0xffff800078001000
	for _, tt := range []struct {
		name  string
		do    func([]byte) unix.Errno
		in    uint32
		want  uint32
		err   unix.Errno
		check bool // compare the instruction (an overflowing one holds truncated bits)
	}{
		{"CALL26 forward", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place+0x1000, 2, 26, imm26) }, bl, bl | 0x400, 0, true},
		{"CALL26 backward", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place-8, 2, 26, imm26) }, bl, bl | 0x3fffffe, 0, true},
		{"CALL26 -128 MiB reaches", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place-128<<20, 2, 26, imm26) }, bl, bl | 0x2000000, 0, true},
		{"CALL26 +128 MiB overflows", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place+128<<20, 2, 26, imm26) }, bl, 0, errRange, false},
		{"CONDBR19", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place+0x40, 2, 19, imm19) }, bcond, bcond | 0x10<<5, 0, true},
		{"CONDBR19 +1 MiB overflows", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place+1<<20, 2, 19, imm19) }, bcond, 0, errRange, false},
		{"TSTBR14", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place-4, 2, 14, imm14) }, tbz, tbz | 0x3fff<<5, 0, true},
		{"TSTBR14 +32 KiB overflows", func(b []byte) unix.Errno { return relocInsnImm(opPrel, b, place, place+32<<10, 2, 14, imm14) }, tbz, 0, errRange, false},
		{"ADD_ABS_LO12_NC", func(b []byte) unix.Errno { return relocInsnImm(opAbs, b, place, 0xffff800080123456, 0, 12, imm12) }, 0x91000000, 0x91000000 | 0x456<<10, errRange, true}, // _NC: apply_relocate_add ignores it
		{"LDST64_ABS_LO12_NC", func(b []byte) unix.Errno { return relocInsnImm(opAbs, b, place, 0xffff800080123458, 3, 9, imm12) }, 0xf9400000, 0xf9400000 | (0x458>>3)<<10, errRange, true},
		// ADRP: page difference 0x80123000 - 0x78001000 = 0x8122 pages: immlo 2, immhi 0x2048.
		{"ADR_PREL_PG_HI21", func(b []byte) unix.Errno { return relocInsnImm(opPage, b, place, 0xffff800080123456, 12, 21, immADR) }, adrp, adrp | 2<<29 | 0x2048<<5, 0, true},
		{"ADR_PREL_PG_HI21 beyond 4 GiB", func(b []byte) unix.Errno { return relocInsnImm(opPage, b, place, place+5<<30, 12, 21, immADR) }, adrp, 0, errRange, false},
		{"MOVW_UABS_G1", func(b []byte) unix.Errno { return relocInsnMovw(opAbs, b, place, 0x12345678, 16, false) }, 0xf2a00000, 0xf2a00000 | 0x1234<<5, 0, true},
		{"MOVW_UABS_G0 overflows", func(b []byte) unix.Errno { return relocInsnMovw(opAbs, b, place, 0x12345678, 0, false) }, 0xf2800000, 0, errRange, false},
		// A negative value makes MOVN of the inverted immediate: -5 is movn #4.
		{"MOVW_SABS_G0 negative", func(b []byte) unix.Errno { return relocInsnMovw(opAbs, b, place, ^uint64(4), 0, true) }, movz, 0x92800000 | 4<<5, 0, true},
		{"MOVW_SABS_G0 positive", func(b []byte) unix.Errno { return relocInsnMovw(opAbs, b, place, 7, 0, true) }, 0x92800000, movz | 7<<5, 0, true},
	} {
		b := insn(tt.in)
		if err := tt.do(b); err != tt.err || tt.check && get(b) != tt.want {
			t.Errorf("%s: %#08x, %v; want %#08x, %v", tt.name, get(b), err, tt.want, tt.err)
		}
	}
	// reloc_data: PREL32 is checked signed, ABS32 unsigned, ABS16 and PREL16 likewise.
	for _, tt := range []struct {
		name string
		op   relocOp
		val  uint64
		bits int
		err  unix.Errno
	}{
		{"PREL32 -2 GiB", opPrel, place - 1<<31, 32, 0},
		{"PREL32 +2 GiB", opPrel, place + 1<<31, 32, errRange},
		{"ABS32 4 GiB-1", opAbs, 1<<32 - 1, 32, 0},
		{"ABS32 negative", opAbs, ^uint64(0), 32, errRange},
		{"ABS16 65535", opAbs, 0xffff, 16, 0},
		{"PREL16 +32 KiB", opPrel, place + 1<<15, 16, errRange},
		{"ABS64", opAbs, ^uint64(0), 64, 0},
	} {
		b := make([]byte, 8)
		if err := relocData(tt.op, b, place, tt.val, tt.bits); err != tt.err {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
}

// count_plts with the kernel's own quirks: branches within their section are free,
// duplicates counted once only when adjacent after the sort and with a zero addend,
// and the erratum's slack of one slot per 341.
func TestArm64CountPlts(t *testing.T) {
	info := &loadInfo{sechdrs: make([]shdr, 3)}
	syms := []elfSym{{}, {shndx: 0}, {shndx: 0}, {shndx: 2}} // 1, 2: undefined; 3: in section 2
	r := func(typ uint32, sym, addend uint64) rela { return rela{info: sym<<32 | uint64(typ), addend: addend} }
	relas := []rela{
		r(rAarch64Call26, 2, 0), r(rAarch64Call26, 1, 0), r(rAarch64Call26, 3, 0), // the local one needs none
		r(rAarch64Call26, 1, 0), r(rAarch64Jump26, 1, 0), r(rAarch64Call26, 1, 8), r(rAarch64Call26, 1, 8),
		r(rAarch64Prel32, 1, 0),
	}
	n := partitionBranchPltRelas(syms, relas, 2)
	sortRelas(relas[:n])
	got := arm64PLTCounting{branches: true}.countPlts(info, syms, relas, 2)
	// Distinct: CALL26 sym 1, CALL26 sym 2, JUMP26 sym 1, and the two addend-8 calls
	// apiece: 5, or 6 when the partition left a duplicate out of the sort.
	if got < 5 || got > 6 {
		t.Errorf("count_plts: %d, want 5 or 6 (%v)", got, relas)
	}
	if got := (arm64PLTCounting{}).countPlts(info, syms, relas, 2); got != 0 {
		t.Errorf("count_plts without RANDOMIZE_BASE (6.1): %d, want 0", got)
	}
	many := make([]rela, 400)
	for i := range many {
		many[i] = r(rAarch64Call26, uint64(1+i%2), uint64(i+1)) // non-zero addends: all counted
	}
	if got := (arm64PLTCounting{branches: true, erratum: true}).countPlts(info, syms, many, 2); got != 400+2 {
		t.Errorf("count_plts with erratum 843419 slack: %d, want 402", got)
	}
	// An ADRP at offset 0xff8 needs more than a 4 KiB alignment: a veneer slot; at 0x10
	// (lowest clear bit of 0x17: 3), 16 bytes.
	info.sechdrs[2].addralign = 4
	adrps := []rela{{offset: 0xff8, info: 1<<32 | rAarch64AdrPrelPgHi21}, {offset: 0x10, info: 1<<32 | rAarch64AdrPrelPgHi21}}
	if got := (arm64PLTCounting{erratum: true}).countPlts(info, syms, adrps, 2); got != 2 || info.sechdrs[2].addralign != 16 {
		t.Errorf("count_plts of ADRPs with the erratum: %d slots, alignment %d; want 2 (1 + slack), 16", got, info.sechdrs[2].addralign)
	}
}
