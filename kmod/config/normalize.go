package config

import (
	"errors"
	"strings"
	"unsafe"
)

// pathMax is Linux's PATH_MAX: kmod normalizes names into buffers of this size and
// silently truncates longer ones to pathMax-1 bytes.
const pathMax = 4096

// ErrUnmatchedBracket reports an alias or module name whose '[' has no ']' or whose ']'
// has no '['. kmod rejects such names ("Unmatched bracket", "ignoring bad line").
var ErrUnmatchedBracket = errors.New("unmatched bracket")

// AliasNormalize is kmod's alias_normalize (shared/util.c): every '-' becomes '_'
// except inside a "[...]" range, so "snd-hda-*" and "snd_hda_*" are one alias while
// "[0-9]" keeps its range. depmod uses it for modules.alias.bin keys and modprobe for
// the name it is asked to look up. Names longer than PATH_MAX-1 are truncated, as in kmod.
func AliasNormalize(alias string) (string, error) {
	alias = cstring(alias)
	if len(alias) > pathMax-1 {
		alias = alias[:pathMax-1]
	}
	// Checked first, changed only if needed: most aliases (pci:, usb:, acpi*:) have no
	// '-' to change, and depmod normalizes some 25,000 of them for modules.alias.bin.
	dash := false
	for i := 0; i < len(alias); i++ {
		switch alias[i] {
		case '-':
			dash = true
		case ']':
			return "", ErrUnmatchedBracket
		case '[':
			for i < len(alias) && alias[i] != ']' {
				i++
			}
			if i == len(alias) {
				return "", ErrUnmatchedBracket
			}
		}
	}
	if !dash {
		return alias, nil
	}
	b := []byte(alias)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '-':
			b[i] = '_'
		case '[':
			for b[i] != ']' {
				i++
			}
		}
	}
	return unsafe.String(&b[0], len(b)), nil // b is not written again
}

// Underscores is kmod's underscores(): the in-place variant that modprobe.d parsing
// applies to alias patterns and module names. It differs from AliasNormalize only in
// never truncating.
func Underscores(s string) (string, error) {
	out, err := underscoresPartial(s)
	if err != nil {
		return "", err
	}
	return out, nil
}

// underscoresPartial also returns the string as kmod left it when it gave up (dashes
// before the bad bracket already turned), which kmod prints in its message.
func underscoresPartial(s string) (string, error) {
	b := []byte(cstring(s))
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '-':
			b[i] = '_'
		case ']':
			return string(b), ErrUnmatchedBracket
		case '[':
			j := strings.IndexByte(string(b[i:]), ']')
			if j < 0 {
				return string(b), ErrUnmatchedBracket
			}
			i += j
		}
	}
	return string(b), nil
}

// ModnameNormalize is kmod's modname_normalize: '-' becomes '_' and the name ends at
// the first '.', so "snd-hda-intel.ko.xz" names the module "snd_hda_intel".
func ModnameNormalize(name string) string {
	name = cstring(name)
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	if len(name) > pathMax-1 {
		name = name[:pathMax-1]
	}
	return strings.ReplaceAll(name, "-", "_")
}

// PathToModname is kmod's path_to_modname: the normalized module name of a module
// file's path. It returns "" where kmod returns NULL (an empty base name, as for a path
// ending in '/').
func PathToModname(p string) string {
	p = cstring(p)
	base := p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		base = p[i+1:]
	}
	if base == "" {
		return ""
	}
	return ModnameNormalize(base)
}

// cstring cuts s at its first NUL byte, where C would see the string end.
func cstring(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}
