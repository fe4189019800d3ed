// Package index reads and writes kmod's binary module indexes (modules.dep.bin,
// modules.alias.bin, modules.symbols.bin, modules.builtin.bin,
// modules.builtin.alias.bin), the only form libkmod consults at run time.
//
// The format (libkmod/libkmod-index.c, tools/depmod.c) is a Patricia trie of 7-bit ASCII
// keys, each key holding values sorted by a priority. Readers follow node offsets and
// never assume a node order, so both kmod ≤ 33's post-order files and kmod ≥ 34's
// pre-order files read the same. The writer reproduces depmod's bytes exactly in either
// order. A hostile file yields an error, never a panic or a hang.
package index
