package tool

import (
	"fmt"

	"gokmod/kmod/compat"
	"gokmod/kmod/modprobe"
)

// libkmodCtx stands for the kmod_ctx insmod and rmmod make: libkmod's messages go through
// tools/log.c's log_kmod at the tool's verbosity, and the context's set-up and release
// announce themselves at INFO (-vv past the tool's default, LOG_ERR). Pointers are
// gokmod's own, as libkmod's are its process's.
type libkmodCtx struct {
	log     func(prio int, at modprobe.Source, msg string)
	verbose int
}

// newLibkmodCtx is kmod_new followed by log_setup_kmod_log: kmod_set_log_fn's INFO line.
func newLibkmodCtx(e *Env, k compat.Kmod, verbose int) *libkmodCtx {
	c := &libkmodCtx{log: libkmodLogger(e, k), verbose: verbose}
	c.logf(logInfo, modprobe.Source{File: "libkmod.c", Line: 367, Fn: "kmod_set_log_fn"}, "custom logging function %p registered\n", c.log)
	return c
}

// logf is libkmod's ERR/INFO: dropped above the verbosity.
func (c *libkmodCtx) logf(prio int, at modprobe.Source, format string, args ...any) {
	if prio <= c.verbose {
		c.log(prio, at, fmt.Sprintf(format, args...))
	}
}

// unref is kmod_unref releasing the context, at the tool's end.
func (c *libkmodCtx) unref() {
	c.logf(logInfo, modprobe.Source{File: "libkmod.c", Line: 334, Fn: "kmod_unref"}, "context %p released\n", c)
}
