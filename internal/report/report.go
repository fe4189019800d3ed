// Package report draws what gokmod's model of load_module predicted for one module:
// a self-contained HTML page (gokmod explain --html) with the story of the load, the
// memory map, the symbol graph, worked relocations, the module list and the taints,
// and the same pictures alone as SVG (gokmod explain --svg=...), plus modprobe's
// dependency graph. Everything is generated in Go: SVG by hand, the page with
// html/template and embedded CSS. Pages have no script and load nothing.
package report

import (
	"fmt"
	"path"
	"strings"
	"sync"

	"gokmod/kernel"
	"gokmod/load"
)

// Stage is one kernel function on the path, as the text trace names it.
type Stage struct {
	Stage string // the plain name: "permission", "layout"...
	Func  string // the kernel function: "may_init_module"
	Note  string // what the model saw
	Errno string // "ENOENT", or "" when the stage passed
}

// Run is one explain run: the inputs, the trace and the model's states around the load.
type Run struct {
	Kernel    *kernel.Kernel
	File      string
	Params    string
	Preloaded []string
	Stages    []Stage
	Result    *load.Result
	// Before and After are the module list (newest first) before and after the load.
	Before, After []*load.ModuleState
	// TaintBefore is the global taint set before the load.
	TaintBefore load.Taints
	Fix         []string
	// Call is what was predicted: "insmod" (the tool), or a raw system call.
	Call string
	// Target says which kernel was modelled, how exactly, and what could not be known.
	Target []string
}

// Name is the module's name: the loaded module's, else the file's base name.
func (r *Run) Name() string {
	if r.Result != nil && r.Result.Module != nil {
		return r.Result.Module.Name
	}
	return strings.ReplaceAll(strings.SplitN(path.Base(r.File), ".", 2)[0], "-", "_")
}

// Failed tells whether the load fails.
func (r *Run) Failed() bool { return r.Result != nil && r.Result.Err != nil }

// stageInfo is what the page says about a kernel function: the file it is in and
// what it does and why.
type stageInfo struct {
	file string
	why  string
}

// stages is what the page says about each kernel function. It is built on first use:
// as a map literal every tool run (modprobe's start-up included) built it at package
// initialization, though only explain (its -v text and its HTML page) reads it.
var stages = sync.OnceValue(func() map[string]stageInfo {
	return map[string]stageInfo{
		"may_init_module":                   {"kernel/module/main.c", "Only a process with CAP_SYS_MODULE may load modules, and none once modules_disabled is set."},
		"kernel_read_file":                  {"fs/kernel_read_file.c", "finit_module reads the whole file into kernel memory: it must be a readable regular file that nobody is writing."},
		"copy_module_from_user":             {"kernel/module/main.c", "init_module copies the image from the caller's memory into a kernel buffer."},
		"module_decompress":                 {"kernel/module/decompress.c", "A compressed file passed with MODULE_INIT_COMPRESSED_FILE is decompressed by the kernel."},
		"module_sig_check":                  {"kernel/module/signing.c", "The signature appended to the file is checked against the trusted keys; without a valid one the module is refused under sig_enforce, or taints E."},
		"elf_validity_check":                {"kernel/module/main.c", "The image must be a relocatable x86_64 ELF file whose headers and sections lie inside it, so that nothing later reads out of bounds."},
		"elf_validity_cache_copy":           {"kernel/module/main.c", "The image must be a relocatable x86_64 ELF file whose headers and sections lie inside it; the kernel notes where its key sections are."},
		"setup_load_info":                   {"kernel/module/main.c", "The kernel finds the sections it relies on (.modinfo, .gnu.linkonce.this_module, the symbol table) and the module's name."},
		"blacklisted":                       {"kernel/module/main.c", "A module named in module_blacklist= on the kernel command line is refused."},
		"rewrite_section_headers":           {"kernel/module/main.c", "Section addresses are pointed into the temporary copy and sections the module does not need at run time lose SHF_ALLOC."},
		"check_modstruct_version":           {"kernel/module/version.c", "The module's CRC of module_layout must match the kernel's, so that both agree on the shape of struct module."},
		"check_modinfo":                     {"kernel/module/main.c", "The vermagic string must match the kernel's; out-of-tree, staging, livepatch and test modules taint the kernel."},
		"check_module_license_and_versions": {"kernel/module/main.c", "A license that is not GPL-compatible taints P; missing symbol versions on a MODVERSIONS kernel taint E."},
		"module_enforce_rwx_sections":       {"kernel/module/strict_rwx.c", "No section may be both writable and executable when module memory is strict."},
		"layout_and_allocate":               {"kernel/module/main.c", "Sections are grouped by permission (text, read-only, ro_after_init, data) into core memory, kept while the module lives, and init memory, freed after init."},
		"percpu_modalloc":                   {"kernel/module/main.c", "The module's per-cpu variables get room in the reserved per-cpu chunk."},
		"add_unformed_module":               {"kernel/module/main.c", "The module joins the kernel's module list as UNFORMED, unless a module of that name is already there."},
		"module_patient_check_exists":       {"kernel/module/main.c", "A module of the same name already in the list means EEXIST (or EBUSY while it is still coming up)."},
		"find_module_sections":              {"kernel/module/main.c", "The kernel finds the export tables, parameters, init and exit functions and other special sections in the laid-out image."},
		"simplify_symbols":                  {"kernel/module/main.c", "Each undefined symbol is looked up among the exports of vmlinux and the loaded modules; its CRC, GPL-only flag and namespace are checked and the provider gains a user."},
		"module_frob_arch_sections":         {"arch/arm64/kernel/module-plts.c", "arm64 reserves PLT entries for branches that may not reach their target (CALL26/JUMP26 to another section, duplicates counted once) in .plt and .init.plt, sized before layout."},
		"module_finalize":                   {"arch/arm64/kernel/module.c", "arm64 patches alternatives and sets up the ftrace trampolines, which the module must have."},
		"apply_relocations":                 {"arch/x86/kernel/module.c", "Each relocation writes a symbol's final address into the module's code and data, as a linker would, checking for overflow."},
		"complete_formation":                {"kernel/module/main.c", "The module's exports must not clash with existing ones; its memory gets its final permissions and it becomes COMING."},
		"prepare_coming_module":             {"kernel/module/main.c", "Subsystems (ftrace, livepatch, BTF) are told that a module is coming."},
		"parse_args":                        {"kernel/params.c", "The arguments given to insmod are matched against the module's parameters and set; unknown names and bad values are refused."},
		"mod_sysfs_setup":                   {"kernel/module/sysfs.c", "/sys/module/NAME is created with its parameters, which fails if a built-in already owns the name."},
		"do_init_module":                    {"kernel/module/main.c", "The module's init function runs; on success the module is LIVE and its init memory is freed."},
		"module_augment_kernel_taints":      {"kernel/module/main.c", "Taints the module brings (out-of-tree, unsigned, proprietary...) are added to the kernel's."},
		"check_export_symbol_versions":      {"kernel/module/main.c", "Exported symbols must carry CRCs on a MODVERSIONS kernel."},
		"check_modinfo_livepatch":           {"kernel/module/main.c", "A livepatch module needs a kernel built with CONFIG_LIVEPATCH, and taints K."},
		"elf_validity_cache_sechdrs":        {"kernel/module/main.c", "The section header table must lie inside the file and every section's data too."},
		"elf_validity_cache_secstrings":     {"kernel/module/main.c", "The section names must be a NUL-terminated string table inside the file."},
		"elf_validity_cache_index_info":     {"kernel/module/main.c", "At most one .modinfo section may exist; it holds the module's name= and other keys."},
		"elf_validity_cache_index_mod":      {"kernel/module/main.c", "Exactly one .gnu.linkonce.this_module must exist, allocated, with data, the size of the kernel's struct module."},
		"elf_validity_cache_index_sym":      {"kernel/module/main.c", "Exactly one symbol table must exist."},
		"elf_validity_cache_index_str":      {"kernel/module/main.c", "The symbol table must link to a proper string table."},
		"elf_validity_cache_strtab":         {"kernel/module/main.c", "Since 7.x the symbol string table must start and end with NUL and hold every symbol's name."},
		"check_export_symbol_sections":      {"kernel/module/main.c", "Since 7.x exports need __kflagstab, which says which are GPL-only; on a MODVERSIONS kernel they also need CRCs."},
		"setup_modinfo":                     {"kernel/module/main.c", "Since 6.16 a module may not import a \"module:\" namespace explicitly: such exports admit the modules they name."},
		"finit_module":                      {"kernel/module/main.c", "finit_module takes a file descriptor and flags; unknown flags are refused."},
		"mod_verify_sig":                    {"kernel/module/signing.c", "The PKCS#7 signature is verified with the key it names, among the trusted keys."},
		"verify_exported_symbols":           {"kernel/module/main.c", "A symbol the module exports must not already be exported by vmlinux or another module."},
		"insmod":                            {"", "insmod itself (kmod) opens the file, checks it, picks finit_module or init_module and decompresses what the kernel cannot, before any system call."},
		"sys_ni_syscall":                    {"kernel/sys_ni.c", "A kernel built without module support answers the module system calls with ENOSYS."},
		"delete_module":                     {"kernel/module/main.c", "rmmod: the module must be unused and have an exit function (or be forced)."},
	}
})

// Why is the one-sentence "what and why" of a kernel function ("" if unknown).
func Why(fn string) string { return stages()[fn].why }

// kmodURL is kmod's source, where insmod's own steps are (user space, not the kernel).
const kmodURL = "https://git.kernel.org/pub/scm/utils/kernel/kmod/kmod.git/tree/libkmod/libkmod-module.c"

// SourceURL links the kernel function's file in the stable tree at the version k is
// built from (a link for the reader; nothing is fetched); insmod's steps link kmod's.
func SourceURL(k *kernel.Kernel, fn string) string {
	if fn == "insmod" {
		return kmodURL
	}
	f := stages()[fn].file
	if f == "" {
		f = "kernel/module/main.c"
	}
	v := "v" + k.Version.String()
	if k.Version.Patch == 0 {
		v = fmt.Sprintf("v%d.%d", k.Version.Major, k.Version.Minor)
	}
	return "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git/tree/" + f + "?h=" + v
}

// path is the sequence of stages every load walks, in the words of the text trace.
var pathWords = []string{"permission", "copy", "signature", "ELF check", "convenience variables", "modinfo",
	"layout", "module list", "symbol resolution", "relocations", "arguments", "init"}

// NotReached lists the stages of the usual path after the last one the run got to
// (6.12 folds some stages into others: those are not listed).
func (r *Run) NotReached() []string {
	seen := map[string]bool{}
	for _, s := range r.Stages {
		seen[s.Stage] = true
	}
	last := -1
	for i, w := range pathWords {
		if seen[w] {
			last = i
		}
	}
	var out []string
	for _, w := range pathWords[last+1:] {
		if !seen[w] {
			out = append(out, w)
		}
	}
	return out
}

// taintInfo names each taint letter and says what it means.
// An array indexed by the letter, not a map: the compiler lays it out in the binary,
// where a map would be built by every tool run's package initialization.
var taintInfo = [256][2]string{
	'P': {"TAINT_PROPRIETARY_MODULE", "a module whose license is not GPL-compatible was loaded"},
	'F': {"TAINT_FORCED_MODULE", "a module was loaded with its version checks forced off (insmod -f)"},
	'S': {"TAINT_CPU_OUT_OF_SPEC", "the CPU runs out of specification"},
	'R': {"TAINT_FORCED_RMMOD", "a module was removed by force (rmmod -f)"},
	'M': {"TAINT_MACHINE_CHECK", "a machine check exception happened"},
	'B': {"TAINT_BAD_PAGE", "a bad page was referenced"},
	'U': {"TAINT_USER", "user space asked for a taint"},
	'D': {"TAINT_DIE", "the kernel died (oops or BUG)"},
	'A': {"TAINT_OVERRIDDEN_ACPI_TABLE", "an ACPI table was overridden"},
	'W': {"TAINT_WARN", "the kernel issued a warning"},
	'C': {"TAINT_CRAP", "a staging driver was loaded"},
	'I': {"TAINT_FIRMWARE_WORKAROUND", "a workaround for a firmware bug is in use"},
	'O': {"TAINT_OOT_MODULE", "an out-of-tree module (no intree=Y in its modinfo) was loaded"},
	'E': {"TAINT_UNSIGNED_MODULE", "an unsigned module, or one whose signature could not be verified, was loaded"},
	'L': {"TAINT_SOFTLOCKUP", "a soft lockup happened"},
	'K': {"TAINT_LIVEPATCH", "the kernel was live-patched"},
	'X': {"TAINT_AUX", "an auxiliary taint, defined by the distribution"},
	'T': {"TAINT_RANDSTRUCT", "a module built with a different randstruct seed was loaded"},
	'N': {"TAINT_TEST", "a test module (KUnit) was loaded"},
}

// taintClues are the log lines that tell why a letter appeared.
// An array, as taintInfo.
var taintClues = [256][]string{
	'O': {"out-of-tree module"},
	'E': {"module verification failed", "no symbol version for module_layout", "signature and/or required key missing"},
	'P': {"module license", "proprietary"},
	'F': {"forcing", "force"},
	'C': {"staging"},
	'K': {"livepatch"},
	'N': {"test module"},
	'W': {"WARNING"},
	'R': {"lock debugging"},
}

// Taint is one taint letter decoded.
type Taint struct {
	Letter  string
	Flag    string
	Meaning string
	// New tells the letter appeared with this load; Reason quotes the kernel's log
	// line that says so, when there is one.
	New    bool
	Reason string
}

// Taints decodes the global taint after the run, letter by letter.
func (r *Run) Taints() []Taint {
	if r.Result == nil {
		return nil
	}
	var out []Taint
	after := r.Result.Taint.String()
	before := r.TaintBefore.String()
	for i := 0; i < len(after); i++ {
		c := after[i]
		t := Taint{Letter: string(c), Flag: taintInfo[c][0], Meaning: taintInfo[c][1], New: !strings.ContainsRune(before, rune(c))}
		if t.New {
			t.Reason = "brought by this load"
			for _, l := range r.Result.Log {
				for _, clue := range taintClues[c] {
					if strings.Contains(l.Text, clue) {
						t.Reason = "kernel: " + l.Text
						break
					}
				}
				if t.Reason != "brought by this load" {
					break
				}
			}
			if c == 'E' && t.Reason == "brought by this load" && !strings.Contains(before, "E") {
				t.Reason = "the module is unsigned (module.sig_enforce off): the kernel says so once per boot"
			}
		} else {
			t.Reason = "already set before this load (by a module loaded earlier)"
		}
		out = append(out, t)
	}
	return out
}

// LsmodLine formats one module as lsmod prints it.
func LsmodLine(m *load.ModuleState) string {
	s := fmt.Sprintf("%-19s %8d  %d", m.Name, m.Size, m.RefCount)
	if len(m.Holders) > 0 {
		s += " " + strings.Join(m.Holders, ",")
	}
	return s
}

// LsmodChanges is what lsmod shows differently after the load: the new module's line
// and the lines of the modules it now uses.
func (r *Run) LsmodChanges() (added, changed []string) {
	old := map[string]string{}
	for _, m := range r.Before {
		old[m.Name] = LsmodLine(m)
	}
	for _, m := range r.After {
		l := LsmodLine(m)
		if o, ok := old[m.Name]; !ok {
			added = append(added, l)
		} else if o != l {
			changed = append(changed, l)
		}
	}
	return added, changed
}

// InitFreed is the init memory laid out for the module, freed once its init returns
// (0 when the layout was not reached).
func (r *Run) InitFreed() uint32 {
	if r.Result == nil || r.Result.Layout == nil {
		return 0
	}
	return r.Result.Layout.InitSize()
}

// WriteText adds to the text trace what the pictures show in words: the decoded
// taints, the lsmod lines the load adds or changes, and the init memory freed.
func (r *Run) WriteText(w interface{ Write([]byte) (int, error) }) {
	ts := r.Taints()
	if len(ts) > 0 {
		fmt.Fprintf(w, "  taints decoded:\n")
		for _, t := range ts {
			fmt.Fprintf(w, "    %s %s: %s — %s\n", t.Letter, t.Flag, t.Meaning, t.Reason)
		}
	}
	added, changed := r.LsmodChanges()
	for _, l := range added {
		fmt.Fprintf(w, "  lsmod adds:   %s\n", l)
	}
	for _, l := range changed {
		fmt.Fprintf(w, "  lsmod now:    %s\n", l)
	}
	if len(r.Fix) == 0 {
		for _, f := range r.Fixes() {
			fmt.Fprintf(w, "  fix: %s\n", f)
		}
	}
	if n := r.InitFreed(); n > 0 {
		if r.Failed() {
			fmt.Fprintf(w, "  init memory: %d bytes laid out, freed with the rest of the module on failure\n", n)
		} else {
			fmt.Fprintf(w, "  init memory freed after init: %d bytes\n", n)
		}
	}
}

// stageFixes is general advice for a stage that failed when the trace has no specific
// fix (explain's fixes cover missing symbols, vermagic, CRCs, namespaces, signatures,
// parameters and duplicates).
// Built on first use, as stages.
var stageFixes = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"insmod (user space)":         "pass a readable regular module file: insmod refuses what it cannot read as a module before calling the kernel",
		"system call":                 "this kernel has no module support for that call (CONFIG_MODULES or CONFIG_MODULE_UNLOAD off): build what is needed into the kernel",
		"permission":                  "run as root (CAP_SYS_MODULE) on a system where /proc/sys/kernel/modules_disabled is 0",
		"copy":                        "pass a readable, non-empty regular file (the kernel refuses FIFOs, devices and directories)",
		"signature":                   "sign the module with a key the kernel trusts, or boot without module.sig_enforce=1",
		"mod_verify_sig":              "sign the module with a key the kernel trusts, or restore the original file",
		"ELF check":                   "the file is not a valid x86_64 kernel module (damaged, or built for another architecture): rebuild it with kbuild against this kernel",
		"convenience variables":       "the file lacks what every module has (.gnu.linkonce.this_module, a symbol table): rebuild it with kbuild against this kernel",
		"section headers":             "the section table is damaged: rebuild the module",
		"modinfo":                     "rebuild the module against this kernel's headers",
		"layout":                      "a section is both writable and executable: fix the section flags in the module's source or linker script and rebuild",
		"module_enforce_rwx_sections": "a section is both writable and executable: fix the section flags in the module's source or linker script and rebuild",
		"sections":                    "a special section is malformed: rebuild the module with kbuild against this kernel",
		"symbol resolution":           "load the modules that export the missing symbols first (gokmod modprobe does), or rebuild against this kernel",
		"relocations":                 "rebuild the module through kbuild, with the kernel's own flags (-mcmodel=kernel)",
		"arguments":                   "check the parameter names and types: gokmod modinfo -p FILE",
		"module list":                 "a module of that name is already loaded, or its exports clash with a loaded module's: rmmod it first",
		"init":                        "the module's init function failed: its own log lines say why",
	}
})

// Fixes is the run's fix list, or general advice for the stage that failed.
func (r *Run) Fixes() []string {
	if len(r.Fix) > 0 {
		return r.Fix
	}
	for _, s := range r.Stages {
		if s.Errno == "" {
			continue
		}
		if f, ok := stageFixes()[s.Stage]; ok {
			return []string{f + " (general advice for this stage)"}
		}
		if f, ok := stageFixes()[s.Func]; ok {
			return []string{f + " (general advice for this stage)"}
		}
		break
	}
	return nil
}
