// Package depmod generates the files kmod's depmod writes into a module directory —
// modules.dep(.bin), modules.alias(.bin), modules.softdep, modules.symbols(.bin),
// modules.builtin.bin, modules.builtin.alias.bin and modules.devname — byte for byte as
// Debian 12's kmod 30 writes them (tools/depmod.c), warnings and their order included.
//
// Modules are read in parallel (decompression dominates for .ko.xz trees); everything
// that decides the output is then done in kmod's order: the module list in modules.order
// order (kmod's hash-table order for the modules it does not list), symbols in kmod's
// hash-table order (SuperFastHash & 2047, then strcmp), indexes in post-order. Files are
// replaced atomically: each is written to a temporary file in the same directory and
// renamed over the old one, so an interrupted run leaves every file either old or new.
//
// Options.Kmod = compat.Kmod34 (the default) also follows kmod 34.2 where it differs:
// modules.weakdep, pre-order indexes, and the refusal of a .ko.zst whose zstd frame does
// not record its decompressed size (libkmod-file-zstd.c's "zstd: Failed to determine
// decompression size", three times a module, which then brings no symbols, aliases or
// dependencies); kmod 30 reads such a file.
//
// Deliberate divergences from Debian's kmod 30 depmod:
//   - Like Debian's build (without zlib), ".ko.gz" files are not modules; Options.Extensions
//     can add them.
//   - Options.OutDir (--outdir, kmod 31) and Options.ModuleDir (--moduledir, kmod 33's -m)
//     exist; kmod 30's -m stays the deprecated no-op it is there.
//   - A module file that disappears between the directory walk and its reading is
//     reported when read ("failed to load symbols"), where kmod's stat at walk time would
//     say "could not create module".
//   - -vv's INFO lines ("custom logging function %p registered", "context %p
//     released") print gokmod's own pointers. The DEBUG messages of -vvv (depmod's own,
//     and under kmod 30, a debug build, libkmod's) are not reproduced.
package depmod
