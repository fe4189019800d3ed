package config

import (
	"bufio"
	"io"
	"strings"

	"gokmod/kmod/index"
)

// WriteConfig writes the configuration part of `modprobe -c` (tools/modprobe.c
// show_config): blacklist, install, remove, alias, options, softdep (and weakdep when
// parsed) lines in list order, then the banner that precedes the index dump.
func (c *Config) WriteConfig(w io.Writer) error {
	bw := bufio.NewWriter(w)
	line := func(kind, key, val string) {
		bw.WriteString(kind)
		bw.WriteByte(' ')
		bw.WriteString(key)
		bw.WriteByte(' ')
		bw.WriteString(val)
		bw.WriteByte('\n')
	}
	for _, b := range c.Blacklist {
		// The blacklist iterator has no value: kmod prints the key and a newline only.
		bw.WriteString("blacklist ")
		bw.WriteString(b)
		bw.WriteByte('\n')
	}
	for _, x := range c.Install {
		line("install", x.Module, x.Command)
	}
	for _, x := range c.Remove {
		line("remove", x.Module, x.Command)
	}
	for _, a := range c.Aliases {
		line("alias", a.Pattern, a.Module)
	}
	for _, o := range c.Options {
		line("options", o.Module, o.Options)
	}
	for _, d := range c.Softdeps {
		line("softdep", d.Module, softdepString(d))
	}
	for _, d := range c.Weakdeps {
		line("weakdep", d.Module, strings.Join(d.Deps, " "))
	}
	bw.WriteString("\n# End of configuration files. Dumping indexes now:\n\n")
	return bw.Flush()
}

// softdepString is softdep_to_char, quirk included: the post list follows the pre list
// without a separating space ("pre: a bpost: c").
func softdepString(d Softdep) string {
	var s strings.Builder
	if len(d.Pre) > 0 {
		s.WriteString("pre: ")
		s.WriteString(strings.Join(d.Pre, " "))
	}
	if len(d.Post) > 0 {
		s.WriteString("post: ")
		s.WriteString(strings.Join(d.Post, " "))
	}
	return s.String()
}

// ShowConfig writes all of `modprobe -c`: WriteConfig, then the alias and symbol
// indexes of the module directory dumped with the prefix "alias ". Missing indexes
// print nothing, as in kmod.
func (c *Config) ShowConfig(w io.Writer) error {
	if err := c.WriteConfig(w); err != nil {
		return err
	}
	return DumpIndexes(w, fsys{root: c.root}.real(c.ModuleDir))
}

// DumpIndexes writes the index half of `modprobe -c` for a module directory (a real
// path). modprobe loads all indexes first (kmod_load_resources); if a required one
// (dep, alias, symbols, builtin — builtin.alias is optional) fails to load, libkmod
// falls back to reading each dumped file unmapped, whose reader re-sorts each key's
// values. Both behaviours are reproduced.
func DumpIndexes(w io.Writer, moddir string) error {
	loaded := true
	for _, name := range []string{"modules.dep.bin", "modules.alias.bin", "modules.symbols.bin", "modules.builtin.bin"} {
		ix, err := index.Open(moddir + "/" + name)
		if err != nil {
			loaded = false
			break
		}
		ix.Close()
	}
	for _, name := range []string{"modules.alias.bin", "modules.symbols.bin"} {
		ix, err := index.Open(moddir + "/" + name)
		if err != nil {
			continue
		}
		if loaded {
			err = ix.Dump(w, "alias ")
		} else {
			err = ix.DumpUnmapped(w, "alias ")
		}
		ix.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
