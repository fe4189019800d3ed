package load

import "gokmod/kernel"

// A Change is one upstream change to the module loader, as data: the mainline release
// that first has it and, when stable releases of an older line carry a backport, the
// first stable release of each such line. Each behaviour of the model that differs
// between kernel lines asks Model.Has about the change that made the difference, so a
// reader finds here which release each behaviour belongs to (load/doc.go's table says
// which stage each touches).
type Change struct {
	// Name is the change in a few words, for explanations and test names.
	Name string
	// Commit is the upstream commit (12 hex digits) and its subject.
	Commit string
	// Since is the first mainline release (major.minor).
	Since kernel.Version
	// Stable lists backports: the first x.y.z of each older line that carries it.
	Stable []kernel.Version
	// Arch is the architecture (uname -m) whose own code changed, "" for the generic
	// loader: see For.
	Arch string
}

func since(major, minor int, name, commit string, backports ...kernel.Version) *Change {
	return &Change{Name: name, Commit: commit, Since: kernel.Version{Major: major, Minor: minor}, Stable: backports}
}

// x86Change is a change to x86's own loader code (arch/x86/kernel/module.c).
func x86Change(major, minor int, name, commit string) *Change {
	c := since(major, minor, name, commit)
	c.Arch = "x86_64"
	return c
}

// arm64Change is a change to arm64's own loader code (arch/arm64/kernel).
func arm64Change(major, minor int, name, commit string) *Change {
	c := since(major, minor, name, commit)
	c.Arch = "aarch64"
	return c
}

// For tells whether c concerns a kernel of architecture arch (uname -m): every change
// to the generic loader does, an architecture's own only that architecture.
func (c *Change) For(arch string) bool { return c.Arch == "" || c.Arch == arch }

// The changes the model gates on, oldest first.
var (
	// ElfValidityMessages: since 5.16, each of elf_validity_check's checks says what
	// failed; before, they are silent but for the two section lines, and load_module
	// prints "Module has invalid ELF structures" after any of them.
	ElfValidityMessages = since(5, 16, "elf_validity_check says which check failed",
		`7fd982f394c4 "module: change to print useful messages from elf_validity_check()"`)

	// InKernelDecompress: since 5.17, finit_module takes MODULE_INIT_COMPRESSED_FILE
	// (without CONFIG_MODULE_DECOMPRESS the call then fails in module_decompress); before,
	// the flag is unknown: EINVAL.
	InKernelDecompress = since(5, 17, "MODULE_INIT_COMPRESSED_FILE",
		`b1ae6dc41eaa "module: add in-kernel support for decompressing"`)

	// EmptyShstrtabCheck: since 5.19, an empty section name table is refused ("empty
	// section name table"); before, the byte before it is read as its terminator.
	EmptyShstrtabCheck = since(5, 19, "empty section name table refused",
		`391e982bfa63 "module: fix [e_shstrndx].sh_size=0 OOB access"`)

	// InheritTaintNamesSymbol: since 5.19, inherit_taint's two lines name the symbol.
	InheritTaintNamesSymbol = since(5, 19, "inherit_taint names the symbol",
		`8eac910a4934 "module: show disallowed symbol name for inherit_taint()"`)

	// TestTaint: since 6.0, a module with modinfo "test" taints the kernel N ("loading
	// test module taints kernel.").
	TestTaint = since(6, 0, "TAINT_TEST (N) for test modules",
		`2852ca7fba9f "panic: Taint kernel if tests are run"`)

	// X86RelocWriteOrder: since 6.3, __write_relocate_add checks overflow before writing
	// and says "Invalid relocation target" (before: "Skipping invalid relocation target",
	// overflow checked after the write).
	X86RelocWriteOrder = x86Change(6, 3, "x86 relocation: overflow checked before the write",
		`0c05e7bd2d01 "livepatch,x86: Clear relocation targets on a module removal"`)

	// ModuleMemory: since 6.4, mod->mem[] of seven types, each page-rounded on allocation,
	// instead of core_layout/init_layout with strict_align between permissions.
	ModuleMemory = since(6, 4, "module memory types (mod->mem[])",
		`ac3b43283923 "module: replace module_layout with module_memory"`)

	// ModinfoEarly: since 6.4, check_modinfo runs in early_mod_check, before the layout,
	// and only checks; its taints wait until the module is in the list.
	ModinfoEarly = since(6, 4, "check_modinfo in early_mod_check",
		`02da2cbab452 "module: move check_modinfo() early to early_mod_check()"`)

	// TaintsAfterList: since 6.4, the license, staging, out-of-tree and signature taints
	// are applied by module_augment_kernel_taints once the module is in the list.
	TaintsAfterList = since(6, 4, "taints after the module is listed (module_augment_kernel_taints)",
		`a12b94511cf3 "module: move tainting until after a module hits our linked list"`)

	// PatientCheckEarly: since 6.4, module_patient_check_exists refuses a duplicate before
	// layout_and_allocate.
	PatientCheckEarly = since(6, 4, "early duplicate check (module_patient_check_exists)",
		`064f4536d139 "module: avoid allocation if module is already present and ready"`)

	// ExportSymbolVersions: since 6.4, check_module_license_and_versions is
	// check_export_symbol_versions and no longer taints for the license (72f08b3cc631
	// "module: converge taint work together" moved that).
	ExportSymbolVersions = since(6, 4, "check_export_symbol_versions",
		`419e1a20f7bd "module: rename check_module_license_and_versions() to check_export_symbol_versions()"`)

	// ElfValidityCache: since 6.13, elf_validity_cache_copy's split checks (section
	// offsets before the name table; "module: validate string table section types"),
	// backported to 6.12.117.
	// ModuleNamespaces: since 6.16 (release inferred), a "module:NAME[,PREFIX*]" namespace
	// (EXPORT_SYMBOL_FOR_MODULES) admits the modules it names without an import, and
	// importing one explicitly is refused ("module tries to import module namespace").
	ModuleNamespaces = since(6, 16, `module-scoped namespaces ("module:NAME")`,
		`092a4f5985f2 "module: Add module specific symbol namespace support"`)

	// StaticCallSitesROAfterInit: since 6.16 (release inferred), .static_call_sites is
	// read-only after init (CONFIG_HAVE_STATIC_CALL_INLINE): MOD_RO_AFTER_INIT, not
	// MOD_DATA, which can move coresize by a page.
	StaticCallSitesROAfterInit = since(6, 16, ".static_call_sites read-only after init",
		`60b57b9cb002 "module: Make .static_call_sites read-only after init"`)

	// KFlagstab: since 7.1 (release inferred from the series' March 2026 posting), one
	// __ksymtab holds every export and __kflagstab says which are GPL-only; a module's
	// __ksymtab_gpl is ignored with a warning, and exports without flags are refused.
	KFlagstab = since(7, 1, "export flags in __kflagstab (no __ksymtab_gpl)",
		`55fcb926b6d8 "module: use kflagstab instead of *_gpl sections"`)

	ElfValidityCache = since(6, 13, "split ELF validity checks (elf_validity_cache_copy)",
		`90f8f312db72 "module: Factor out elf_validity_ehdr"`, kernel.Version{Major: 6, Minor: 12, Patch: 117})

	// ShndxCheck: since 7.0, simplify_symbols refuses a symbol whose st_shndx is past the
	// section table ("Symbol %s has an invalid section index"); backported to stable 6.1
	// and 6.12, first shipped by Debian in 6.1.170-1 and 6.12.85-1 (the stable release
	// within those uploads is not pinned; 5.10.223 lacks it). The mainline release is
	// inferred from the patch's acceptance in February 2026.
	ShndxCheck = since(7, 0, "symbol section index checked",
		`f9d69d5e7bde "module: Fix kernel panic when a symbol st_shndx is out of bounds"`,
		kernel.Version{Major: 6, Minor: 1, Patch: 170}, kernel.Version{Major: 6, Minor: 12, Patch: 85})
)

// Changes lists every change the model gates on, oldest first.
// The changes of 7.x found in Debian's linux-source-7.2 (7.2.13) whose commit is not
// pinned here are gated on 7.2, the first release of that line the model follows:
var (
	// StrtabChecks: elf_validity_cache_strtab checks .strtab (empty, leading NUL, NUL
	// terminated, every st_name inside); upstream d979e3dffa93 "module: Additional
	// validation in elf_validity_cache_strtab" of the 6.13 series, which Debian's 6.12.117
	// backport left out: gated where the model has seen it.
	StrtabChecks = since(7, 2, "symbol string table checks (elf_validity_cache_strtab)",
		`d979e3dffa93 "module: Additional validation in elf_validity_cache_strtab"`)

	// X86RelocSecIdx: __write_relocate_add's lines name the RELA section and index and
	// print the address raw (commit not pinned; present in 7.2.13, absent in 6.12.117).
	X86RelocSecIdx = x86Change(7, 2, "x86 relocation errors name section and index",
		"(commit not pinned; seen in linux-source-7.2 7.2.13)")

	// PercpuRelocs: apply_relocations also applies RELA sections targeting the per-cpu
	// section, so their errors fail the load (commit not pinned; 7.2.13 has it).
	PercpuRelocs = since(7, 2, "per-cpu section relocated",
		"(commit not pinned; seen in linux-source-7.2 7.2.13)")

	// InitEexistEbusy: do_init_module turns an init's -EEXIST into -EBUSY and says
	// "init suspiciously returned" in one line without a stack dump (commits not pinned;
	// 7.2.13 has both).
	InitEexistEbusy = since(7, 2, "init's -EEXIST reported as -EBUSY",
		"(commit not pinned; seen in linux-source-7.2 7.2.13)")
)

// arm64's module.c and module-plts.c, as Debian's 6.1.192 and 6.12.117 differ; the
// commits lie between (mainline 6.2 to 6.11) and are not pinned here. Each is gated on
// 6.12, the first line the model follows that has it (a kernel in between is modelled
// as 6.1 anyway, kernel.Kernel.ModelFit).
var (
	// Arm64PLTsAlways: module PLTs are always built in; before, CALL26/JUMP26 were
	// counted only with CONFIG_RANDOMIZE_BASE and PLTs emitted only with
	// CONFIG_ARM64_MODULE_PLTS (6.1's module-plts.c and module.c).
	Arm64PLTsAlways = arm64Change(6, 12, "arm64: module PLTs unconditional",
		"(commit not pinned; seen in linux-source-6.12 6.12.117, absent from 6.1.192)")

	// Arm64InitFtraceTrampoline: .init.text.ftrace_trampoline is sized and required like
	// .text.ftrace_trampoline, and NR_FTRACE_PLTS is 1 (6.1: 2, with FTRACE_REGS_PLT_IDX).
	Arm64InitFtraceTrampoline = arm64Change(6, 12, "arm64: init ftrace trampoline, one ftrace PLT",
		"(commit not pinned; seen in linux-source-6.12 6.12.117, absent from 6.1.192)")

	// Arm64PrFmt: module.c's messages start with pr_fmt's "Modules: ".
	Arm64PrFmt = arm64Change(6, 12, `arm64: module.c messages prefixed "Modules: "`,
		"(commit not pinned; seen in linux-source-6.12 6.12.117, absent from 6.1.192)")
)

var Changes = []*Change{ElfValidityMessages, InKernelDecompress, EmptyShstrtabCheck,
	InheritTaintNamesSymbol, TestTaint, X86RelocWriteOrder, ModuleMemory, ModinfoEarly, TaintsAfterList,
	PatientCheckEarly, ExportSymbolVersions, Arm64PLTsAlways, Arm64InitFtraceTrampoline, Arm64PrFmt, ElfValidityCache, ModuleNamespaces,
	StaticCallSitesROAfterInit, ShndxCheck, KFlagstab, StrtabChecks, X86RelocSecIdx, PercpuRelocs, InitEexistEbusy}

// In tells whether a kernel of version v has c: v is at least c's mainline release, or
// a stable release of a line c was backported to, at or after the backport.
func (c *Change) In(v kernel.Version) bool {
	if v.AtLeast(c.Since.Major, c.Since.Minor) {
		return true
	}
	for _, b := range c.Stable {
		if v.Major == b.Major && v.Minor == b.Minor && v.Patch >= b.Patch {
			return true
		}
	}
	return false
}

// Has tells whether the modelled kernel has change c. Which version is modelled is
// kernel.Kernel.ModelFit's choice: the kernel's own, or its nearest followed line.
func (m *Model) Has(c *Change) bool { return c.In(m.v) }
