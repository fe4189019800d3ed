package index_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/config"
	"gokmod/kmod/index"
)

// depmodEntry is one index_insert call of depmod.
type depmodEntry struct {
	key, value string
	prio       uint32
}

// The derivations below re-create depmod's (kmod 30, tools/depmod.c output_*_bin)
// insertions from the text files it wrote alongside, in the same order.

// depEntries: output_deps_bin inserts (modname, "path: deps", mod->idx) per module in
// modules.dep order; mod->idx is that line's position.
func depEntries(moddir string) ([]depmodEntry, map[string]uint32, error) {
	lines, err := readLines(filepath.Join(moddir, "modules.dep"))
	if err != nil {
		return nil, nil, err
	}
	idx := map[string]uint32{}
	var out []depmodEntry
	for i, line := range lines {
		path, _, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf("modules.dep line %d: %q", i+1, line)
		}
		mod := config.PathToModname(path)
		idx[mod] = uint32(i)
		out = append(out, depmodEntry{mod, line, uint32(i)})
	}
	return out, idx, nil
}

// aliasEntries: output_aliases_bin inserts (alias_normalize(alias), modname, mod->idx)
// for each "alias" of each module, in the order modules.alias lists them; symbols
// likewise with the "symbol:" key and the hash-table order of modules.symbols.
func aliasEntries(file string, idx map[string]uint32) ([]depmodEntry, error) {
	lines, err := readLines(file)
	if err != nil {
		return nil, err
	}
	var out []depmodEntry
	for _, line := range lines {
		if strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, "alias ")
		sp := strings.LastIndexByte(rest, ' ')
		if !ok || sp < 0 {
			return nil, fmt.Errorf("%s: bad line %q", file, line)
		}
		alias, mod := rest[:sp], rest[sp+1:]
		prio, ok := idx[mod]
		if !ok {
			return nil, fmt.Errorf("%s: module %q not in modules.dep", file, mod)
		}
		key := alias
		if !strings.HasPrefix(alias, "symbol:") {
			if key, err = config.AliasNormalize(alias); err != nil {
				continue // depmod: "Unmatched bracket", skipped
			}
		}
		out = append(out, depmodEntry{key, mod, prio})
	}
	return out, nil
}

// builtinEntries: output_builtin_bin inserts (path_to_modname(line), "", 0) for each
// modules.builtin line that starts with a letter.
func builtinEntries(moddir string) ([]depmodEntry, error) {
	lines, err := readLines(filepath.Join(moddir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	var out []depmodEntry
	for _, line := range lines {
		if line == "" || !isAlpha(line[0]) {
			continue
		}
		out = append(out, depmodEntry{config.PathToModname(line), "", 0})
	}
	return out, nil
}

func isAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

// builtinAliasEntries ports output_builtin_alias_bin's stream parser of
// modules.builtin.modinfo ("modname.key=value\0" records), quirks included: a field
// cut short by NUL or EOF reads as empty, and a non-alias key skips to the next NUL.
func builtinAliasEntries(moddir string) ([]depmodEntry, error) {
	data, err := os.ReadFile(filepath.Join(moddir, "modules.builtin.modinfo"))
	if err != nil {
		return nil, err
	}
	pos := 0
	eof := func() bool { return pos >= len(data) }
	// flushTo reads up to endchar, NUL or EOF; the text counts only if endchar ended it.
	flushTo := func(endchar byte) string {
		start := pos
		for pos < len(data) && data[pos] != endchar && data[pos] != 0 {
			pos++
		}
		s := string(data[start:pos])
		hit := pos < len(data) && data[pos] == endchar
		if pos < len(data) {
			pos++ // fgetc consumed the terminator
		}
		if !hit {
			return ""
		}
		return s
	}
	var out []depmodEntry
	for !eof() {
		modname := flushTo('.')
		if modname == "" {
			continue
		}
		if flushTo('=') != "alias" {
			flushTo(0)
			continue
		}
		value := flushTo(0)
		if value == "" {
			continue
		}
		alias, err := config.AliasNormalize(value)
		if err != nil {
			continue
		}
		out = append(out, depmodEntry{alias, modname, 0})
	}
	return out, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

func build(t *testing.T, entries []depmodEntry) []byte {
	t.Helper()
	b := index.NewBuilder()
	for _, e := range entries {
		if _, err := b.Insert(e.key, e.value, e.prio); err != nil {
			t.Fatal(err)
		}
	}
	data, err := b.Bytes(index.PostOrder)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestDebianIndexesByteIdentical rebuilds all five indexes of Debian's 6.1 and 6.12
// trees from depmod's own inputs and text outputs and compares them byte for byte with
// what Debian 12's depmod (kmod 30) wrote.
func TestDebianIndexesByteIdentical(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		moddir := k.ModDir()
		t.Run(k.Release, func(t *testing.T) {
			t.Parallel()
			dep, idx, err := depEntries(moddir)
			if err != nil {
				t.Fatal(err)
			}
			alias, err := aliasEntries(filepath.Join(moddir, "modules.alias"), idx)
			if err != nil {
				t.Fatal(err)
			}
			syms, err := aliasEntries(filepath.Join(moddir, "modules.symbols"), idx)
			if err != nil {
				t.Fatal(err)
			}
			builtin, err := builtinEntries(moddir)
			if err != nil {
				t.Fatal(err)
			}
			balias, err := builtinAliasEntries(moddir)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				file    string
				entries []depmodEntry
			}{
				{"modules.dep.bin", dep},
				{"modules.alias.bin", alias},
				{"modules.symbols.bin", syms},
				{"modules.builtin.bin", builtin},
				{"modules.builtin.alias.bin", balias},
			} {
				want, err := os.ReadFile(filepath.Join(moddir, c.file))
				if err != nil {
					t.Fatal(err)
				}
				got := build(t, c.entries)
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d entries give %d bytes, depmod wrote %d; first difference at %d",
						c.file, len(c.entries), len(got), len(want), firstDiff(got, want))
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
