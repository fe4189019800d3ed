package load

import "golang.org/x/sys/unix"

// FinitModuleNotRegular predicts finit_module(2) on a descriptor open on something other
// than a regular file — a FIFO, a character or block device, a directory — described by
// kind ("FIFO"): sys_ni_syscall, may_init_module and the flags check as for any file, then
// kernel_read_file's "if (!S_ISREG(file_inode(file)->i_mode)) return -EINVAL;" before a
// byte is read, and before the parameters are copied (6.1: kernel_read_file_from_fd; 6.12: init_module_from_file, after
// idempotent_init_module's FMODE_READ check, which a descriptor opened for reading passes).
func (m *Model) FinitModuleNotRegular(kind string, flags Flags) *Result {
	c := m.newCall()
	if e := c.syscallExists("finit_module"); e != 0 {
		return c.finish(e)
	}
	if e := c.mayInitModule(); e != 0 {
		return c.finish(e)
	}
	if flags&^c.knownFlags() != 0 {
		return c.finish(c.step("finit_module", unix.EINVAL, "unknown flags %#x", uint32(flags)))
	}
	return c.finish(c.step("kernel_read_file", unix.EINVAL, "not a regular file (a %s)", kind))
}
