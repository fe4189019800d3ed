package load

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
)

const (
	kernelSymbolSize = 12 // struct kernel_symbol with PREL32 offsets (x86_64)
	kernelParamSize  = 40 // struct kernel_param on x86_64
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
	mod.params = make([]*kparam, count("__param", kernelParamSize))
	mod.syms = make([]export, count("__ksymtab", kernelSymbolSize))
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
		mod.gplSyms = make([]export, count("__ksymtab_gpl", kernelSymbolSize))
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

// readExports decodes struct kernel_symbol entries: value, name and namespace are
// s32 offsets relative to their own field.
func (c *call) readExports(info *loadInfo, tab, crcTab string, out []export) {
	i := info.findSec(tab)
	if i == 0 {
		return
	}
	base := info.sechdrs[i].addr
	crcBase := info.sechdrs[info.findSec(crcTab)].addr
	mem := info.mem
	rel := func(addr uint64) uint64 { return addr + uint64(int64(int32(mem.u32(addr)))) }
	for j := range out {
		e := base + uint64(j)*kernelSymbolSize
		out[j].addr = rel(e)
		out[j].name, _ = mem.cstring(rel(e + 4))
		if mem.u32(e+8) != 0 {
			out[j].namespace, _ = mem.cstring(rel(e + 8))
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

// readParams decodes struct kernel_param { name, mod, ops, perm, level, flags, arg }.
func (c *call) readParams(info *loadInfo, mod *module) {
	i := info.findSec("__param")
	if i == 0 {
		return
	}
	base := info.sechdrs[i].addr
	mem := info.mem
	for j := range mod.params {
		e := base + uint64(j)*kernelParamSize
		kp := &kparam{}
		kp.name, _ = mem.cstring(mem.u64(e))
		kp.ops = c.m.kernelSymbolAt(mem.u64(e + 16))
		if b := mem.at(e+24, 4); b != nil {
			kp.perm, kp.level, kp.flags = binary.LittleEndian.Uint16(b), int8(b[2]), b[3]
		}
		kp.arg = mem.u64(e + 32)
		switch kp.ops {
		case "param_array_ops":
			kp.arrMax, kp.arrElemSize = mem.u32(kp.arg), mem.u32(kp.arg+4)
			kp.arrOps = c.m.kernelSymbolAt(mem.u64(kp.arg + 16))
		case "param_ops_string":
			kp.strMaxlen = mem.u32(kp.arg)
		}
		mod.params[j] = kp
	}
}

// readInitExit finds whether struct module's init and exit pointers are set: modpost's
// .mod.c initialises them with init_module and cleanup_module, the aliases that
// module_init()/module_exit() create, through relocations against this_module.
func (c *call) readInitExit(info *loadInfo, mod *module) {
	for i, s := range info.sechdrs {
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
		_ = i
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
					a = syntheticKernelAddr(ti, i)
				}
				if _, dup := m.kaddr[a]; !dup {
					m.kaddr[a] = s.Name
				}
			}
		}
	}
	return m.kaddr[addr]
}
