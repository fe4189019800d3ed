package load

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// arm64's module.c (arch/arm64/kernel/module.c) as Debian's 6.1.192, 6.12.117 and
// 7.2.13 have it: apply_relocate_add with its overflow rules and module_finalize.
// Since 6.12 (Arm64PrFmt) its messages carry pr_fmt's "Modules: ".

// arm64Hooks are arm64's hooks and mod->arch for one load.
type arm64Hooks struct {
	core, init modPltSec
	// pltTargets is what each emitted PLT slot branches to, for module_emit_plt_entry's
	// duplicate check (plt_entries_equal).
	pltTargets map[*modPltSec][]pltSlot
	// sorted holds each executable section's relocations in the order
	// module_frob_arch_sections left them (it sorts them in the image).
	sorted map[int][]rela

	pltBranches    bool // Arm64PLTsAlways, or CONFIG_RANDOMIZE_BASE before it: branches counted
	emitPLTs       bool // Arm64PLTsAlways, or CONFIG_ARM64_MODULE_PLTS before it: PLTs emitted
	erratum        bool // ARM64_WORKAROUND_843419: the option and CONFIG_ARM64_ERRATUM_843419
	kaslr          bool // the module region may be randomized (no nokaslr, Options.Arm64.NoKASLR unset)
	initTrampoline bool // .init.text.ftrace_trampoline (Arm64InitFtraceTrampoline)
	nrFtracePlts   int  // NR_FTRACE_PLTS: 2 on 6.1 (FTRACE_REGS_PLT_IDX), 1 since
	prFmt          string
	ftrace         bool // module_init_ftrace_plt's checks (CONFIG_DYNAMIC_FTRACE, and 6.1's MODULE_PLTS)
	addrs          addressSpace
}

// pltSlot is one emitted PLT entry: its target, and whether it is an ADRP veneer
// (whose branch back never equals a PLT's br x16).
type pltSlot struct {
	target uint64
	veneer bool
}

// Arm64Options are the facts about an arm64 machine that its .ko files and kernel files
// do not tell. The zero value is the QEMU guest this project boots (qemu-system-aarch64
// -M virt: a CPU without erratum 843419, and a KASLR seed in the device tree).
type Arm64Options struct {
	// Erratum843419 says the CPU needs ARM64_WORKAROUND_843419 (Cortex-A53 r0p0 to
	// r0p4): ADRP relocations may raise a section's alignment or take veneer slots in
	// the PLT, which grows, and so do coresize and initsize. It acts only when the
	// kernel has CONFIG_ARM64_ERRATUM_843419.
	Erratum843419 bool
	// NoKASLR says the kernel runs without KASLR (no seed, or nokaslr on the command
	// line, which the model also reads). On 6.1 with CONFIG_RANDOMIZE_MODULE_REGION_FULL
	// a randomized module region can put modules out of branch range of the kernel:
	// the model then places them at its far end, so calls into the kernel go through
	// the PLT. Since 6.12 modules are first placed within 128 MiB of the kernel either
	// way. Only the emitted entries depend on it, never the sizes.
	NoKASLR bool
}

func newArm64Hooks(m *Model) *arm64Hooks {
	cfg := m.K.Config
	always := m.Has(Arm64PLTsAlways)
	h := &arm64Hooks{
		pltTargets:     map[*modPltSec][]pltSlot{},
		sorted:         map[int][]rela{},
		pltBranches:    always || cfg.Enabled("RANDOMIZE_BASE"),
		emitPLTs:       always || cfg.Enabled("ARM64_MODULE_PLTS"),
		erratum:        m.Opts.Arm64.Erratum843419 && cfg.Enabled("ARM64_ERRATUM_843419"),
		initTrampoline: m.Has(Arm64InitFtraceTrampoline),
		nrFtracePlts:   2,
		ftrace:         cfg.Enabled("DYNAMIC_FTRACE") && (always || cfg.Enabled("ARM64_MODULE_PLTS")),
	}
	_, nokaslr := m.K.CmdLineParam("nokaslr")
	h.kaslr = cfg.Enabled("RANDOMIZE_BASE") && !m.Opts.Arm64.NoKASLR && !nokaslr
	if m.Has(Arm64InitFtraceTrampoline) {
		h.nrFtracePlts = 1
	}
	if m.Has(Arm64PrFmt) {
		h.prFmt = "Modules: "
	}
	// KIMAGE_VADDR is MODULES_END: the module region (MODULES_VSIZE: 128 MiB on 6.1,
	// 2 GiB since) ends where the kernel image starts. The model's kernel takes its
	// first 32 MiB (synthetic exports from its text, per-cpu data after them). Modules
	// go where the kernel puts them when it can: within 128 MiB of the whole kernel, so
	// that direct branches reach (6.12's module_direct_base, 6.1 without KASLR), or, on
	// 6.1 with CONFIG_RANDOMIZE_MODULE_REGION_FULL and KASLR, anywhere in the 2 GiB
	// below the kernel's end: the model takes the far end, where every call into the
	// kernel goes through a PLT and PREL32 still reaches.
	const modulesVaddr = 0xffff800000000000
	vsize := uint64(128 << 20)
	if always {
		vsize = 2 << 30
	}
	kimage := uint64(modulesVaddr) + vsize
	kernelEnd := kimage + 32<<20
	h.addrs = addressSpace{moduleArea: kernelEnd - 128<<20, kernelText: kimage + 0x10000, percpuModule: kimage + 24<<20}
	if !always && h.kaslr && cfg.Enabled("RANDOMIZE_MODULE_REGION_FULL") {
		h.addrs.moduleArea = kernelEnd - 2<<30 + pageSize
	}
	return h
}

func (h *arm64Hooks) machine() (uint16, string) { return emAarch64, "EM_AARCH64" }
func (h *arm64Hooks) space() addressSpace       { return h.addrs }

// AArch64 relocation types apply_relocate_add handles (and R_ARM_NONE, 0).
const (
	rArmNone                 = 0
	rAarch64None             = 256
	rAarch64Abs64            = 257
	rAarch64Abs32            = 258
	rAarch64Abs16            = 259
	rAarch64Prel64           = 260
	rAarch64Prel32           = 261
	rAarch64Prel16           = 262
	rAarch64MovwUabsG0       = 263
	rAarch64MovwUabsG0NC     = 264
	rAarch64MovwUabsG1       = 265
	rAarch64MovwUabsG1NC     = 266
	rAarch64MovwUabsG2       = 267
	rAarch64MovwUabsG2NC     = 268
	rAarch64MovwUabsG3       = 269
	rAarch64MovwSabsG0       = 270
	rAarch64MovwSabsG1       = 271
	rAarch64MovwSabsG2       = 272
	rAarch64LdPrelLo19       = 273
	rAarch64AdrPrelLo21      = 274
	rAarch64AddAbsLo12NC     = 277
	rAarch64Ldst8AbsLo12NC   = 278
	rAarch64Tstbr14          = 279
	rAarch64Condbr19         = 280
	rAarch64Ldst16AbsLo12NC  = 284
	rAarch64Ldst32AbsLo12NC  = 285
	rAarch64Ldst64AbsLo12NC  = 286
	rAarch64MovwPrelG0       = 287
	rAarch64MovwPrelG0NC     = 288
	rAarch64MovwPrelG1       = 289
	rAarch64MovwPrelG1NC     = 290
	rAarch64MovwPrelG2       = 291
	rAarch64MovwPrelG2NC     = 292
	rAarch64MovwPrelG3       = 293
	rAarch64Ldst128AbsLo12NC = 299
)

// arm64RelocNames is built on first use: as a map literal every tool run built it at
// package initialization, though only arm64 relocation messages read it.
var arm64RelocNames = sync.OnceValue(func() map[uint32]string {
	return map[uint32]string{
		rArmNone: "R_ARM_NONE", rAarch64None: "R_AARCH64_NONE", rAarch64Abs64: "R_AARCH64_ABS64",
		rAarch64Abs32: "R_AARCH64_ABS32", rAarch64Abs16: "R_AARCH64_ABS16", rAarch64Prel64: "R_AARCH64_PREL64",
		rAarch64Prel32: "R_AARCH64_PREL32", rAarch64Prel16: "R_AARCH64_PREL16",
		rAarch64MovwUabsG0: "R_AARCH64_MOVW_UABS_G0", rAarch64MovwUabsG0NC: "R_AARCH64_MOVW_UABS_G0_NC",
		rAarch64MovwUabsG1: "R_AARCH64_MOVW_UABS_G1", rAarch64MovwUabsG1NC: "R_AARCH64_MOVW_UABS_G1_NC",
		rAarch64MovwUabsG2: "R_AARCH64_MOVW_UABS_G2", rAarch64MovwUabsG2NC: "R_AARCH64_MOVW_UABS_G2_NC",
		rAarch64MovwUabsG3: "R_AARCH64_MOVW_UABS_G3", rAarch64MovwSabsG0: "R_AARCH64_MOVW_SABS_G0",
		rAarch64MovwSabsG1: "R_AARCH64_MOVW_SABS_G1", rAarch64MovwSabsG2: "R_AARCH64_MOVW_SABS_G2",
		rAarch64LdPrelLo19: "R_AARCH64_LD_PREL_LO19", rAarch64AdrPrelLo21: "R_AARCH64_ADR_PREL_LO21",
		rAarch64AdrPrelPgHi21: "R_AARCH64_ADR_PREL_PG_HI21", rAarch64AdrPrelPgHi21NC: "R_AARCH64_ADR_PREL_PG_HI21_NC",
		rAarch64AddAbsLo12NC: "R_AARCH64_ADD_ABS_LO12_NC", rAarch64Ldst8AbsLo12NC: "R_AARCH64_LDST8_ABS_LO12_NC",
		rAarch64Tstbr14: "R_AARCH64_TSTBR14", rAarch64Condbr19: "R_AARCH64_CONDBR19",
		rAarch64Jump26: "R_AARCH64_JUMP26", rAarch64Call26: "R_AARCH64_CALL26",
		rAarch64Ldst16AbsLo12NC: "R_AARCH64_LDST16_ABS_LO12_NC", rAarch64Ldst32AbsLo12NC: "R_AARCH64_LDST32_ABS_LO12_NC",
		rAarch64Ldst64AbsLo12NC: "R_AARCH64_LDST64_ABS_LO12_NC", rAarch64MovwPrelG0: "R_AARCH64_MOVW_PREL_G0",
		rAarch64MovwPrelG0NC: "R_AARCH64_MOVW_PREL_G0_NC", rAarch64MovwPrelG1: "R_AARCH64_MOVW_PREL_G1",
		rAarch64MovwPrelG1NC: "R_AARCH64_MOVW_PREL_G1_NC", rAarch64MovwPrelG2: "R_AARCH64_MOVW_PREL_G2",
		rAarch64MovwPrelG2NC: "R_AARCH64_MOVW_PREL_G2_NC", rAarch64MovwPrelG3: "R_AARCH64_MOVW_PREL_G3",
		rAarch64Ldst128AbsLo12NC: "R_AARCH64_LDST128_ABS_LO12_NC",
	}
})

// Arm64RelocName names an AArch64 relocation type as the ELF ABI does
// ("R_AARCH64_CALL26"), or "R_AARCH64_<n>" for a type apply_relocate_add refuses.
func Arm64RelocName(t uint32) string {
	if n, ok := arm64RelocNames()[t]; ok {
		return n
	}
	return fmt.Sprintf("R_AARCH64_%d", t)
}

// relocOp is enum aarch64_reloc_op.
type relocOp int

const (
	opNone relocOp = iota
	opAbs
	opPrel
	opPage
)

// doReloc is do_reloc.
func doReloc(op relocOp, place, val uint64) uint64 {
	switch op {
	case opAbs:
		return val
	case opPrel:
		return val - place
	case opPage:
		return val&^0xfff - place&^0xfff
	}
	return 0
}

// errRange is -ERANGE from the reloc_* helpers: an overflow, which apply_relocate_add
// reports only for types it checks.
const errRange = unix.ERANGE

// Immediate fields aarch64_insn_encode_immediate fills: mask and shift.
type immType struct {
	mask  uint32
	shift uint
	adr   bool // AARCH64_INSN_IMM_ADR: immlo at 29, immhi at 5
}

var (
	imm26  = immType{mask: 1<<26 - 1}
	imm19  = immType{mask: 1<<19 - 1, shift: 5}
	imm16  = immType{mask: 1<<16 - 1, shift: 5}
	imm14  = immType{mask: 1<<14 - 1, shift: 5}
	imm12  = immType{mask: 1<<12 - 1, shift: 10}
	immADR = immType{adr: true}
)

// encodeImmediate is aarch64_insn_encode_immediate.
func encodeImmediate(t immType, insn uint32, imm uint64) uint32 {
	if t.adr {
		immlo := uint32(imm&3) << 29
		immhi := uint32(imm>>2&0x7ffff) << 5
		mask := uint32(3)<<29 | uint32(0x7ffff)<<5
		return insn&^mask | immlo | immhi
	}
	insn &^= t.mask << t.shift
	return insn | (uint32(imm)&t.mask)<<t.shift
}

// relocData is reloc_data: the value is written first, then checked. The 16 and 32-bit
// place-relative types are checked as signed (the kernel's comment: its address space
// needs signed PREL32).
func relocData(op relocOp, field []byte, place, val uint64, bitsLen int) unix.Errno {
	sval := int64(doReloc(op, place, val))
	switch bitsLen {
	case 16:
		binary.LittleEndian.PutUint16(field, uint16(sval))
		if op == opAbs && (sval < 0 || sval > 0xffff) || op == opPrel && (sval < -1<<15 || sval > 1<<15-1) {
			return errRange
		}
	case 32:
		binary.LittleEndian.PutUint32(field, uint32(sval))
		if op == opAbs && (sval < 0 || sval > 0xffffffff) || op == opPrel && (sval < -1<<31 || sval > 1<<31-1) {
			return errRange
		}
	case 64:
		binary.LittleEndian.PutUint64(field, uint64(sval))
	}
	return 0
}

// relocInsnMovw is reloc_insn_movw; movnz makes MOVZ or MOVN from the sign.
func relocInsnMovw(op relocOp, field []byte, place, val uint64, lsb uint, movnz bool) unix.Errno {
	insn := binary.LittleEndian.Uint32(field)
	sval := int64(doReloc(op, place, val))
	imm := uint64(sval >> lsb)
	if movnz {
		insn &^= 3 << 29
		if sval >= 0 {
			insn |= 2 << 29 // MOVZ
		} else {
			imm = ^imm // MOVN
		}
	}
	binary.LittleEndian.PutUint32(field, encodeImmediate(imm16, insn, imm))
	if imm > 0xffff {
		return errRange
	}
	return 0
}

// relocInsnImm is reloc_insn_imm: len bits of the value from bit lsb go into the
// instruction; overflow when the bits above are not all copies of its sign bit.
func relocInsnImm(op relocOp, field []byte, place, val uint64, lsb, length uint, t immType) unix.Errno {
	insn := binary.LittleEndian.Uint32(field)
	sval := int64(doReloc(op, place, val))
	sval >>= lsb
	immMask := (uint64(1)<<(lsb+length) - 1) >> lsb
	binary.LittleEndian.PutUint32(field, encodeImmediate(t, insn, uint64(sval)&immMask))
	sval = int64(uint64(sval)&^(immMask>>1)) >> (length - 1)
	if uint64(sval+1) >= 2 {
		return errRange
	}
	return 0
}

// relocInsnAdrp is reloc_insn_adrp: with the erratum, an ADRP at a forbidden offset
// becomes an ADR when in range, else a branch to a veneer.
func (h *arm64Hooks) relocInsnAdrp(c *call, info *loadInfo, field []byte, place, val uint64) unix.Errno {
	if !h.isForbiddenOffsetForAdrp(place) {
		return relocInsnImm(opPage, field, place, val, 12, 21, immADR)
	}
	var insn uint32
	if relocInsnImm(opPrel, field, place, val&^0xfff, 0, 21, immADR) == 0 {
		insn = binary.LittleEndian.Uint32(field) &^ (1 << 31)
	} else {
		v := h.moduleEmitVeneerForAdrp(c, info, place, val&^0xfff)
		if v == 0 {
			return unix.ENOEXEC
		}
		insn = 0x14000000 | uint32((v-place)>>2)&0x3ffffff // aarch64_insn_gen_branch_imm, B
	}
	binary.LittleEndian.PutUint32(field, insn)
	return 0
}

// applyRelocateAdd mirrors arm64's apply_relocate_add for one SHT_RELA section, in the
// order module_frob_arch_sections left its entries.
func (h *arm64Hooks) applyRelocateAdd(c *call, info *loadInfo, mod *module, relsec int) (int, unix.Errno) {
	rs := info.sechdrs[relsec]
	tgtAddr := info.sechdrs[rs.info].addr
	tb := relocTarget(info, relsec)
	relas, ok := h.sorted[relsec]
	if !ok {
		relas = readRelas(info, relsec)
	}
	for i, r := range relas {
		if r.sym() >= uint64(len(info.syms)) {
			c.uncertain("relocation %d of %s names symbol %d beyond the symbol table: undefined behaviour in the kernel", i, info.secName(relsec), r.sym())
			continue
		}
		loc := tgtAddr + r.offset
		val := info.syms[r.sym()].value + r.addend
		size := arm64RelocSize(r.typ())
		var field []byte
		if r.offset < uint64(len(tb)) {
			field = tb[r.offset:]
		}
		if len(field) < size {
			c.uncertain("relocation at %#x writes outside its section: undefined behaviour in the kernel", loc)
			continue
		}
		val, check, e := h.relocateOne(c, info, mod, r.typ(), field, loc, val)
		failed := e == unix.ENOEXEC || check && e == errRange
		h.sample(c, info, relsec, r, loc, val, field[:size], e, check)
		if e == unix.ENOEXEC {
			return i, e
		}
		if check && e == errRange {
			c.log(LevelErr, "%smodule %s: overflow in relocation type %d val %x", h.prFmt, mod.Name, r.typ(), val)
			c.uncertain("the overflowing value in the log depends on real (KASLR) addresses")
			return i, unix.ENOEXEC
		}
		if !failed {
			c.res.Relocs[Arm64RelocName(r.typ())]++
		}
	}
	return len(relas), 0
}

// arm64RelocSize is how many bytes a relocation type reads or writes at its place.
func arm64RelocSize(t uint32) int {
	switch t {
	case rArmNone, rAarch64None:
		return 0
	case rAarch64Abs64, rAarch64Prel64:
		return 8
	case rAarch64Abs16, rAarch64Prel16:
		return 2
	}
	return 4
}

// relocateOne is the switch of apply_relocate_add: it returns the value used (after
// a PLT took over a branch), whether an -ERANGE of this type is an error, and the
// helper's result (ENOEXEC: refused outright).
func (h *arm64Hooks) relocateOne(c *call, info *loadInfo, mod *module, typ uint32, field []byte, loc, val uint64) (uint64, bool, unix.Errno) {
	movw := func(op relocOp, lsb uint, movnz, check bool) (uint64, bool, unix.Errno) {
		return val, check, relocInsnMovw(op, field, loc, val, lsb, movnz)
	}
	imm := func(op relocOp, lsb, length uint, t immType, check bool) (uint64, bool, unix.Errno) {
		return val, check, relocInsnImm(op, field, loc, val, lsb, length, t)
	}
	switch typ {
	case rArmNone, rAarch64None:
		return val, true, 0
	case rAarch64Abs64:
		return val, false, relocData(opAbs, field, loc, val, 64)
	case rAarch64Abs32:
		return val, true, relocData(opAbs, field, loc, val, 32)
	case rAarch64Abs16:
		return val, true, relocData(opAbs, field, loc, val, 16)
	case rAarch64Prel64:
		return val, false, relocData(opPrel, field, loc, val, 64)
	case rAarch64Prel32:
		return val, true, relocData(opPrel, field, loc, val, 32)
	case rAarch64Prel16:
		return val, true, relocData(opPrel, field, loc, val, 16)
	case rAarch64MovwUabsG0NC, rAarch64MovwUabsG0:
		return movw(opAbs, 0, false, typ == rAarch64MovwUabsG0)
	case rAarch64MovwUabsG1NC, rAarch64MovwUabsG1:
		return movw(opAbs, 16, false, typ == rAarch64MovwUabsG1)
	case rAarch64MovwUabsG2NC, rAarch64MovwUabsG2:
		return movw(opAbs, 32, false, typ == rAarch64MovwUabsG2)
	case rAarch64MovwUabsG3:
		return movw(opAbs, 48, false, false) // the top bits cannot overflow
	case rAarch64MovwSabsG0:
		return movw(opAbs, 0, true, true)
	case rAarch64MovwSabsG1:
		return movw(opAbs, 16, true, true)
	case rAarch64MovwSabsG2:
		return movw(opAbs, 32, true, true)
	case rAarch64MovwPrelG0NC:
		return movw(opPrel, 0, false, false)
	case rAarch64MovwPrelG0:
		return movw(opPrel, 0, true, true)
	case rAarch64MovwPrelG1NC:
		return movw(opPrel, 16, false, false)
	case rAarch64MovwPrelG1:
		return movw(opPrel, 16, true, true)
	case rAarch64MovwPrelG2NC:
		return movw(opPrel, 32, false, false)
	case rAarch64MovwPrelG2:
		return movw(opPrel, 32, true, true)
	case rAarch64MovwPrelG3:
		return movw(opPrel, 48, true, false)
	case rAarch64LdPrelLo19:
		return imm(opPrel, 2, 19, imm19, true)
	case rAarch64AdrPrelLo21:
		return imm(opPrel, 0, 21, immADR, true)
	case rAarch64AdrPrelPgHi21NC, rAarch64AdrPrelPgHi21:
		// Only an overflow is reported; a veneer that cannot be had is a silent ENOEXEC.
		return val, typ == rAarch64AdrPrelPgHi21, h.relocInsnAdrp(c, info, field, loc, val)
	case rAarch64AddAbsLo12NC, rAarch64Ldst8AbsLo12NC:
		return imm(opAbs, 0, 12, imm12, false)
	case rAarch64Ldst16AbsLo12NC:
		return imm(opAbs, 1, 11, imm12, false)
	case rAarch64Ldst32AbsLo12NC:
		return imm(opAbs, 2, 10, imm12, false)
	case rAarch64Ldst64AbsLo12NC:
		return imm(opAbs, 3, 9, imm12, false)
	case rAarch64Ldst128AbsLo12NC:
		return imm(opAbs, 4, 8, imm12, false)
	case rAarch64Tstbr14:
		return imm(opPrel, 2, 14, imm14, true)
	case rAarch64Condbr19:
		return imm(opPrel, 2, 19, imm19, true)
	case rAarch64Jump26, rAarch64Call26:
		e := relocInsnImm(opPrel, field, loc, val, 2, 26, imm26)
		if e == errRange && h.emitPLTs {
			if val = h.moduleEmitPltEntry(c, info, loc, val); val == 0 {
				return val, true, unix.ENOEXEC
			}
			e = relocInsnImm(opPrel, field, loc, val, 2, 26, imm26)
		}
		return val, true, e
	}
	c.log(LevelErr, "%smodule %s: unsupported RELA relocation: %d", h.prFmt, mod.Name, typ)
	return val, true, unix.ENOEXEC
}

// moduleFinalize mirrors arm64's module_finalize: alternatives and dynamic shadow
// call stack patching (assumed to succeed: 7.2 can refuse a module whose patching
// fails, which needs the CPU's features), then module_init_ftrace_plt, which refuses
// a module without its ftrace trampoline sections, silently (-ENOEXEC).
func (h *arm64Hooks) moduleFinalize(c *call, info *loadInfo, mod *module) unix.Errno {
	const fn = "module_finalize"
	if !h.ftrace {
		return 0
	}
	names := []string{".text.ftrace_trampoline"}
	if h.initTrampoline {
		names = append(names, ".init.text.ftrace_trampoline")
	}
	for _, n := range names {
		if info.findSecAny(n) == 0 {
			return c.step(fn, unix.ENOEXEC, "module_init_ftrace_plt: no %s section", n)
		}
	}
	return 0
}

// findSecAny is find_section (asm/module.h): the first section of that name, whatever
// its flags (find_sec of kernel/module/main.c wants SHF_ALLOC); 0 when none.
func (info *loadInfo) findSecAny(name string) int {
	for i := range info.sechdrs {
		if info.secName(i) == name {
			return i
		}
	}
	return 0
}

// sample records the first relocation of each type, and the one that failed, for
// explanations.
func (h *arm64Hooks) sample(c *call, info *loadInfo, relsec int, r rela, loc, val uint64, field []byte, e unix.Errno, check bool) {
	name := Arm64RelocName(r.typ())
	failed := e == unix.ENOEXEC || check && e == errRange
	for _, s := range c.res.RelocSamples {
		if s.Type == name && !failed {
			return
		}
	}
	sym := info.syms[r.sym()]
	s := RelocSample{Type: name, Section: info.secName(int(info.sechdrs[relsec].info)), Offset: r.offset, Loc: loc,
		Symbol: info.symName(sym), SymVal: sym.value, Addend: int64(r.addend), Value: val, Size: len(field), Failed: failed}
	if s.Symbol == "" && sym.info&0xf == 3 && int(sym.shndx) < len(info.sechdrs) { // STT_SECTION
		s.Symbol = info.secName(int(sym.shndx))
	}
	n := strings.TrimPrefix(name, "R_AARCH64_")
	s.PCRel = strings.Contains(n, "PREL") || strings.Contains(n, "26") || strings.Contains(n, "BR") || strings.Contains(n, "PG_HI21")
	switch {
	case e == unix.ENOEXEC:
		s.Overflow = "refused: apply_relocate_add fails (ENOEXEC)"
	case e == errRange && check:
		s.Overflow = "does not fit: overflow"
	case e == errRange:
		s.Overflow = "does not fit, but this type is not checked (_NC or 64-bit)"
	default:
		s.Overflow = "fits: ok"
	}
	if !failed {
		s.Written = append([]byte(nil), field...)
	}
	c.res.RelocSamples = append(c.res.RelocSamples, s)
}
