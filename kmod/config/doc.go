// Package config reads kmod's configuration with kmod 30's semantics: the modprobe.d
// directories (alias, blacklist, install, remove, options, softdep and, as an option,
// weakdep), modules.softdep slotted in among them, the kernel command line, and
// depmod.d (search, override, external, exclude). It also holds kmod's name
// normalization and renders `modprobe -c` byte for byte.
//
// Every path is read below a root prefix, so kmod's test-suite root file systems and
// unpacked kernel trees work as they are.
package config
