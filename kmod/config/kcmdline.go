package config

import (
	"bytes"
	"fmt"
	"strings"
)

// kcmdlineSize is libkmod's KCMD_LINE_SIZE: at most this minus one byte is read.
const kcmdlineSize = 4096

// parseKcmdline is kmod_config_parse_kcmdline: a state machine over /proc/cmdline that
// turns "mod.param[=value]" words into options and "modprobe.blacklist=a,b" into
// blacklist entries. A value may be quoted and contain spaces; a whole word quoted by
// the boot loader ("mod.param=a b") is re-quoted as mod param="a b"; any other quote or
// an '=' or second '.' in the wrong place makes the word ignored.
func (c *Config) parseKcmdline(data []byte) {
	if len(data) > kcmdlineSize-1 {
		data = data[:kcmdlineSize-1]
	}
	// A C string: it ends at the first NUL, and buf[len] reads as NUL.
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}
	buf := append(append([]byte(nil), data...), 0)
	const (
		stIgnore = iota
		stModname
		stParam
		stValue
		stComplete
	)
	state := stModname
	quoteStart := -1
	modname, param, value := 0, -1, -1
	quoted := false
	for p, iter := 0, true; iter; p++ {
		switch buf[p] {
		case '"':
			quoted = !quoted
			// Only a quote as the word's first byte is allowed while reading a name.
			if quoted && state == stModname && p == modname {
				quoteStart = p
				modname = p + 1
			} else if state != stValue {
				state = stIgnore
			}
		case 0, ' ', '\n', '\t', '\v', '\f', '\r':
			if buf[p] == 0 {
				iter = false
			}
			switch {
			case quoted && state == stValue:
				// spaces inside a quoted value
			case quoted:
				state = stIgnore
			case state == stValue || state == stParam:
				buf[p] = 0
				state = stComplete
			default:
				modname = p + 1
				state = stModname
				quoteStart = -1
			}
		case '.':
			if state == stModname {
				buf[p] = 0
				param = p + 1
				state = stParam
			} else if state == stParam {
				state = stIgnore
			}
		case '=':
			if state == stParam {
				value = p + 1
				state = stValue
			} else if state == stModname {
				state = stIgnore
			}
		}
		if state == stComplete {
			if quoteStart >= 0 && quoteStart < modname {
				// "mod.param=a b" from the boot loader becomes mod.param="a b".
				copy(buf[quoteStart:], buf[modname:value])
				value--
				modname--
				param--
				buf[value] = '"'
			}
			v := ""
			if value >= 0 {
				v = cstr(buf, value)
			}
			c.kcmdlineResult(cstr(buf, modname), cstr(buf, param), v)
			modname = p + 1
			state = stModname
			quoteStart = -1
		}
	}
}

func cstr(buf []byte, at int) string {
	end := bytes.IndexByte(buf[at:], 0)
	return string(buf[at : at+end])
}

// kcmdlineResult is kcmdline_parse_result.
func (c *Config) kcmdlineResult(modname, param, value string) {
	if modname == "modprobe" && strings.HasPrefix(param, "blacklist=") {
		// strsep keeps empty fields: "modprobe.blacklist=a,,b" blacklists "" too.
		c.Blacklist = append(c.Blacklist, strings.Split(value, ",")...)
		return
	}
	m, err := underscoresPartial(modname)
	if err != nil {
		c.Warnings = append(c.Warnings, &Warning{
			Origin: originKcmdline, Err: ErrBadKcmdline,
			Msg: fmt.Sprintf("Ignoring bad option on kernel command line while parsing module name: '%s'", m),
		})
		return
	}
	c.Options = append(c.Options, Option{Module: m, Options: strings.ReplaceAll(param, "\t", " ")})
}
