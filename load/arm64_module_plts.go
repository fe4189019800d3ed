package load

import (
	"math/bits"
	"sort"

	"golang.org/x/sys/unix"
)

// arm64's module-plts.c (arch/arm64/kernel/module-plts.c), as Debian's 6.1.192 and
// 6.12.117 have it (7.2.13's and 7.3's are 6.12's byte for byte). A CALL26/JUMP26
// branch reaches ±128 MiB; a module placed farther from its target branches through a
// PLT entry (adrp x16; add x16; br x16) that module_frob_arch_sections sizes before
// layout_sections, so .plt and .init.plt count in coresize and initsize whether or not
// an entry is ever emitted.

// AArch64 relocation types module-plts.c looks at (ELF for the Arm 64-bit
// Architecture, table "Static AArch64 relocations").
const (
	rAarch64AdrPrelPgHi21   = 275
	rAarch64AdrPrelPgHi21NC = 276
	rAarch64Jump26          = 282
	rAarch64Call26          = 283
)

const (
	pltEntrySize  = 12 // struct plt_entry: adrp, add, br
	pltEntryAlign = 4  // __alignof__(struct plt_entry)
	l1CacheBytes  = 64 // arm64's L1_CACHE_BYTES (L1_CACHE_SHIFT 6)
	sz4K          = 4096
)

// modPltSec is struct mod_plt_sec: which section holds the PLT and how full it is.
type modPltSec struct {
	shndx      int
	numEntries int
	maxEntries int
}

// cmpRela is cmp_rela: by type, then symbol index, then addend (signed).
func cmpRela(x, y rela) int {
	switch {
	case x.typ() != y.typ():
		return cmp3(x.typ() < y.typ())
	case x.sym() != y.sym():
		return cmp3(x.sym() < y.sym())
	case x.addend != y.addend:
		return cmp3(int64(x.addend) < int64(y.addend))
	}
	return 0
}

func cmp3(less bool) int {
	if less {
		return -1
	}
	return 1
}

// duplicateRel is duplicate_rel: after sorting, a duplicate is in the preceding slot.
func duplicateRel(r []rela, num int) bool {
	return num > 0 && cmpRela(r[num], r[num-1]) == 0
}

// arm64PLTCounting says which 6.1-era conditions module-plts.c still has: before
// Arm64PLTsAlways, branches are counted (and partitioned) only with
// CONFIG_RANDOMIZE_BASE, and the erratum's paths also need CONFIG_ARM64_ERRATUM_843419.
type arm64PLTCounting struct {
	branches bool // CALL26/JUMP26 need PLT slots
	erratum  bool // cpus_have_final_cap(ARM64_WORKAROUND_843419)
}

// countPlts mirrors count_plts for the relocations r of one section targeting
// section dstidx; it may raise that section's alignment (erratum 843419).
func (a arm64PLTCounting) countPlts(info *loadInfo, syms []elfSym, r []rela, dstidx int) int {
	ret := 0
	dst := &info.sechdrs[dstidx]
	for i := range r {
		switch r[i].typ() {
		case rAarch64Jump26, rAarch64Call26:
			if !a.branches {
				break
			}
			// Branches to a symbol of the same section never need a PLT.
			if s := r[i].sym(); s < uint64(len(syms)) && int(syms[s].shndx) == dstidx {
				break
			}
			// Only zero addends are deduplicated (after the sort, against the slot before).
			if r[i].addend != 0 || !duplicateRel(r, i) {
				ret++
			}
		case rAarch64AdrPrelPgHi21NC, rAarch64AdrPrelPgHi21:
			if !a.erratum {
				break
			}
			// 2 << ffz(r_offset | 7): the alignment at which this ADRP cannot land on a
			// 0xff8/0xffc offset; beyond a page it needs a veneer slot instead.
			minAlign := uint64(2) << bits.TrailingZeros64(^(r[i].offset | 7))
			if minAlign > sz4K {
				ret++
			} else {
				dst.addralign = max(dst.addralign, minAlign)
			}
		}
	}
	if a.erratum {
		// Slack to skip PLT slots that would themselves trigger the erratum.
		ret += (ret + sz4K/pltEntrySize - 1) / (sz4K / pltEntrySize)
	}
	return ret
}

// branchRelaNeedsPlt is branch_rela_needs_plt.
func branchRelaNeedsPlt(syms []elfSym, r rela, dstidx int) bool {
	if s := r.sym(); s < uint64(len(syms)) && int(syms[s].shndx) == dstidx {
		return false
	}
	return r.typ() == rAarch64Jump26 || r.typ() == rAarch64Call26
}

// partitionBranchPltRelas is partition_branch_plt_relas, swaps and all: it returns
// i when the two ends meet, so the slot where they met is left out of the sort even
// when it needs a PLT (the kernel's own off-by-one, which the counts inherit).
func partitionBranchPltRelas(syms []elfSym, r []rela, dstidx int) int {
	i, j := 0, len(r)-1
	for i < j {
		switch {
		case branchRelaNeedsPlt(syms, r[i], dstidx):
			i++
		case branchRelaNeedsPlt(syms, r[j], dstidx):
			r[i], r[j] = r[j], r[i]
		default:
			j--
		}
	}
	return i
}

// moduleFrobArchSections mirrors arm64's module_frob_arch_sections: find .plt,
// .init.plt and the ftrace trampolines, sort each executable section's branch
// relocations, count the PLT slots, and turn the PLT and trampoline sections into
// NOBITS executable sections of the counted size. The sorted relocations are kept:
// the kernel sorts them in place, so apply_relocate_add sees them in that order.
func (h *arm64Hooks) moduleFrobArchSections(c *call, info *loadInfo, mod *module) unix.Errno {
	const fn = "module_frob_arch_sections"
	var symtab = -1
	tramp, initTramp := -1, -1
	for i := range info.sechdrs {
		switch name := info.secName(i); {
		case name == ".plt":
			h.core.shndx = i
		case name == ".init.plt":
			h.init.shndx = i
		case name == ".text.ftrace_trampoline":
			tramp = i
		case name == ".init.text.ftrace_trampoline" && h.initTrampoline:
			initTramp = i
		case info.sechdrs[i].typ == shtSymtab:
			symtab = i
		}
	}
	if h.core.shndx == 0 || h.init.shndx == 0 {
		c.log(LevelErr, "%s: module PLT section(s) missing", mod.Name)
		return c.step(fn, unix.ENOEXEC, "no .plt or .init.plt section (the module was not linked with arm64's module.lds)")
	}
	if symtab < 0 {
		c.log(LevelErr, "%s: module symtab section missing", mod.Name)
		return c.step(fn, unix.ENOEXEC, "no SHT_SYMTAB section")
	}
	syms := readSyms(info, symtab)
	count := arm64PLTCounting{branches: h.pltBranches, erratum: h.erratum}
	var corePlts, initPlts int
	for i := range info.sechdrs {
		s := info.sechdrs[i]
		if s.typ != shtRela || int(s.info) >= len(info.sechdrs) {
			continue
		}
		dst := int(s.info)
		if info.sechdrs[dst].flags&shfExecinstr == 0 {
			continue
		}
		r := readRelas(info, i)
		if h.pltBranches {
			if n := partitionBranchPltRelas(syms, r, dst); n > 0 {
				sortRelas(r[:n])
			}
		}
		h.sorted[i] = r
		n := count.countPlts(info, syms, r, dst)
		if !c.moduleInitLayoutSection(info.secName(dst)) {
			corePlts += n
		} else {
			initPlts += n
		}
	}
	for _, p := range []struct {
		sec *modPltSec
		n   int
	}{{&h.core, corePlts}, {&h.init, initPlts}} {
		s := &info.sechdrs[p.sec.shndx]
		s.typ, s.flags, s.addralign = shtNobits, shfExecinstr|shfAlloc, l1CacheBytes
		s.size = uint64(p.n+1) * pltEntrySize
		p.sec.numEntries, p.sec.maxEntries = 0, p.n
	}
	for _, t := range []int{tramp, initTramp} {
		if t < 0 {
			continue
		}
		s := &info.sechdrs[t]
		s.typ, s.flags, s.addralign = shtNobits, shfExecinstr|shfAlloc, pltEntryAlign
		s.size = uint64(h.nrFtracePlts) * pltEntrySize
	}
	c.res.PLT = &PLTCount{Core: corePlts, Init: initPlts, Erratum843419: h.erratum, KASLR: h.kaslr}
	return c.step(fn, 0, "%d core and %d init PLT entries reserved (.plt %d bytes, .init.plt %d bytes)",
		corePlts, initPlts, (corePlts+1)*pltEntrySize, (initPlts+1)*pltEntrySize)
}

// sortRelas is sort(rels, nents, sizeof(Elf64_Rela), cmp_rela, NULL). The kernel's
// sort() is a heapsort: entries that compare equal may end in another order than
// here, which changes neither the counts nor any relocation's outcome (they have the
// same type, symbol and addend, so the same S + A).
func sortRelas(r []rela) {
	sort.SliceStable(r, func(a, b int) bool { return cmpRela(r[a], r[b]) < 0 })
}

// readSyms reads symbol table section i as it is in the image (before
// simplify_symbols): module_frob_arch_sections only looks at st_shndx.
func readSyms(info *loadInfo, i int) []elfSym {
	s := info.sechdrs[i]
	var out []elfSym
	for off := s.offset; off+symSize <= s.offset+s.size && off+symSize <= uint64(len(info.hdr)); off += symSize {
		out = append(out, elfSym{name: u32(info.hdr, off), info: info.hdr[off+4], shndx: u16(info.hdr, off+6),
			value: u64(info.hdr, off+8), size: u64(info.hdr, off+16)})
	}
	return out
}

// pltSec is the PLT a relocation at loc uses: init's when loc is in init memory
// (within_module_init; 6.1's in_init), else core's.
func (h *arm64Hooks) pltSec(c *call, info *loadInfo, loc uint64) *modPltSec {
	if l := c.res.Layout; l != nil {
		for r := 0; r < NumMemTypes; r++ {
			if c.isInitRegion(r) && l.Base[r] != 0 && loc >= l.Base[r] && loc < l.Base[r]+uint64(l.Size[r]) {
				return &h.init
			}
		}
	}
	return &h.core
}

// moduleEmitPltEntry mirrors module_emit_plt_entry: a new entry for S + A, unless it
// equals the last one emitted (the sort put duplicates side by side). It returns the
// entry's address, 0 when the section is full (the kernel's WARN_ON).
func (h *arm64Hooks) moduleEmitPltEntry(c *call, info *loadInfo, loc, val uint64) uint64 {
	p := h.pltSec(c, info, loc)
	base := info.sechdrs[p.shndx].addr
	i, j := p.numEntries, p.numEntries-1
	if h.isForbiddenOffsetForAdrp(base + uint64(i)*pltEntrySize) {
		i++
	}
	// plt_entries_equal, by target: adrp+add of x16 to the same S + A branch alike.
	if j >= 0 && j < len(h.pltTargets[p]) && h.pltTargets[p][j] == (pltSlot{target: val}) {
		return base + uint64(j)*pltEntrySize
	}
	p.numEntries += i - j
	if p.numEntries > p.maxEntries {
		c.warnOnce("module_emit_plt_entry: plt_num_entries > plt_max_entries")
		return 0
	}
	if c.res.PLT != nil {
		c.res.PLT.Emitted++
	}
	h.setTarget(p, i, pltSlot{target: val})
	return base + uint64(i)*pltEntrySize
}

// moduleEmitVeneerForAdrp mirrors module_emit_veneer_for_adrp (erratum 843419): a PLT
// slot that computes the page address and branches back after the ADRP.
func (h *arm64Hooks) moduleEmitVeneerForAdrp(c *call, info *loadInfo, loc, val uint64) uint64 {
	p := h.pltSec(c, info, loc)
	base := info.sechdrs[p.shndx].addr
	i := p.numEntries
	p.numEntries++
	if p.numEntries > p.maxEntries {
		c.warnOnce("module_emit_veneer_for_adrp: plt_num_entries > plt_max_entries")
		return 0
	}
	if h.isForbiddenOffsetForAdrp(base + uint64(i)*pltEntrySize) {
		i = p.numEntries
		p.numEntries++
	}
	if c.res.PLT != nil {
		c.res.PLT.Emitted++
	}
	h.setTarget(p, i, pltSlot{target: val, veneer: true})
	return base + uint64(i)*pltEntrySize
}

// setTarget records what slot i of p now holds (a skipped slot holds nothing).
func (h *arm64Hooks) setTarget(p *modPltSec, i int, slot pltSlot) {
	t := h.pltTargets[p]
	for len(t) <= i {
		t = append(t, pltSlot{veneer: true})
	}
	t[i] = slot
	h.pltTargets[p] = t
}

// isForbiddenOffsetForAdrp is is_forbidden_offset_for_adrp (asm/module.h): with the
// erratum, an ADRP must not sit at a page offset of 0xff8 or 0xffc.
func (h *arm64Hooks) isForbiddenOffsetForAdrp(place uint64) bool {
	return h.erratum && place&0xfff >= 0xff8
}
