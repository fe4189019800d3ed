package load

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

const pageSize = 4096

// Memory regions. 6.12 uses enum mod_mem_type (these values); 6.1 uses only
// RegionCore (core_layout, which on x86 is also data_layout) and RegionInit.
const (
	MemText = iota
	MemData
	MemRodata
	MemRoAfterInit
	MemInitText
	MemInitData
	MemInitRodata
	NumMemTypes

	RegionCore = MemText
	RegionInit = MemInitText
)

var memTypeNames = [NumMemTypes]string{"MOD_TEXT", "MOD_DATA", "MOD_RODATA", "MOD_RO_AFTER_INIT", "MOD_INIT_TEXT", "MOD_INIT_DATA", "MOD_INIT_RODATA"}

// RegionName names a region as the kernel version does: "core"/"init" (6.1's
// core_layout/init_layout) or the mod_mem_type (6.12).
func (l *Layout) RegionName(r int) string {
	if !l.ModuleMemory {
		if r == RegionInit {
			return "init"
		}
		return "core"
	}
	return memTypeNames[r]
}

func isInitType(t int) bool { return t == MemInitText || t == MemInitData || t == MemInitRodata }

// Layout is the result of layout_sections, layout_symtab and move_module.
type Layout struct {
	// ModuleMemory is true from 6.4 on (changes.go: ModuleMemory): the mod->mem[] types;
	// before it, RegionCore and RegionInit are core_layout and init_layout.
	ModuleMemory bool
	// Size is the size of each region after move_module: on 6.1 Size[RegionCore] is
	// core_layout.size and Size[RegionInit] init_layout.size; on 6.12 each mod->mem[type].
	Size [NumMemTypes]uint32
	// Base is each region's (model) address; 0 when not allocated.
	Base [NumMemTypes]uint64
	// Sections lists where every SHF_ALLOC section went, in placement order.
	Sections []Placement
	// CoreSymbols and CoreStrtab are layout_symtab's ndst and strtab_size; AllSymbols
	// is nsrc.
	CoreSymbols, CoreStrtab, AllSymbols uint32
	// Detail is what explanations draw besides the placements (detail.go).
	Detail LayoutDetail
	live   bool
}

// Placement is one section's place in module memory.
type Placement struct {
	Index  int
	Name   string
	Region int
	Offset uint32
	Size   uint64
}

func (p Placement) String() string {
	return fmt.Sprintf("[%d] %s -> %s+%#x (%#x)", p.Index, p.Name, memTypeNames[p.Region], p.Offset, p.Size)
}

// CoreSize is /sys/module/NAME/coresize: 6.1 core_layout.size; 6.12 MOD_TEXT plus the
// core data types (x86 keeps data in the same allocator).
func (l *Layout) CoreSize() uint32 {
	if !l.ModuleMemory {
		return l.Size[RegionCore]
	}
	return l.Size[MemText] + l.Size[MemData] + l.Size[MemRodata] + l.Size[MemRoAfterInit]
}

// InitSize is the size of the init regions: /sys/module/NAME/initsize while the module
// is COMING (do_init_module zeroes it once LIVE; ModuleState shows that).
func (l *Layout) InitSize() uint32 {
	if !l.ModuleMemory {
		return l.Size[RegionInit]
	}
	return l.Size[MemInitText] + l.Size[MemInitData] + l.Size[MemInitRodata]
}

// TotalSize is the /proc/modules size column while COMING: core plus init.
func (l *Layout) TotalSize() uint32 { return l.CoreSize() + l.InitSize() }

// String lists the regions and placements.
func (l *Layout) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "coresize %d initsize %d\n", l.CoreSize(), l.InitSize())
	for _, p := range l.Sections {
		fmt.Fprintf(&b, "  %v\n", p)
	}
	return b.String()
}

// align is ALIGN(x, a) with the kernel's power-of-two formula, applied even to
// non-power-of-two alignments, on 32-bit sizes as the kernel's unsigned int fields.
func align(x uint32, a uint64) uint32 {
	if a == 0 {
		a = 1
	}
	m := uint32(a) - 1
	return (x + m) &^ m
}

func pageAlign(x uint32) uint32 { return align(x, pageSize) }

// moduleInitLayoutSection mirrors module_init_layout_section: ".init*" sections, and
// ".exit*" when the kernel cannot unload modules.
func (c *call) moduleInitLayoutSection(name string) bool {
	if !c.m.K.Config.ModuleUnload() && strings.HasPrefix(name, ".exit") {
		return true
	}
	return strings.HasPrefix(name, ".init")
}

// layoutMasks are layout_sections' {required, forbidden} flag pairs (ARCH_SHF_SMALL is
// 0 on x86).
var layoutMasks = [5][2]uint64{
	{shfExecinstr | shfAlloc, 0},
	{shfAlloc, shfWrite},
	{shfRoAfterInit | shfAlloc, 0},
	{shfWrite | shfAlloc, 0},
	{shfAlloc, 0},
}

// placement per section index: region and offset; -1 region = not laid out (sh_entsize
// ~0UL in the kernel).
type placed struct {
	region int
	offset uint32
}

// layoutState is what layout_sections/layout_symtab compute on info->sechdrs.
type layoutState struct {
	l     *Layout
	place []placed
}

// getOffset mirrors module_get_offset / module_get_offset_and_type.
func (st *layoutState) getOffset(info *loadInfo, region, i int) uint32 {
	s := info.sechdrs[i]
	off := align(st.l.Size[region], s.addralign)
	st.l.Size[region] = off + uint32(s.size)
	st.place[i] = placed{region, off}
	st.l.Sections = append(st.l.Sections, Placement{Index: i, Name: info.secName(i), Region: region, Offset: off, Size: s.size})
	return off
}

// layoutCandidate tells whether section i fits pass m on the core or init side.
func (c *call) layoutCandidate(info *loadInfo, st *layoutState, m, i int, init bool) bool {
	s := info.sechdrs[i]
	return s.flags&layoutMasks[m][0] == layoutMasks[m][0] && s.flags&layoutMasks[m][1] == 0 &&
		st.place[i].region < 0 && c.moduleInitLayoutSection(info.secName(i)) == init
}

// layoutSections61 mirrors 6.1's layout_sections: one core and one init accumulator,
// page-aligned after the text, rodata, ro_after_init and whole-core passes when
// CONFIG_STRICT_MODULE_RWX (strict_align).
func (c *call) layoutSections61(info *loadInfo, st *layoutState) {
	strict := func(x uint32) uint32 {
		if c.m.K.Config.StrictModuleRWX() {
			return pageAlign(x)
		}
		return x
	}
	l := st.l
	for m := 0; m < len(layoutMasks); m++ {
		for i := range info.sechdrs {
			if c.layoutCandidate(info, st, m, i, false) {
				st.getOffset(info, RegionCore, i)
			}
		}
		if m != 3 {
			l.Size[RegionCore] = strict(l.Size[RegionCore])
		}
		l.mark61(RegionCore, m)
	}
	for m := 0; m < len(layoutMasks); m++ {
		for i := range info.sechdrs {
			if c.layoutCandidate(info, st, m, i, true) {
				st.getOffset(info, RegionInit, i)
			}
		}
		if m == 0 || m == 1 || m == 4 {
			l.Size[RegionInit] = strict(l.Size[RegionInit])
		}
		l.mark61(RegionInit, m)
	}
}

// Pass-to-type maps of 6.12's __layout_sections (-1 = MOD_INVALID).
var (
	coreMemType = [5]int{MemText, MemRodata, MemRoAfterInit, MemData, MemData}
	initMemType = [5]int{MemInitText, MemInitRodata, -1, MemInitData, MemInitData}
)

// layoutSections612 mirrors 6.12's layout_sections: seven independent accumulators,
// no rounding here. An init section marked ro_after_init hits WARN_ON_ONCE and is left
// for the later passes.
func (c *call) layoutSections612(info *loadInfo, st *layoutState) {
	for _, init := range []bool{false, true} {
		for m := 0; m < len(layoutMasks); m++ {
			t := coreMemType[m]
			if init {
				t = initMemType[m]
			}
			for i := range info.sechdrs {
				if !c.layoutCandidate(info, st, m, i, init) {
					continue
				}
				if t < 0 {
					c.warnOnce("layout_sections: ro_after_init in an init section")
					continue
				}
				st.getOffset(info, t, i)
			}
		}
	}
}

// warnOnce models WARN_ON_ONCE: a "WARNING:" splat (not predicted verbatim) and taint W.
func (c *call) warnOnce(site string) {
	if !c.m.once["WARN:"+site] {
		c.m.once["WARN:"+site] = true
		c.uncertain("kernel WARNING at %s: the splat's text is not modelled", site)
	}
	c.addTaint(TaintWarn)
}

// isCoreSymbol mirrors is_core_symbol (kernel/module/kallsyms.c).
func (c *call) isCoreSymbol(info *loadInfo, st *layoutState, name uint32, shndx uint16) bool {
	if shndx == shnUndef || int(shndx) >= len(info.sechdrs) || name == 0 {
		return false
	}
	if c.m.K.Config.KallsymsAll() && int(shndx) == info.index.pcpu {
		return true
	}
	s := info.sechdrs[shndx]
	if s.flags&shfAlloc == 0 || (!c.m.K.Config.KallsymsAll() && s.flags&shfExecinstr == 0) {
		return false
	}
	r := st.place[shndx].region
	return r >= 0 && !c.isInitRegion(r)
}

func (c *call) isInitRegion(r int) bool {
	if !c.m.Has(ModuleMemory) {
		return r == RegionInit
	}
	return isInitType(r)
}

// layoutSymtab mirrors layout_symtab: the full .symtab and .strtab go to init, with
// struct mod_kallsyms and one type byte per symbol; the kept ("core") symbols, their
// names and type bytes go to core data (6.1: its own page under STRICT_MODULE_RWX).
func (c *call) layoutSymtab(info *loadInfo, st *layoutState, livepatch bool) {
	if !c.m.K.Config.Kallsyms() {
		return
	}
	l := st.l
	initData, coreData := MemInitData, MemData
	strict := func(x uint32) uint32 { return x }
	if !c.m.Has(ModuleMemory) {
		initData, coreData = RegionInit, RegionCore
		if c.m.K.Config.StrictModuleRWX() {
			strict = pageAlign
		}
	}
	symsect := &info.sechdrs[info.index.sym]
	symsect.flags |= shfAlloc
	st.getOffset(info, initData, info.index.sym)

	nsrc := uint32(symsect.size / symSize)
	var ndst, strtabSize uint32
	for i := uint32(0); i < nsrc; i++ {
		off := symsect.offset + uint64(i)*symSize
		if off+symSize > uint64(len(info.hdr)) {
			break
		}
		stName, stShndx := u32(info.hdr, off), u16(info.hdr, off+6)
		if i == 0 || livepatch || c.isCoreSymbol(info, st, stName, stShndx) {
			strtabSize += uint32(len(info.cstr(info.strtabOff+uint64(stName)))) + 1
			ndst++
		}
	}
	l.CoreSymbols, l.CoreStrtab, l.AllSymbols = ndst, strtabSize, nsrc
	l.block("kept symbols, names, types (kallsyms)", coreData, symsect.addralign, ndst*symSize+strtabSize+ndst)
	l.Size[coreData] = align(l.Size[coreData], symsect.addralign)
	l.Size[coreData] += ndst*symSize + strtabSize + ndst
	l.Size[coreData] = strict(l.Size[coreData])

	strsect := &info.sechdrs[info.index.str]
	strsect.flags |= shfAlloc
	st.getOffset(info, initData, info.index.str)

	const sizeofModKallsyms = 32 // struct mod_kallsyms: 3 pointers + unsigned int, aligned 8
	l.block("struct mod_kallsyms, symbol types", initData, 8, sizeofModKallsyms+nsrc)
	l.Size[initData] = align(l.Size[initData], 8)
	l.Size[initData] += sizeofModKallsyms + nsrc
	l.Size[initData] = strict(l.Size[initData])
}

// Model address space: where module memory, the temporary image and module per-cpu
// areas are placed. The values only matter for relocation overflow checks (modules and
// the kernel live in the top 2 GiB, per-cpu offsets are small).
const (
	moduleAreaStart   = 0xffffffffc0000000
	tempImageBase     = 0xffffc90000000000 // vmalloc area: where the temporary copy lives
	percpuModuleStart = 0x40000            // after vmlinux's per-cpu section
)

// moveModule mirrors move_module: 6.12 rounds every non-empty type to whole pages and
// keeps the rounded size; 6.1 allocates core and init as laid out. Each ALLOC section
// gets its final address.
func (c *call) moveModule(info *loadInfo, st *layoutState) unix.Errno {
	l := st.l
	for t := 0; t < NumMemTypes; t++ {
		if l.Size[t] == 0 {
			continue
		}
		if c.m.Has(ModuleMemory) {
			l.Size[t] = pageAlign(l.Size[t])
		}
		l.Base[t] = c.m.nextVA
		c.m.nextVA += uint64(pageAlign(l.Size[t])) + pageSize // vmalloc guard page
	}
	for i := range info.sechdrs {
		if info.sechdrs[i].flags&shfAlloc == 0 {
			continue
		}
		p := st.place[i]
		if p.region < 0 {
			continue
		}
		info.sechdrs[i].addr = l.Base[p.region] + uint64(p.offset)
	}
	return 0
}

// layoutAndAllocate mirrors layout_and_allocate after check_modinfo: the W+X check,
// per-cpu and ro_after_init flagging, layout_sections, layout_symtab and move_module.
func (c *call) layoutAndAllocate(info *loadInfo, mod *module) (*Layout, unix.Errno) {
	const fn = "layout_and_allocate"
	if e := c.arch.moduleFrobArchSections(c, info, mod); e != 0 { // module_frob_arch_sections
		return nil, e
	}
	// module_enforce_rwx_sections (strict_rwx.c)
	if c.m.K.Config.StrictModuleRWX() {
		for i := range info.sechdrs {
			if info.sechdrs[i].flags&(shfWrite|shfExecinstr) == shfWrite|shfExecinstr {
				c.log(LevelErr, "%s: section %s (index %d) has invalid WRITE|EXEC flags", mod.Name, info.secName(i), i)
				return nil, c.step("module_enforce_rwx_sections", unix.ENOEXEC, "section %d is writable and executable", i)
			}
		}
	}
	info.sechdrs[info.index.pcpu].flags &^= shfAlloc
	if i := info.findSec(".data..ro_after_init"); i != 0 {
		info.sechdrs[i].flags |= shfRoAfterInit
	}
	if i := info.findSec("__jump_table"); i != 0 {
		info.sechdrs[i].flags |= shfRoAfterInit
	}
	if c.m.Has(StaticCallSitesROAfterInit) && c.m.K.Config.Enabled("HAVE_STATIC_CALL_INLINE") {
		if i := info.findSec(".static_call_sites"); i != 0 {
			info.sechdrs[i].flags |= shfRoAfterInit
		}
	}
	st := &layoutState{l: &Layout{ModuleMemory: c.m.Has(ModuleMemory)}, place: make([]placed, len(info.sechdrs))}
	for i := range st.place {
		st.place[i].region = -1
	}
	if !c.m.Has(ModuleMemory) {
		c.layoutSections61(info, st)
	} else {
		c.layoutSections612(info, st)
	}
	c.layoutSymtab(info, st, mod.livepatch)
	if e := c.moveModule(info, st); e != 0 {
		return nil, e
	}
	info.place = st.place
	c.res.Layout = st.l
	c.step(fn, 0, "coresize %d, initsize %d, %d of %d symbols kept", st.l.CoreSize(), st.l.InitSize(), st.l.CoreSymbols, st.l.AllSymbols)
	return st.l, 0
}
