package load

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
)

// findModuleSections mirrors find_module_sections for what the model needs: __param,
// __ksymtab/__kcrctab, __ksymtab_gpl/__kcrctab_gpl (each found with find_sec, i.e. only
// SHF_ALLOC sections), the .ctors/.init_array conflict (CONFIG_CONSTRUCTORS) and the
// __obsparm warning. Table contents are read after relocation (moduleTables).
func (c *call) findModuleSections(info *loadInfo, mod *module) unix.Errno {
	const fn = "find_module_sections"
	count := func(name string, size uint64) int {
		return int(info.sechdrs[info.findSec(name)].size / size)
	}
	st := &c.m.st
	mod.params = make([]*kparam, count("__param", st.KernelParam.Size))
	mod.syms = make([]export, count("__ksymtab", st.KernelSymbol.Size))
	mod.hasCRCs = info.findSec("__kcrctab") != 0
	if c.m.Has(KFlagstab) {
		// One __ksymtab; __kflagstab marks the GPL-only exports (split off in
		// moduleTables, once the flags are readable).
		mod.hasFlags = info.findSec("__kflagstab") != 0
		if info.findSec("__ksymtab_gpl") != 0 {
			c.log(LevelWarn, "%s: ignoring obsolete section __ksymtab_gpl", mod.Name)
		}
		if info.findSec("__kcrctab_gpl") != 0 {
			c.log(LevelWarn, "%s: ignoring obsolete section __kcrctab_gpl", mod.Name)
		}
	} else {
		mod.gplSyms = make([]export, count("__ksymtab_gpl", st.KernelSymbol.Size))
		mod.hasGPLCRCs = info.findSec("__kcrctab_gpl") != 0
	}
	if c.m.K.Config.Constructors() && info.findSec(".ctors") != 0 && info.findSec(".init_array") != 0 {
		c.log(LevelWarn, "%s: has both .ctors and .init_array.", mod.Name)
		return c.step(fn, unix.EINVAL, "both .ctors and .init_array")
	}
	if info.findSec("__obsparm") != 0 {
		c.log(LevelWarn, "%s: Ignoring obsolete parameters", mod.Name)
	}
	c.step(fn, 0, "%d exports, %d GPL-only exports, %d parameters", len(mod.syms), len(mod.gplSyms), len(mod.params))
	return 0
}

// moduleTables reads the relocated export tables, parameters and struct module
// pointers from module memory, as the kernel's code later dereferences them.
func (c *call) moduleTables(info *loadInfo, mod *module) {
	c.readExports(info, "__ksymtab", "__kcrctab", mod.syms)
	if c.m.Has(KFlagstab) {
		c.splitByFlags(info, mod)
	} else {
		c.readExports(info, "__ksymtab_gpl", "__kcrctab_gpl", mod.gplSyms)
	}
	c.readParams(info, mod)
	c.readInitExit(info, mod)
}

// readExports decodes struct kernel_symbol entries: value, name and namespace are s32
// offsets relative to their own field on x86_64 (PREL32), else pointers.
func (c *call) readExports(info *loadInfo, tab, crcTab string, out []export) {
	i := info.findSec(tab)
	if i == 0 {
		return
	}
	base := info.sechdrs[i].addr
	crcBase := info.sechdrs[info.findSec(crcTab)].addr
	mem := info.mem
	l := c.m.st.KernelSymbol
	// field returns what the field at addr points to, and whether it is set.
	field := func(addr uint64) (uint64, bool) {
		if l.Field == 8 {
			p := mem.u64(addr)
			return p, p != 0
		}
		rel := int32(mem.u32(addr))
		return addr + uint64(int64(rel)), rel != 0
	}
	for j := range out {
		e := base + uint64(j)*l.Size
		out[j].addr, _ = field(e + l.Value)
		name, _ := field(e + l.Name)
		out[j].name, _ = mem.cstring(name)
		if ns, ok := field(e + l.Namespace); ok {
			out[j].namespace, _ = mem.cstring(ns)
		}
		if crcBase != 0 {
			out[j].crc = mem.u32(crcBase + uint64(j)*4)
		}
	}
}

// ksymFlagGPLOnly is KSYM_FLAG_GPL_ONLY, bit 0 of an export's __kflagstab byte.
const ksymFlagGPLOnly = 1 << 0

// splitByFlags reads __kflagstab, one byte per __ksymtab entry, and moves the GPL-only
// exports to gplSyms: find_symbol then treats them as the older kernels' GPL table did
// (found only by GPL-compatible modules), and the CRC stays with each export.
func (c *call) splitByFlags(info *loadInfo, mod *module) {
	i := info.findSec("__kflagstab")
	if i == 0 {
		return
	}
	base := info.sechdrs[i].addr
	var plain, gpl []export
	for j, e := range mod.syms {
		if b := info.mem.at(base+uint64(j), 1); b != nil && b[0]&ksymFlagGPLOnly != 0 {
			gpl = append(gpl, e)
		} else {
			plain = append(plain, e)
		}
	}
	mod.syms, mod.gplSyms = plain, gpl
	mod.hasGPLCRCs = mod.hasCRCs
}

// readParams decodes struct kernel_param { name, mod, ops, perm, level, flags, arg }, and
// the struct kparam_array or kparam_string that arg points to for arrays and strings.
func (c *call) readParams(info *loadInfo, mod *module) {
	i := info.findSec("__param")
	if i == 0 {
		return
	}
	base := info.sechdrs[i].addr
	mem := info.mem
	l, arr, str := c.m.st.KernelParam, c.m.st.KparamArray, c.m.st.KparamString
	for j := range mod.params {
		e := base + uint64(j)*l.Size
		kp := &kparam{}
		kp.name, _ = mem.cstring(mem.u64(e + l.Name))
		kp.ops = c.m.kernelSymbolAt(mem.u64(e + l.Ops))
		if b := mem.at(e+l.Perm, 2); b != nil {
			kp.perm = binary.LittleEndian.Uint16(b)
		}
		if b := mem.at(e+l.Level, 1); b != nil {
			kp.level = int8(b[0])
		}
		if b := mem.at(e+l.Flags, 1); b != nil {
			kp.flags = b[0]
		}
		kp.arg = mem.u64(e + l.Arg)
		switch kp.ops {
		case "param_array_ops":
			kp.arrMax, kp.arrElemSize = mem.u32(kp.arg+arr.Max), mem.u32(kp.arg+arr.ElemSize)
			kp.arrOps = c.m.kernelSymbolAt(mem.u64(kp.arg + arr.Ops))
		case "param_ops_string":
			kp.strMaxlen = mem.u32(kp.arg + str.MaxLen)
		}
		mod.params[j] = kp
	}
}

// readInitExit finds whether struct module's init and exit pointers are set, as
// do_init_module and delete_module test them: modpost's .mod.c initialises them with
// init_module and cleanup_module, the aliases that module_init()/module_exit() create,
// through relocations against this_module. With the kernel's offsets of init and exit
// (kernel.Structs) the relocated pointers are read; without them, the relocations'
// symbols are named instead.
func (c *call) readInitExit(info *loadInfo, mod *module) {
	if l := c.m.st.Module; l.InitExit {
		base := info.sechdrs[info.index.mod].addr
		mod.hasInit = info.mem.u64(base+l.Init) != 0
		mod.hasExit = !l.NoExit && info.mem.u64(base+l.Exit) != 0
		return
	}
	for _, s := range info.sechdrs {
		if s.typ != shtRela || int(s.info) != info.index.mod {
			continue
		}
		n := s.size / relaSize
		for k := uint64(0); k < n; k++ {
			off := s.offset + k*relaSize
			if off+relaSize > uint64(len(info.hdr)) {
				break
			}
			sym := u64(info.hdr, off+8) >> 32
			if sym >= uint64(len(info.syms)) {
				continue
			}
			switch info.symName(info.syms[sym]) {
			case "init_module":
				mod.hasInit = true
			case "cleanup_module":
				mod.hasExit = true
			}
		}
	}
}

// kernelSymbolAt names the vmlinux export at addr (param_ops_int...), "" if none.
func (m *Model) kernelSymbolAt(addr uint64) string {
	if m.kaddr == nil {
		m.kaddr = map[uint64]string{}
		for ti, t := range [][]kernel.Symbol{m.K.Ksymtab, m.K.KsymtabGPL} {
			for i, s := range t {
				a := s.Addr
				if a == 0 {
					a = syntheticKernelAddr(m.space.kernelText, ti, i)
				}
				if _, dup := m.kaddr[a]; !dup {
					m.kaddr[a] = s.Name
				}
			}
		}
	}
	return m.kaddr[addr]
}
