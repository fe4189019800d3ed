package fidelity

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"gokmod/internal/simop"
	"gokmod/internal/testing/playground"
	"gokmod/internal/testing/testenv"
	"gokmod/ko"
)

// mutation is a damaged or edited module and how to load it.
type mutation struct {
	name string
	data []byte
	kind string // simop kind
}

// MutationBatches generates the mutation corpus: truncations, bad headers, wrong machine,
// vermagic, CRC and __versions edits, signature flips and strips (also under
// sig_enforce), license and import_ns edits, compressed files and force flags.
func MutationBatches(k testenv.Kernel, dir string) ([]*Batch, error) {
	signed, err := intree(k, "kernel/fs/minix/minix.ko")
	if err != nil {
		return nil, err
	}
	f, err := ko.Parse("minix.ko", signed)
	if err != nil {
		return nil, err
	}
	unsigned := append([]byte(nil), f.ModuleImage()...)
	uf, err := ko.Parse("minix-unsigned.ko", unsigned)
	if err != nil {
		return nil, err
	}
	pg, err := playground.Build(k)
	if err != nil {
		return nil, err
	}
	read := func(n string) ([]byte, error) { return os.ReadFile(pg.Path(n)) }

	var muts []mutation
	add := func(name string, data []byte, kind string) { muts = append(muts, mutation{name, data, kind}) }
	le := binary.LittleEndian
	edit := func(base []byte, off int, b ...byte) []byte {
		out := append([]byte(nil), base...)
		copy(out[off:], b)
		return out
	}
	u16 := func(v uint16) []byte { return le.AppendUint16(nil, v) }
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }

	add("minix-signed", signed, simop.Insmod)
	add("minix-empty", nil, simop.Insmod)
	add("minix-trunc-63", signed[:63], simop.Insmod)
	add("minix-trunc-64", signed[:64], simop.Insmod)
	add("minix-trunc-half", signed[:len(signed)/2], simop.Insmod)
	add("minix-trunc-last-byte", signed[:len(signed)-1], simop.Insmod)
	add("minix-unsigned", unsigned, simop.Insmod)
	add("minix-unsigned-init", unsigned, simop.Init)
	sigByte := len(signed) - len(ko.SignatureMagic) - 12 - 10
	add("minix-sig-flipped", edit(signed, sigByte, signed[sigByte]^0x01), simop.Insmod)
	text := f.Section(".text")
	if text == nil || text.Size == 0 {
		return nil, fmt.Errorf("minix.ko: no .text")
	}
	add("minix-body-flipped", edit(signed, int(text.Offset), signed[text.Offset]^0x01), simop.Insmod)
	add("minix-bad-magic", edit(unsigned, 1, 'X'), simop.Insmod)
	add("minix-elf32", edit(unsigned, 4, 1), simop.Insmod)
	add("minix-big-endian", edit(unsigned, 5, 2), simop.Insmod)
	add("minix-et-exec", edit(unsigned, 16, u16(2)...), simop.Insmod)
	// A module built for the other architecture (EM_AARCH64 183, EM_X86_64 62):
	// elf_validity_checks' module_elf_check_arch refuses it.
	if k.IsArm64() {
		add("minix-x86_64", edit(unsigned, 18, u16(62)...), simop.Insmod)
	} else {
		add("minix-aarch64", edit(unsigned, 18, u16(183)...), simop.Insmod)
	}
	add("minix-shentsize", edit(unsigned, 58, u16(0x30)...), simop.Insmod)
	add("minix-shoff-past-end", edit(unsigned, 40, u64(uint64(len(unsigned)))...), simop.Insmod)
	add("minix-shstrndx", edit(unsigned, 62, u16(0x7fff)...), simop.Insmod)

	badMagic, err := replaceOnce(unsigned, " mod_unload ", " mod_unlaoX ")
	if err != nil {
		return nil, fmt.Errorf("minix vermagic: %w", err)
	}
	add("minix-vermagic", badMagic, simop.Insmod)
	add("minix-vermagic-forced", badMagic, simop.InsmodForce)
	add("minix-unsigned-forced", unsigned, simop.InsmodForce)

	// A symbol table whose string table does not start with NUL: only 7.2's
	// elf_validity_cache_strtab looks (StrtabChecks).
	if st := uf.Section(".strtab"); st != nil && st.Size > 0 {
		add("minix-strtab-lead", edit(unsigned, int(st.Offset), 'x'), simop.Insmod)
	}

	// CRC edits, where the kernel has modversions (Debian's 7.x does not: minix has no
	// __versions there, and its vermagic says so).
	vers := uf.Section("__versions")
	if vers == nil && strings.Contains(string(unsigned), "modversions") {
		return nil, fmt.Errorf("minix.ko: vermagic says modversions but there is no __versions")
	}
	var vs []ko.Version
	if vers != nil {
		if vs, err = uf.Versions(); err != nil {
			return nil, err
		}
	}
	// Edit the CRC of module_layout (checked by check_modstruct_version) and of the first
	// ordinary import, force past the latter, and blank the latter's name (no version).
	plain := -1
	for i, v := range vs {
		off := int(vers.Offset) + 64*i
		if v.Name == "module_layout" {
			add("minix-crc-module_layout", edit(unsigned, off, u64(v.CRC^0xdeadbeef)...), simop.Insmod)
		} else if plain < 0 {
			plain = i
			add("minix-crc-"+v.Name, edit(unsigned, off, u64(v.CRC^0xdeadbeef)...), simop.Insmod)
			add("minix-crc-"+v.Name+"-forced", edit(unsigned, off, u64(v.CRC^0xdeadbeef)...), simop.InsmodForce)
			add("minix-noversion-"+v.Name, edit(unsigned, off+8, 0), simop.Insmod)
		}
	}

	b := &Batch{Name: "mutations"}
	rm := func() { b.add(simop.RmmodForce, "minix", "") }
	for _, m := range muts {
		p, err := b.file(dir, m.name+".ko", m.data)
		if err != nil {
			return nil, err
		}
		b.add(m.kind, p, "")
		rm()
	}
	for _, c := range []struct {
		ext  string
		tool []string
	}{{".xz", []string{"xz", "-C", "crc32", "-c"}}, {".zst", []string{"zstd", "-q", "-c"}}, {".gz", []string{"gzip", "-n", "-c"}}} {
		data, err := compress(signed, c.tool...)
		if err != nil {
			return nil, err
		}
		p, err := b.file(dir, "minix.ko"+c.ext, data)
		if err != nil {
			return nil, err
		}
		b.add(simop.Insmod, p, "")
		rm()
		b.add(simop.Init, p, "")
		rm()
	}

	// Playground edits: license and namespace import.
	exporter, err := read(playground.Exporter)
	if err != nil {
		return nil, err
	}
	pexp, err := b.file(dir, "pg_exporter.ko", exporter)
	if err != nil {
		return nil, err
	}
	b.add(simop.Insmod, pexp, "")
	for _, e := range []struct{ mod, old, new string }{
		{playground.UseGPL, "license=GPL\x00", "license=BSD\x00"},
		{playground.UseNS, "import_ns=PG_NS", "import_ns=PG_NX"},
		{playground.UsePlain, "license=GPL\x00", "license=MIT\x00"},
	} {
		data, err := read(e.mod)
		if err != nil {
			return nil, err
		}
		edited, err := replaceOnce(data, e.old, e.new)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.mod, err)
		}
		p, err := b.file(dir, e.mod+"-edited.ko", edited)
		if err != nil {
			return nil, err
		}
		b.add(simop.Insmod, p, "")
		b.add(simop.RmmodForce, e.mod, "")
	}

	// The same signature cases under module.sig_enforce=1.
	enf := &Batch{Name: "sig-enforce", Append: "module.sig_enforce=1"}
	for _, m := range muts {
		switch m.name {
		case "minix-signed", "minix-unsigned", "minix-sig-flipped", "minix-trunc-last-byte", "minix-unsigned-forced", "minix-vermagic-forced":
			p, err := enf.file(dir, "enforce-"+m.name+".ko", m.data)
			if err != nil {
				return nil, err
			}
			enf.add(m.kind, p, "")
			enf.add(simop.RmmodForce, "minix", "")
		}
	}
	return []*Batch{b, enf}, nil
}
