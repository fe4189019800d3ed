package load

import (
	"strings"

	"golang.org/x/sys/unix"
)

// blacklisted mirrors blacklisted(): module_blacklist= on the command line is a comma
// list of exact names, compared with info->name.
func (c *call) blacklisted(info *loadInfo) unix.Errno {
	for _, n := range strings.Split(c.m.K.ModuleBlacklist(), ",") {
		if n != "" && n == info.name {
			c.log(LevelErr, "Module %s is blacklisted", info.name)
			return c.step("blacklisted", unix.EPERM, "module_blacklist= names it")
		}
	}
	return 0
}

// rewriteSectionHeaders mirrors rewrite_section_headers: sh_addr becomes the address in
// the temporary copy, and __versions and .modinfo lose SHF_ALLOC (index 0 when absent
// or ignored, which leaves section 0 unchanged).
func (c *call) rewriteSectionHeaders(info *loadInfo) {
	info.sechdrs[0].addr = 0
	for i := 1; i < len(info.sechdrs); i++ {
		info.sechdrs[i].addr = tempImageBase + info.sechdrs[i].offset
	}
	info.sechdrs[info.index.vers].flags &^= shfAlloc
	info.sechdrs[info.index.info].flags &^= shfAlloc
	c.step("rewrite_section_headers", 0, "__versions index %d, .modinfo index %d no longer SHF_ALLOC", info.index.vers, info.index.info)
}
