package load

import (
	"bytes"
	"strings"

	"golang.org/x/sys/unix"
)

// kparam is one struct kernel_param of the module (from __param after relocation).
type kparam struct {
	name  string
	ops   string // the kernel_param_ops symbol, e.g. "param_ops_int"; "" if the module defines its own
	perm  uint16
	level int8
	flags uint8
	arg   uint64
	// For param_array_ops: struct kparam_array { max, elemsize, *num, *ops, *elem }.
	arrMax, arrElemSize uint32
	arrOps              string
	// For param_ops_string: struct kparam_string { maxlen, *string }.
	strMaxlen uint32
}

// KERNEL_PARAM_FL_* flags.
const (
	paramFlUnsafe  = 1 << 0
	paramFlHWParam = 1 << 1
)

// noargOps have KERNEL_PARAM_OPS_FL_NOARG: "name" alone means "name=1".
var noargOps = map[string]bool{"param_ops_bool": true, "param_ops_bint": true, "param_ops_bool_enable_only": true}

// isspace is the kernel's _ctype space class: space, \t\n\v\f\r and Latin-1 NBSP.
func isspace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r' || c == 0xa0
}

// cstrAt reads the C string starting at i in buf.
func cstrAt(buf []byte, i int) string {
	j := bytes.IndexByte(buf[i:], 0)
	return string(buf[i : i+j])
}

func skipSpaces(buf []byte, i int) int {
	for isspace(buf[i]) {
		i++
	}
	return i
}

// nextArg mirrors lib/cmdline.c's next_arg on a NUL-terminated buffer: it splits one
// token at the first '=' (not at position 0), honours double quotes, writes NULs into
// buf, and returns the next position, param and val (-1 for NULL).
func nextArg(buf []byte, args int) (next, param, val int) {
	inQuote, quoted := false, false
	if buf[args] == '"' {
		args++
		inQuote, quoted = true, true
	}
	i, equals := 0, 0
	for ; buf[args+i] != 0; i++ {
		if isspace(buf[args+i]) && !inQuote {
			break
		}
		if equals == 0 && buf[args+i] == '=' {
			equals = i
		}
		if buf[args+i] == '"' {
			inQuote = !inQuote
		}
	}
	param, val = args, -1
	if equals != 0 {
		buf[args+equals] = 0
		val = args + equals + 1
		if buf[val] == '"' {
			val++
			if buf[args+i-1] == '"' {
				buf[args+i-1] = 0
			}
		}
	}
	if quoted && i > 0 && buf[args+i-1] == '"' {
		buf[args+i-1] = 0
	}
	if buf[args+i] != 0 {
		buf[args+i] = 0
		next = args + i + 1
	} else {
		next = args + i
	}
	return skipSpaces(buf, next), param, val
}

// parameq mirrors parameq: '-' and '_' are the same character.
func parameq(a, b string) bool {
	return strings.ReplaceAll(a, "-", "_") == strings.ReplaceAll(b, "-", "_")
}

// parseArgs mirrors parse_args(mod->name, args, kp, ...) with unknown_module_param_cb:
// errors do not stop parsing, the last one is returned; "--" ends it. It returns what
// follows "--" (printed as ignored by load_module) and whether "--" was seen.
func (c *call) parseArgs(info *loadInfo, mod *module, args string) (string, bool, unix.Errno) {
	buf := append([]byte(args), 0)
	p := skipSpaces(buf, 0)
	var err unix.Errno
	for buf[p] != 0 {
		next, param, val := nextArg(buf, p)
		p = next
		if val < 0 && cstrAt(buf, param) == "--" {
			if err != 0 {
				return "", false, err
			}
			return cstrAt(buf, p), true, 0
		}
		ret := c.parseOne(info, mod, buf, param, val)
		if ret == 0 {
			continue
		}
		v := ""
		if val >= 0 {
			v = cstrAt(buf, val)
		}
		if ret == unix.ENOSPC {
			c.log(LevelErr, "%s: `%s' too large for parameter `%s'", mod.Name, v, cstrAt(buf, param))
		} else {
			c.log(LevelErr, "%s: `%s' invalid for parameter `%s'", mod.Name, v, cstrAt(buf, param))
		}
		err = ret
	}
	return "", false, err
}

// parseOne mirrors parse_one: find the parameter, refuse a missing value unless the ops
// take none, check unsafe/hardware params, and call the setter.
func (c *call) parseOne(info *loadInfo, mod *module, buf []byte, param, val int) unix.Errno {
	name := cstrAt(buf, param)
	for _, kp := range mod.params {
		if !parameq(name, kp.name) {
			continue
		}
		if val < 0 && !noargOps[kp.ops] {
			return unix.EINVAL
		}
		if kp.flags&paramFlHWParam != 0 {
			if locked, _ := c.lockedDown(reasonModuleParameters); locked {
				return unix.EPERM
			}
		}
		if kp.flags&paramFlUnsafe != 0 {
			c.log(LevelNotice, "Setting dangerous option %s - tainting kernel", kp.name)
			c.addTaint(TaintUser)
		}
		return c.paramSet(info, kp, kp.ops, kp.name, buf, val)
	}
	return c.unknownModuleParam(mod, buf, param, val)
}

// unknownModuleParam mirrors unknown_module_param_cb and the dynamic debug hook: it
// never fails the load.
func (c *call) unknownModuleParam(mod *module, buf []byte, param, val int) unix.Errno {
	name := cstrAt(buf, param)
	if name == "async_probe" {
		return 0
	}
	if c.m.K.Config.DynamicDebugCore() {
		// ddebug_dyndbg_param_cb: split at the first '.' by writing a NUL.
		if dot := strings.IndexByte(name, '.'); dot >= 0 {
			buf[param+dot] = 0
			name = name[dot+1:]
		}
		if name == "dyndbg" {
			if val >= 0 {
				c.uncertain("dyndbg query %q: parse errors it may log are not modelled", cstrAt(buf, val))
			}
			return 0
		}
	} else if name == "dyndbg" {
		c.log(LevelWarn, "dyndbg param is supported only in CONFIG_DYNAMIC_DEBUG builds")
		return 0
	}
	c.log(LevelWarn, "%s: unknown parameter '%s' ignored", mod.Name, cstrAt(buf, param))
	return 0
}

// paramSet runs the setter of ops on the value at val (-1: NULL) for parameter name.
func (c *call) paramSet(info *loadInfo, kp *kparam, ops, name string, buf []byte, val int) unix.Errno {
	s := ""
	if val >= 0 {
		s = cstrAt(buf, val)
	}
	var e unix.Errno
	switch ops {
	case "param_ops_byte":
		_, e = kstrtoUnsigned(s, 8)
	case "param_ops_short":
		_, e = kstrtoSigned(s, 16)
	case "param_ops_ushort":
		_, e = kstrtoUnsigned(s, 16)
	case "param_ops_int":
		_, e = kstrtoSigned(s, 32)
	case "param_ops_uint", "param_ops_hexint":
		_, e = kstrtoUnsigned(s, 32)
	case "param_ops_long":
		_, e = kstrtoSigned(s, 64)
	case "param_ops_ulong", "param_ops_ullong":
		_, e = kstrtoUnsigned(s, 64)
	case "param_ops_bool", "param_ops_bint":
		if val < 0 {
			s = "1"
		}
		_, e = kstrtobool(s)
	case "param_ops_invbool":
		_, e = kstrtobool(s)
	case "param_ops_bool_enable_only":
		if val < 0 {
			s = "1"
		}
		var v bool
		if v, e = kstrtobool(s); e == 0 && !v && c.boolAt(info, kp.arg) {
			e = unix.EROFS
		}
	case "param_ops_charp":
		if len(s) > 1024 {
			c.log(LevelErr, "%s: string parameter too long", name)
			e = unix.ENOSPC
		}
	case "param_ops_string":
		if uint32(len(s)) >= kp.strMaxlen {
			c.log(LevelErr, "%s: string doesn't fit in %d chars.", name, int32(kp.strMaxlen-1))
			e = unix.ENOSPC
		}
	case "param_array_ops":
		e = c.paramArray(info, kp, name, buf, val)
	default:
		c.uncertain("parameter %s uses %s, whose setter the model cannot run: assumed to accept %q", name, opsOrOwn(ops), s)
	}
	return e
}

func opsOrOwn(ops string) string {
	if ops == "" {
		return "the module's own kernel_param_ops"
	}
	return ops
}

// boolAt reads the bool a parameter points to (its compiled-in value).
func (c *call) boolAt(info *loadInfo, addr uint64) bool {
	b := info.mem.at(addr, 1)
	return b != nil && b[0] != 0
}

// paramArray mirrors param_array: comma-separated elements, each NUL-terminated in
// place (so the value printed after an error is cut at the first processed comma).
func (c *call) paramArray(info *loadInfo, kp *kparam, name string, buf []byte, val int) unix.Errno {
	num := uint32(0)
	elem := &kparam{name: name, strMaxlen: kp.strMaxlen}
	for {
		if num == kp.arrMax {
			c.log(LevelErr, "%s: can only take %d arguments", name, int32(kp.arrMax))
			return unix.EINVAL
		}
		n := 0
		for buf[val+n] != 0 && buf[val+n] != ',' {
			n++
		}
		save := buf[val+n]
		buf[val+n] = 0
		if e := c.paramSet(info, elem, kp.arrOps, name, buf, val); e != 0 {
			return e
		}
		val += n + 1
		num++
		if save != ',' {
			break
		}
	}
	if num < 1 {
		c.log(LevelErr, "%s: needs at least %d arguments", name, 1)
		return unix.EINVAL
	}
	return 0
}
