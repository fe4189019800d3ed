package load

import "golang.org/x/sys/unix"

// doInitModule mirrors do_init_module: the model cannot run init, so it asks
// Options.InitResult (default 0). init < 0 fails the load silently with that errno;
// init > 0 warns and continues; success makes the module LIVE, drops the init
// reference and frees the init regions (initsize becomes 0).
func (c *call) doInitModule(mod *module) unix.Errno {
	const fn = "do_init_module"
	ret := 0
	if mod.hasInit {
		if f := c.m.Opts.InitResult; f != nil {
			ret = f(mod.Name)
		} else {
			c.uncertain("%s's init function is assumed to return 0", mod.Name)
		}
	}
	if ret == -int(unix.EEXIST) && c.m.Has(InitEexistEbusy) {
		// -EEXIST is finit_module's answer to "already loaded": an init returning it
		// is reported as -EBUSY.
		ret = -int(unix.EBUSY)
	}
	if ret < 0 {
		mod.state = stateGoing
		c.m.unlink(mod)
		return c.step(fn, unix.Errno(-ret), "init returned %d", ret)
	}
	if ret > 0 && c.m.Has(InitEexistEbusy) {
		c.log(LevelWarn, "%s: init suspiciously returned %d, it should follow 0/-E convention", mod.Name, ret)
	} else if ret > 0 {
		c.log(LevelWarn, "do_init_module: '%s'->init suspiciously returned %d, it should follow 0/-E convention\ndo_init_module: loading module anyway...", mod.Name, ret)
		c.uncertain("a stack dump follows the suspicious-return warning")
	}
	mod.state = stateLive
	mod.refcnt-- // module_put of the reference held during init
	c.step(fn, 0, "init returned %d; module is live", ret)
	return 0
}
