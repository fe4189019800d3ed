package kernel

import (
	"fmt"
	"strings"
)

// Structs are the layouts of the kernel structures gokmod reads in a module image and
// in vmlinux: their sizes and the offsets of the members it reads, each with where it
// came from. Load takes them from the kernel's BTF (vmlinux's .BTF section, or the
// running kernel's /sys/kernel/btf/vmlinux) where it has one; without BTF, sizeof(struct
// module) and its init and exit offsets come from an in-tree module's
// .gnu.linkonce.this_module, and the rest are the x86_64 ABI's values (DefaultStructs),
// which do not depend on the configuration.
type Structs struct {
	Module         ModuleLayout
	KernelParam    KernelParamLayout
	KernelSymbol   KernelSymbolLayout
	ModversionInfo ModversionInfoLayout
	KparamArray    KparamArrayLayout
	KparamString   KparamStringLayout
	// ModuleVersionAttribute is what a built-in module's MODULE_VERSION puts in
	// vmlinux's __modver.
	ModuleVersionAttribute ModuleVersionAttributeLayout

	btf   bool     // filled from BTF
	noBTF []string // why each BTF source tried could not be used
}

// ModuleLayout is struct module (include/linux/module.h), whose image a module carries
// in .gnu.linkonce.this_module.
type ModuleLayout struct {
	// Size is sizeof(struct module), which elf_validity_cache_index_mod (6.13, 6.12.117)
	// checks the section's size against; 0 when unknown, and then SizeErr says why.
	Size    uint64
	SizeErr error
	// Name is offsetof(name), which setup_load_info reads when .modinfo has no name=;
	// NameLen is its size, MODULE_NAME_LEN.
	Name, NameLen uint64
	// Init and Exit are offsetof(init) and offsetof(exit), which modpost's .mod.c
	// points at init_module and cleanup_module; valid only when InitExit is true.
	// NoExit says struct module has no exit (a kernel without CONFIG_MODULE_UNLOAD).
	Init, Exit uint64
	InitExit   bool
	NoExit     bool
	From       string
}

// KernelParamLayout is struct kernel_param (include/linux/moduleparam.h), the entries
// of __param.
type KernelParamLayout struct {
	Size                               uint64
	Name, Ops, Perm, Level, Flags, Arg uint64 // offsets
	From                               string
}

// KernelSymbolLayout is struct kernel_symbol, the entries of __ksymtab*.
type KernelSymbolLayout struct {
	Size                   uint64
	Value, Name, Namespace uint64 // offsets
	// Field is the size of each field: 4 for the s32 self-relative offsets of
	// CONFIG_HAVE_ARCH_PREL32_RELOCATIONS (x86_64), 8 for absolute pointers.
	Field uint64
	From  string
}

// ModversionInfoLayout is struct modversion_info, the entries of __versions.
type ModversionInfoLayout struct {
	Size          uint64
	CRC           uint64 // offset of the CRC (unsigned long)
	Name, NameLen uint64 // offset and size of the name
	From          string
}

// KparamArrayLayout is struct kparam_array, what a module_param_array's arg points to.
type KparamArrayLayout struct {
	Max, ElemSize, Ops uint64 // offsets
	From               string
}

// KparamStringLayout is struct kparam_string, what a module_param_string's arg points to.
type KparamStringLayout struct {
	MaxLen uint64 // offset
	From   string
}

// ModuleVersionAttributeLayout is struct module_version_attribute.
type ModuleVersionAttributeLayout struct {
	Size       uint64
	ModuleName uint64 // offset of the module_name pointer
	From       string
}

// abiDefault is the origin of DefaultStructs' values.
const abiDefault = "the x86_64 ABI's default"

// DefaultStructs returns the layouts every x86_64 kernel gokmod models has (LP64,
// PREL32 export tables, since 5.4's symbol namespaces): the ones that do not depend on
// the configuration. sizeof(struct module) and its init and exit offsets do, and are
// unknown here.
func DefaultStructs() Structs {
	return Structs{
		// enum module_state state (padded to 8), struct list_head list, char name[64 - 8].
		Module: ModuleLayout{Name: 24, NameLen: 56, From: abiDefault,
			SizeErr: fmt.Errorf("neither BTF nor an in-tree module gives it")},
		// name, mod, ops, u16 perm, s8 level, u8 flags, union { void *arg; ... }.
		KernelParam: KernelParamLayout{Size: 40, Name: 0, Ops: 16, Perm: 24, Level: 26, Flags: 27, Arg: 32, From: abiDefault},
		// int value_offset, name_offset, namespace_offset.
		KernelSymbol: KernelSymbolLayout{Size: 12, Value: 0, Name: 4, Namespace: 8, Field: 4, From: abiDefault},
		// unsigned long crc; char name[64 - 8].
		ModversionInfo: ModversionInfoLayout{Size: 64, CRC: 0, Name: 8, NameLen: 56, From: abiDefault},
		// unsigned int max, elemsize; unsigned int *num; const struct kernel_param_ops *ops; void *elem.
		KparamArray: KparamArrayLayout{Max: 0, ElemSize: 4, Ops: 16, From: abiDefault},
		// unsigned int maxlen; char *string.
		KparamString: KparamStringLayout{MaxLen: 0, From: abiDefault},
		// struct module_attribute mattr (56 bytes without lockdep); module_name, version.
		ModuleVersionAttribute: ModuleVersionAttributeLayout{Size: 72, ModuleName: 56, From: abiDefault},
	}
}

// OrDefaults returns s with DefaultStructs' values in every layout that was never filled
// in (a Kernel made by hand rather than by Load).
func (s Structs) OrDefaults() Structs {
	d := DefaultStructs()
	if s.Module.NameLen == 0 {
		s.Module.Name, s.Module.NameLen = d.Module.Name, d.Module.NameLen
		if s.Module.From == "" {
			s.Module.From = d.Module.From
		}
	}
	if s.KernelParam.Size == 0 {
		s.KernelParam = d.KernelParam
	}
	if s.KernelSymbol.Size == 0 {
		s.KernelSymbol = d.KernelSymbol
	}
	if s.ModversionInfo.Size == 0 {
		s.ModversionInfo = d.ModversionInfo
	}
	if s.KparamArray.From == "" {
		s.KparamArray = d.KparamArray
	}
	if s.KparamString.From == "" {
		s.KparamString = d.KparamString
	}
	if s.ModuleVersionAttribute.Size == 0 {
		s.ModuleVersionAttribute = d.ModuleVersionAttribute
	}
	return s
}

// Describe says where the layouts came from, for Sources: grouped by origin, each
// struct with its size.
func (s Structs) Describe() string {
	m := &s.Module
	if m.From == "" {
		return ""
	}
	type item struct{ from, what string }
	size := func(n uint64) string { return fmt.Sprintf(" (%d bytes)", n) }
	items := []item{
		{s.KernelParam.From, "kernel_param" + size(s.KernelParam.Size)},
		{s.KernelSymbol.From, "kernel_symbol" + size(s.KernelSymbol.Size)},
		{s.ModversionInfo.From, "modversion_info" + size(s.ModversionInfo.Size)},
		{s.KparamArray.From, "kparam_array"},
		{s.KparamString.From, "kparam_string"},
		{s.ModuleVersionAttribute.From, "module_version_attribute" + size(s.ModuleVersionAttribute.Size)},
	}
	mod := "module"
	switch {
	case m.SizeErr != nil:
		mod += " (size unknown: " + m.SizeErr.Error() + ")"
	case m.InitExit && m.NoExit:
		mod += fmt.Sprintf(" (%d bytes; name at %d, init at %d, no exit)", m.Size, m.Name, m.Init)
	case m.InitExit:
		mod += fmt.Sprintf(" (%d bytes; name at %d, init at %d, exit at %d)", m.Size, m.Name, m.Init, m.Exit)
	default:
		mod += fmt.Sprintf(" (%d bytes; name at %d)", m.Size, m.Name)
	}
	items = append([]item{{m.From, mod}}, items...)
	var order []string
	group := map[string][]string{}
	for _, it := range items {
		if _, ok := group[it.from]; !ok {
			order = append(order, it.from)
		}
		group[it.from] = append(group[it.from], it.what)
	}
	parts := make([]string, len(order))
	for i, from := range order {
		parts[i] = from + ": struct " + strings.Join(group[from], ", ")
	}
	return strings.Join(parts, "; ")
}
