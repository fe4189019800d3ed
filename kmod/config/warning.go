package config

import (
	"errors"
	"fmt"
	"strings"

	"gokmod/kmod/compat"
)

// Kinds of problems kmod reports and then skips; test with errors.Is on a Warning.
var (
	// ErrBadLine: a modprobe.d or depmod.d line with an unknown command or missing
	// arguments. kmod logs it and ignores the line.
	ErrBadLine = errors.New("ignoring bad line")
	// ErrDeprecated: the "include" and "config" commands, which kmod no longer parses.
	ErrDeprecated = errors.New("deprecated command")
	// ErrBadKcmdline: a "mod.param" on the kernel command line whose module name has an
	// unmatched bracket.
	ErrBadKcmdline = errors.New("bad option on kernel command line")
	// ErrNestedDir: a directory inside a configuration directory, which kmod skips.
	ErrNestedDir = errors.New("directories inside directories are not supported")
)

// Warning is one problem kmod 30 would log while reading configuration, with the text it
// logs, so a command can print kmod's stderr unchanged. It names the file (as kmod sees
// the path, without the Root prefix) and line where there is one.
type Warning struct {
	// Origin is kmod's log location for the message, e.g.
	// "../libkmod/libkmod-config.c:712 kmod_config_parse"; empty for depmod.d, whose
	// tool logs as "depmod: ERROR: MSG".
	Origin string
	File   string // "" for the kernel command line
	Line   int    // 0 when the message is not about one line
	Msg    string // kmod's message, without the trailing newline
	Err    error  // one of the Err* kinds above
}

// Error returns kmod's message, which names the file and line itself.
func (w *Warning) Error() string { return w.Msg }

// Unwrap lets errors.Is find the warning's kind.
func (w *Warning) Unwrap() error { return w.Err }

// LogLine renders the message as libkmod's default logger prints it during kmod_new,
// which is where modprobe reads its configuration:
// "libkmod: ERROR ../libkmod/libkmod-config.c:712 kmod_config_parse: MSG\n".
func (w *Warning) LogLine() string {
	if w.Origin == "" {
		return fmt.Sprintf("depmod: ERROR: %s\n", w.Msg)
	}
	return fmt.Sprintf("libkmod: ERROR %s: %s\n", w.Origin, w.Msg)
}

// LogLineFor renders the message as the given kmod release's libkmod prints it. Debian
// builds kmod 30 with debugging locations ("ERROR FILE:LINE FN: MSG", LogLine) and kmod
// 34 without: "libkmod: ERROR: FN: MSG\n".
func (w *Warning) LogLineFor(k compat.Kmod) string {
	if k == compat.Kmod30 || w.Origin == "" {
		return w.LogLine()
	}
	fn := w.Origin[strings.LastIndexByte(w.Origin, ' ')+1:]
	return fmt.Sprintf("libkmod: ERROR: %s: %s\n", fn, w.Msg)
}

// kmod 30's log origins (libkmod/libkmod-config.c, Debian's build).
const (
	originBadLine    = "../libkmod/libkmod-config.c:712 kmod_config_parse"
	originDeprecated = "../libkmod/libkmod-config.c:708 kmod_config_parse"
	originKcmdline   = "../libkmod/libkmod-config.c:489 kcmdline_parse_result"
	originNestedDir  = "../libkmod/libkmod-config.c:772 conf_files_filter_out"
)
