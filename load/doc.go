// Package load is a user-space model of the Linux kernel's module loader (x86_64 and arm64):
// init_module/finit_module (load_module and the functions it calls) and delete_module.
// Given a .ko image, the arguments and the flags, a Model predicts the errno, the kernel
// log lines in order, the taints, the memory layout (/sys/module/NAME/coresize and
// initsize), the module list with holders and refcounts, and /proc/modules — offline,
// without root, and without ever loading anything.
//
// The kernel's version is data. Each behaviour that changed upstream asks Model.Has
// about the Change that made the difference (changes.go: the commit, the first release,
// and the stable releases that carry a backport), at the version kernel.Kernel.ModelFit
// chooses: the kernel's own when its line is one of kernel.Lines, else its nearest lower
// line. The code follows Debian's linux-source packages of each line it models
// (linux-source-5.10 5.10.223, linux-source-6.1 6.1.192, linux-source-6.12
// 6.12.117/6.12.118, linux-source-7.2 7.2.13); each file is named
// after the stage it mirrors and each function names the kernel function it follows.
// Where the kernel rewrote a function outright, each era has its own function, named
// with the release that introduced it removed (elfValidityCheck61 before the 6.13 split,
// elfValidityCacheCopy612 after). The model keeps what one boot accumulates: loaded
// modules, global taints, once-per-boot messages already printed.
//
// # Stages
//
//	stage                        what it mirrors
//	syscall.go                   sys_ni_syscall (no CONFIG_MODULES), may_init_module, finit flags, kernel_read_file / copy_module_from_user, module_decompress
//	signing.go                   module_sig_check, mod_verify_sig, mod_check_sig, verify_pkcs7_signature (kernel.VerifyModuleSigner)
//	lockdown.go                  security_locked_down → lockdown_is_locked_down (level and LSM state: kernel.LockedDown)
//	elf.go                       elf_validity_check and setup_load_info; elf_validity_cache_copy
//	blacklist.go                 blacklisted, rewrite_section_headers
//	version.go                   check_modstruct_version, check_version ("no symbol version" is an error), same_magic, try_to_force_load
//	modinfo.go                   check_modinfo (with its taints, or checks only), module_patient_check_exists, module_augment_kernel_taints
//	layout.go                    layout_sections (core/init with strict_align, or mod->mem[]), layout_symtab, move_module
//	list.go                      add_unformed_module, ref_module, delete_module, try_force_unload
//	sections.go                  find_module_sections; relocated __ksymtab*, __param, struct module init/exit
//	symbols.go                   simplify_symbols, resolve_symbol, find_symbol (the kernel's bsearch), inherit_taint, namespaces
//	arch.go                      the hooks of moduleloader.h an architecture supplies; apply_relocations
//	relocate_x86_64.go           x86's hooks: __apply_relocate_add / __write_relocate_add (arch/x86/kernel/module.c)
//	arm64_module_plts.go         arm64's module_frob_arch_sections, module_emit_plt_entry, module_emit_veneer_for_adrp
//	arm64_module.go              arm64's apply_relocate_add (reloc_data, reloc_insn_*), module_finalize (arch/arm64/kernel/module.c)
//	loadmodule.go                load_module, percpu_modalloc, complete_formation (verify_exported_symbols)
//	params.go, kstrtox.go        parse_args, next_arg, parse_one, the param_ops_* setters, param_array, unknown_module_param_cb
//	sysfs.go                     mod_sysfs_setup ("module is already loaded" for built-in names)
//	init.go                      do_init_module
//	procfs.go                    /proc/modules (m_show, print_unload_info, module_flags)
//
// # Changes, by release (changes.go)
//
//	release          change                         stage              what differs
//	5.16             ElfValidityMessages            elf.go             one line per check; before: silent, then "Module has invalid ELF structures"
//	5.17             InKernelDecompress             syscall.go         MODULE_INIT_COMPRESSED_FILE accepted; before: EINVAL
//	5.19             EmptyShstrtabCheck             elf.go             "empty section name table"; before: the byte before the table decides
//	5.19             InheritTaintNamesSymbol        symbols.go         inherit_taint's lines name the symbol
//	6.0              TestTaint                      modinfo.go         modinfo "test" taints N
//	6.3              X86RelocWriteOrder             relocate_x86_64.go overflow checked before the write; "Invalid relocation target"
//	6.4              ModuleMemory                   layout.go          mod->mem[7] page-rounded per type; core/init before
//	6.4              ModinfoEarly                   modinfo.go         check_modinfo before layout, without taints
//	6.4              TaintsAfterList                modinfo.go         taints by module_augment_kernel_taints, after add_unformed_module
//	6.4              PatientCheckEarly              loadmodule.go      a duplicate is refused before layout_and_allocate
//	6.4              ExportSymbolVersions           loadmodule.go      check_export_symbol_versions, no license taint there
//	6.12 (arm64)     Arm64PLTsAlways                arm64_module*.go   PLTs counted and used whatever RANDOMIZE_BASE/ARM64_MODULE_PLTS
//	6.12 (arm64)     Arm64InitFtraceTrampoline      arm64_module*.go   .init.text.ftrace_trampoline; NR_FTRACE_PLTS 1 (6.1: 2)
//	6.12 (arm64)     Arm64PrFmt                     arm64_module.go    "Modules: " before module.c's messages
//	6.13, 6.12.117   ElfValidityCache               elf.go             split ELF checks: section offsets before the name table
//	6.16             ModuleNamespaces               symbols.go,        "module:NAME" namespaces admit the named modules; importing one: EPERM
//	                                                modinfo.go
//	6.16             StaticCallSitesROAfterInit     layout.go          .static_call_sites in MOD_RO_AFTER_INIT (coresize)
//	7.0, 6.1.170,    ShndxCheck                     symbols.go         "Symbol %s has an invalid section index"; before: unknowable
//	6.12.85
//	7.1              KFlagstab                      sections.go,       one __ksymtab, GPL-only flags in __kflagstab; __ksymtab_gpl ignored;
//	                                                modinfo.go         "no flags for exported symbols"
//	7.2 (seen)       StrtabChecks                   elf.go             elf_validity_cache_strtab's four checks
//	7.2 (seen)       X86RelocSecIdx                 relocate_x86_64.go error lines name the RELA section and index
//	7.2 (seen)       PercpuRelocs                   relocate_x86_64.go relocations into the per-cpu template are applied (and fail)
//	7.2 (seen)       InitEexistEbusy                init.go            init's -EEXIST is -EBUSY; "init suspiciously returned" in one line
//
// "(seen)": found in Debian's linux-source-7.2 and absent from 6.12.117, the commit not
// pinned here; such a change is gated on 7.2, the first of its lines the model follows.
// Not modelled on 7.x: extended modversions (Debian's 7.x kernels have no
// CONFIG_MODVERSIONS), the TAINT_FWCTL letter (not set by the loader), 7.3's smaller
// struct module (its layout is the kernel's own, like every line's: see below).
//
// A behaviour the table does not list is the same on every followed line. Distribution
// patches are a separate axis, read from the kernel (version.go: Debian makes a missing
// symbol version an error).
//
// Relocation is simulated: every SHF_ALLOC section is copied to a model address
// (x86_64: modules at 0xffffffffc0000000, per-cpu data at small offsets; arm64: modules
// within branch range below the kernel image, per-cpu data near it; vmlinux exports at
// their real addresses from vmlinux's __ksymtab, else at synthetic ones in kernel
// text), relocations are applied with the kernel's checks, and the export tables,
// parameters and struct module are then read from the relocated bytes, as the kernel
// reads them. The layouts of those structures (sizeof and member offsets of struct
// module, kernel_symbol, kernel_param, modversion_info, kparam_array, kparam_string)
// are the target kernel's, kernel.Kernel.Structs: from its BTF (vmlinux's .BTF, or the
// host's /sys/kernel/btf/vmlinux), else sizeof(struct module) and its init and exit
// offsets from an in-tree module and the x86_64 ABI's values for the rest.
//
// arm64 (arm64_module*.go) depends on two facts the files do not tell, taken from
// Options.Arm64 and stated by explain: whether the CPU has erratum 843419 (default:
// no, as QEMU's virt CPUs), and whether KASLR randomizes the module region (default:
// yes, unless nokaslr is on the command line). The PLT sizes, and so coresize and
// initsize, depend on the first only; the second only on 6.1 decides which branches go
// through a PLT. Debian's arm64 vmlinuz is a raw Image: exports then come from
// Module.symvers, without addresses.
//
// # What the model assumes (Result.Uncertain says so per call)
//
//   - A module's init returns Options.InitResult (default 0); its side effects and log
//     lines are unknown. COMING notifiers (BTF, ftrace, livepatch) accept the module.
//   - The trusted keys are the certificates built into vmlinux plus those given
//     (kernel.Kernel.Trust: --trust CERT; for the host, the MOKs of efivarfs MokListRT
//     and the firmware's db). Keys added at run time (keyctl) and the blacklist keyring
//     (dbx, MokListXRT) are not known. A signer not among them is ENOKEY (tainted E).
//     With no kernel image at all no built-in certificate is known, and Uncertain says so.
//   - Lockdown and sig_enforce come from the configuration and command line; on the
//     host, from /sys/kernel/security/lockdown (root-only: otherwise Secure Boot is
//     read from efivarfs and Debian's CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT assumed to
//     act) and /sys/module/module/parameters/sig_enforce.
//   - Every lockdown refusal prints its line. The kernel prints it with
//     pr_notice_ratelimited (10 a burst per 5 s, shared with every other lockdown
//     refusal of the boot; seen in the 6.1 guest as "lockdown_is_locked_down: 7
//     callbacks suppressed"): the model cannot know the boot's other refusals or the
//     time between calls, so suppression is not modelled.
//   - When sizeof(struct module) is unknown (no BTF, and no in-tree module to read it
//     from), 6.12's check of .gnu.linkonce.this_module's size is not made, and Uncertain
//     says so with the reason (kernel.Kernel.Structs.Module.SizeErr).
//   - Per-cpu reserve exhaustion is a simple sum against PERCPU_MODULE_RESERVE.
//   - Built-in /sys/module names come from vmlinux's __param and __modver and from
//     modules.builtin (a built-in without parameters or a registered driver may in fact
//     have no directory).
//   - Printed kernel addresses (%p in relocation errors, overflow values) differ.
//   - The retpoline warning assumes a CPU with spectre v2 mitigation on.
//   - Module parameters with the module's own kernel_param_ops accept any value.
//   - Concurrency (waiting for a COMING module, idempotent finit on 6.12) never occurs:
//     calls are sequential.
package load
