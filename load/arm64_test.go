package load_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
	"gokmod/ko"
	"gokmod/load"
)

// arm64Root is Debian's arm64 kernel packages unpacked (dpkg -x of linux-image-REL,
// linux-headers-REL and its -common) named by GOKMOD_ARM64_ROOT; the tests that need it
// skip when the variable is unset and fail when it names something unusable. (Not yet
// prepared by scripts/setup.sh nor found by testenv.)
func arm64Root(t *testing.T) *kernel.Kernel {
	t.Helper()
	root := os.Getenv("GOKMOD_ARM64_ROOT")
	if root == "" {
		// make setup's arm64 line, its packages as they come (headers included).
		root = testenv.RequireKernelsArm64(t)[0].Root + ".raw"
	}
	rels, err := kernel.Releases(root)
	if err != nil || len(rels) == 0 {
		t.Fatalf("GOKMOD_ARM64_ROOT=%s: no kernel release in it (%v)", root, err)
	}
	k, err := kernel.FromDebianRoot(root, rels[0])
	if err != nil {
		t.Fatalf("GOKMOD_ARM64_ROOT=%s: %v", root, err)
	}
	if k.Arch() != "aarch64" || len(k.InTree) == 0 {
		t.Fatalf("GOKMOD_ARM64_ROOT=%s: %s is %q with %d modules, not an arm64 tree", root, rels[0], k.Arch(), len(k.InTree))
	}
	return k
}

// arm64Module reads and decompresses in-tree module name.
func arm64Module(t *testing.T, k *kernel.Kernel, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(k.ModDir, k.InTree[name]))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ko.Decompress(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// pltBounds counts, independently of the model, the PLT slots module-plts.c needs for
// one module: per relocation section of an executable section, the CALL26/JUMP26
// relocations against a symbol of another section, each distinct (type, symbol) with
// a zero addend once and every non-zero addend apiece. The kernel's partition leaves
// at most one relocation per section out of its sort, which may then be counted
// again: lo is the exact count of distinct slots, hi adds one per such section.
func pltBounds(t *testing.T, name string, b []byte, unload bool) (core, init [2]int) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || int(s.Info) >= len(f.Sections) {
			continue
		}
		dst := f.Sections[s.Info]
		if dst.Flags&elf.SHF_EXECINSTR == 0 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			t.Fatalf("%s: %s: %v", name, s.Name, err)
		}
		type key struct {
			typ uint32
			sym uint64
		}
		seen, n, branches := map[key]bool{}, 0, 0
		for off := 0; off+24 <= len(data); off += 24 {
			info := le64(data[off+8:])
			typ, sym, addend := uint32(info), info>>32, le64(data[off+16:])
			if typ != uint32(elf.R_AARCH64_CALL26) && typ != uint32(elf.R_AARCH64_JUMP26) {
				continue
			}
			// f.Symbols drops the null symbol: index sym is syms[sym-1].
			if sym > 0 && sym <= uint64(len(syms)) && int(syms[sym-1].Section) == int(s.Info) {
				continue
			}
			branches++
			if addend != 0 {
				n++
			} else if !seen[key{typ, sym}] {
				seen[key{typ, sym}] = true
				n++
			}
		}
		extra := 0
		if branches > 0 {
			extra = 1
		}
		c := &core
		if strings.HasPrefix(dst.Name, ".init") || !unload && strings.HasPrefix(dst.Name, ".exit") {
			c = &init
		}
		c[0] += n
		c[1] += n + extra
	}
	return core, init
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// TestArm64EveryModule: for every module of the arm64 tree, every relocation type is
// one apply_relocate_add handles, and the model's PLT reservation (computed before
// symbol resolution, so without loading dependencies) lies within the independent
// count's bounds.
func TestArm64EveryModule(t *testing.T) {
	k := arm64Root(t)
	names := make([]string, 0, len(k.InTree))
	for n := range k.InTree {
		names = append(names, n)
	}
	sort.Strings(names)
	types := map[string]int{}
	withPLT, maxPLT, maxName := 0, 0, ""
	for _, n := range names {
		b := arm64Module(t, k, n)
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		for _, s := range f.Sections {
			if s.Type != elf.SHT_RELA {
				continue
			}
			data, err := s.Data()
			if err != nil {
				t.Fatalf("%s: %s: %v", n, s.Name, err)
			}
			for off := 0; off+24 <= len(data); off += 24 {
				name := load.Arm64RelocName(uint32(le64(data[off+8:])))
				if strings.TrimLeft(strings.TrimPrefix(name, "R_AARCH64_"), "0123456789") == "" {
					t.Errorf("%s: %s: relocation type %s is not one apply_relocate_add handles", n, s.Name, name)
				}
				types[name]++
			}
		}
		r := load.New(k, load.Options{}).Load(b, "", 0)
		if r.PLT == nil {
			t.Errorf("%s: no PLT reservation: %v %q", n, r.Err, r.LogText())
			continue
		}
		core, init := pltBounds(t, n, b, k.Config.ModuleUnload())
		if r.PLT.Core < core[0] || r.PLT.Core > core[1] || r.PLT.Init < init[0] || r.PLT.Init > init[1] {
			t.Errorf("%s: PLT %d core, %d init; independent count %v core, %v init", n, r.PLT.Core, r.PLT.Init, core, init)
		}
		if r.PLT.Core+r.PLT.Init > 0 {
			withPLT++
		}
		if r.PLT.Core > maxPLT {
			maxPLT, maxName = r.PLT.Core, n
		}
		for _, l := range r.LogText() {
			if strings.Contains(l, "unsupported RELA relocation") || strings.Contains(l, "PLT section(s) missing") {
				t.Errorf("%s: %s", n, l)
			}
		}
	}
	t.Logf("%s: %d modules, %d with PLT entries (most: %s, %d core); relocation types %v", k.Release, len(names), withPLT, maxName, maxPLT, types)
}

// TestArm64InTreeModulesLoad loads a sample of the arm64 tree, each module after its
// dependencies in a fresh boot: every relocation applies, nothing is logged but the
// staging warning, and the layout includes the PLT sections.
func TestArm64InTreeModulesLoad(t *testing.T) {
	k := arm64Root(t)
	step := 40
	if os.Getenv("GOKMOD_LOAD_ALL") != "" {
		step = 1
	}
	names := make([]string, 0, len(k.InTree))
	for n := range k.InTree {
		names = append(names, n)
	}
	sort.Strings(names)
	loaded, emitted := 0, 0
	relocs := map[string]int{}
	for i := 0; i < len(names); i += step {
		n := names[i]
		// Every other module also on a CPU with erratum 843419: ADRPs at vulnerable
		// offsets become ADRs or branch to veneers in the PLT.
		erratum := i/step%2 == 1
		m := load.New(k, load.Options{Arm64: load.Arm64Options{Erratum843419: erratum}})
		// ModuleDeps gives depends= (direct) without modules.dep: load each dependency
		// after its own, once.
		done := map[string]bool{n: true}
		var loadDeps func(string)
		loadDeps = func(mod string) {
			for _, d := range k.ModuleDeps(mod) {
				if done[d] {
					continue
				}
				done[d] = true
				loadDeps(d)
				if r := m.Load(arm64Module(t, k, d), "", 0); r.Err != nil {
					t.Errorf("%s's dependency %s: %v %q", n, d, r.Err, r.LogText())
				}
			}
		}
		loadDeps(n)
		r := m.Load(arm64Module(t, k, n), "", 0)
		if r.Err != nil {
			t.Errorf("%s (erratum 843419 %v): %v %q %q", n, erratum, r.Err, r.LogText(), r.Uncertain)
			continue
		}
		// Every PLT entry emitted had a slot counted for it (the kernel WARNs otherwise).
		for _, u := range r.Uncertain {
			if strings.Contains(u, "plt_num_entries") {
				t.Errorf("%s: %s", n, u)
			}
		}
		if strings.Contains(r.Taint.String(), "W") {
			t.Errorf("%s: taint %q", n, r.Taint)
		}
		emitted += r.PLT.Emitted
		for _, l := range r.LogText() {
			if !strings.Contains(l, "staging directory") {
				t.Errorf("%s: unexpected log %q", n, l)
			}
		}
		plt := false
		for _, s := range r.Layout.Sections {
			plt = plt || s.Name == ".plt" && s.Size == uint64(r.PLT.CoreBytes())
		}
		if !plt {
			t.Errorf("%s: .plt of %d bytes not in the layout: %v", n, r.PLT.CoreBytes(), r.Layout)
		}
		for ty, c := range r.Relocs {
			relocs[ty] += c
		}
		loaded++
	}
	t.Logf("%s: %d modules loaded with their dependencies, %d PLT entries emitted; relocations applied %v", k.Release, loaded, emitted, relocs)
}

// renameSection returns a copy of img whose section name is changed in place to
// newName (as long as name): a module linked without arm64's module.lds.
func renameSection(t *testing.T, img []byte, name, newName string) []byte {
	t.Helper()
	b := append([]byte(nil), img...)
	u16 := func(o int) int { return int(b[o]) | int(b[o+1])<<8 }
	shoff, shentsize, shnum, shstrndx := int(le64(b[0x28:])), u16(0x3a), u16(0x3c), u16(0x3e)
	strtab := int(le64(b[shoff+shstrndx*shentsize+0x18:]))
	for i := 0; i < shnum; i++ {
		off := strtab + int(binary.LittleEndian.Uint32(b[shoff+i*shentsize:])) // sh_name
		if off+len(name) < len(b) && string(b[off:off+len(name)+1]) == name+"\x00" {
			copy(b[off:], newName)
			return b
		}
	}
	t.Fatalf("no section %s", name)
	return nil
}

// A module without .plt (not linked with arm64's module.lds) is refused by
// module_frob_arch_sections, with the kernel's line.
func TestArm64PLTSectionMissing(t *testing.T) {
	k := arm64Root(t)
	b := renameSection(t, stripSig(t, arm64Module(t, k, "minix")), ".plt", "xplt") // unsigned: taints E, loads
	r := load.New(k, load.Options{}).Load(b, "", 0)
	want := "minix: module PLT section(s) missing"
	if r.Err == nil || !strings.Contains(strings.Join(r.LogText(), "\n"), want) || r.PLT != nil {
		t.Errorf("minix without .plt: %v %q, PLT %+v; want ENOEXEC and %q", r.Err, r.LogText(), r.PLT, want)
	}
}
