package load

import (
	"fmt"
	"gokmod/kernel"
	"iter"
	"strings"

	"golang.org/x/sys/unix"
)

// versions yields the file offset of each struct modversion_info of __versions (sh_size
// / sizeof(struct modversion_info) of them, as check_version counts) that lies inside
// the image.
func (c *call) versions(info *loadInfo) iter.Seq[uint64] {
	s := info.sechdrs[info.index.vers]
	n := c.m.st.ModversionInfo.Size
	return func(yield func(uint64) bool) {
		for i := uint64(0); i < s.size/n; i++ {
			off := s.offset + i*n
			if off+n > uint64(len(info.hdr)) || !yield(off) {
				return
			}
		}
	}
}

// tryToForceLoad mirrors try_to_force_load: with CONFIG_MODULE_FORCE_LOAD the kernel
// warns (once: only while F is unset), taints F and carries on; otherwise ENOEXEC.
func (c *call) tryToForceLoad(mod *module, reason string) unix.Errno {
	if !c.m.K.Config.ForceLoad() {
		return unix.ENOEXEC
	}
	if !c.testTaint(TaintForcedModule) {
		c.log(LevelWarn, "%s: %s: kernel tainted.", mod.Name, reason)
	}
	c.addTaintModule(mod, TaintForcedModule) // LOCKDEP_NOW_UNRELIABLE
	c.lockdepUnreliable()
	return 0
}

// checkVersion mirrors check_version (kernel/module/version.c). A symbol missing from
// __versions is where distributions differ: upstream warns once per boot ("Broken
// toolchain. Warn once, then let it go..") and accepts it; Debian patches it into an
// error on every line it ships. crc is nil when the exporter has no CRC table.
func (c *call) checkVersion(info *loadInfo, mod *module, symname string, crc *uint32) bool {
	if !c.m.K.Config.Modversions() || crc == nil {
		return true
	}
	if info.index.vers == 0 {
		return c.tryToForceLoad(mod, symname) == 0
	}
	l := c.m.st.ModversionInfo
	for off := range c.versions(info) {
		if !cnameIs(info.hdr[off+l.Name:off+l.Name+l.NameLen], symname) {
			continue
		}
		if u64(info.hdr, off+l.CRC) == uint64(*crc) {
			return true
		}
		c.log(LevelWarn, "%s: disagrees about version of symbol %s", info.name, symname)
		return false
	}
	if !c.debianCheckVersion() {
		c.logOnce("check_version", LevelWarn, "%s: no symbol version for %s", info.name, symname)
		return true
	}
	c.log(LevelWarn, "%s: no symbol version for %s", info.name, symname)
	return false
}

// DebianCheckVersionPatch is Debian's change to check_version that the model applies:
// a symbol missing from __versions is refused where upstream warns once and accepts it.
const DebianCheckVersionPatch = "Debian: check_version refuses a symbol missing from __versions (upstream warns once and accepts it)"

// Patches are the distribution's patches to the loader that the model applies to k:
// Debian's check_version (assumed when the distribution is unknown, see
// debianCheckVersion), which a kernel without CONFIG_MODVERSIONS (Debian's 7.x) never
// reaches.
func Patches(k *kernel.Kernel) []string {
	if (k.Distro == "Debian" || k.Distro == "") && k.Config.Modversions() {
		return []string{DebianCheckVersionPatch}
	}
	return []string{}
}

// debianCheckVersion tells whether check_version has Debian's patch: on a Debian kernel,
// and on one whose distribution is unknown (no readable image: the project's kernels are
// Debian's), saying so.
func (c *call) debianCheckVersion() bool {
	switch c.m.K.Distro {
	case "Debian":
		return true
	case "":
		c.uncertain("the kernel's distribution is unknown (no readable kernel image): Debian's check_version is assumed, which refuses a symbol missing from __versions where upstream warns once and accepts it")
		return true
	}
	return false
}

// versionVerdict says, for explain, what check_version will find for symname.
func (c *call) versionVerdict(info *loadInfo, symname string, crc *uint32) string {
	switch {
	case !c.m.K.Config.Modversions():
		return "kernel without modversions: no CRC check"
	case crc == nil:
		return "exporter has no CRC: not checked"
	case info.index.vers == 0:
		return "module has no __versions: forced"
	}
	l := c.m.st.ModversionInfo
	for off := range c.versions(info) {
		if !cnameIs(info.hdr[off+l.Name:off+l.Name+l.NameLen], symname) {
			continue
		}
		if have := u64(info.hdr, off+l.CRC); have != uint64(*crc) {
			return fmt.Sprintf("CRC mismatch: module %#08x, kernel %#08x", have, *crc)
		}
		return fmt.Sprintf("CRC %#08x matches", *crc)
	}
	return "no symbol version in __versions"
}

// cnameIs is strcmp(b, s) == 0 for a C string in a fixed buffer, without allocating:
// check_version compares every __versions entry for every imported symbol.
func cnameIs(b []byte, s string) bool {
	if len(s) > len(b) || string(b[:len(s)]) != s {
		return false
	}
	return len(s) == len(b) || b[len(s)] == 0
}

// checkModstructVersion mirrors check_modstruct_version: module_layout's CRC.
func (c *call) checkModstructVersion(info *loadInfo, mod *module) unix.Errno {
	const fn = "check_modstruct_version"
	if !c.m.K.Config.Modversions() {
		c.step(fn, 0, "no CONFIG_MODVERSIONS")
		return 0
	}
	var crc *uint32
	if s, ok := c.m.K.Export("module_layout"); ok && s.HasCRC {
		crc = &s.CRC
	}
	if !c.checkVersion(info, mod, "module_layout", crc) {
		return c.step(fn, unix.ENOEXEC, "module_layout CRC check failed")
	}
	if info.index.vers == 0 {
		c.step(fn, 0, "no __versions in use: forced load")
	} else {
		c.step(fn, 0, "module_layout CRC matches")
	}
	return 0
}

// sameMagic mirrors same_magic: with CRCs in use the release part (up to the first
// space) is ignored.
func (c *call) sameMagic(a, b string, hasCRCs bool) bool {
	if hasCRCs && c.m.K.Config.Modversions() {
		a = a[strings.IndexByte(a+" ", ' '):]
		b = b[strings.IndexByte(b+" ", ' '):]
	}
	return a == b
}
