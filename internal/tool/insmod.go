package tool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/kmod/modprobe"
)

func insmodHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n\tinsmod [options] filename [args]\nOptions:\n"+
		"\t-f, --force              ignore the version magic and symbol versions (may crash your kernel)\n"+
		"\t    --force-vermagic     ignore the version magic only\n"+
		"\t    --force-modversion   ignore the symbol versions only\n"+
		"\t-s, --syslog             print to syslog, not stderr (kmod 34; GOKMOD_KMOD=30 ignores it)\n"+
		"\t-v, --verbose            say which system call loaded the module; repeated, more messages (kmod 34)\n"+
		"\t-V, --version            show version\n"+
		"\t-h, --help               show this help\n")
}

// modStrerror is kmod's insmod wording for the errors it knows (tools/insmod.c).
func modStrerror(err error) string {
	switch {
	case errors.Is(err, unix.ENOEXEC):
		return "Invalid module format"
	case errors.Is(err, unix.ENOENT):
		return "Unknown symbol in module"
	case errors.Is(err, unix.ESRCH):
		return "Module has wrong symbol version"
	case errors.Is(err, unix.EINVAL):
		return "Invalid parameters"
	}
	return strerror(err)
}

// insmod loads one module file. On failure it prints kmod's line, then what the kernel
// logged during the call (the real reason), then a hint when one is known.
func insmod(e *Env, args []string) int {
	// kmod 30's insmod ignores -p and -s and has no -v (gokmod's -v says which system call
	// it made); kmod 34's has no -p, logs to syslog with -s, and raises its verbosity by
	// -v (tools/insmod.c at v30 and v34.2).
	k34 := e.Kmod != compat.Kmod30
	opts := []cli.Option{{Short: 'f', Long: "force"}, {Long: "force-vermagic"}, {Long: "force-modversion"},
		{Short: 's', Long: "syslog"}, {Short: 'v', Long: "verbose"}}
	if !k34 {
		opts = append(opts, cli.Option{Short: 'p'})
	}
	parsed, operands, status, ok := e.getopt(args, opts, insmodHelp)
	if !ok {
		return status
	}
	var flags kmod.InsertFlags
	verbose, useSyslog := 0, false
	for _, p := range parsed {
		switch p.Name {
		case "force":
			flags |= kmod.ForceVermagic | kmod.ForceModversion
		case "force-vermagic":
			flags |= kmod.ForceVermagic
		case "force-modversion":
			flags |= kmod.ForceModversion
		case "verbose":
			verbose++
		case "syslog":
			useSyslog = k34
		}
	}
	if useSyslog {
		e.openSyslog() // log_open
		defer e.closeSyslog()
	}
	if len(operands) == 0 {
		e.Errorf("missing filename.\n")
		return 1
	}
	file := operands[0]
	if file == "-" {
		e.Errorf("this tool does not support loading from stdin!\n")
		return 1
	}
	params := strings.Join(operands[1:], " ")
	ctxVerbose := logErr // kmod 30's insmod never raises libkmod's priority
	if k34 {
		// options_from_array (tools/opt.c): a value holding a space is quoted.
		params = ""
		if p := optionsFromArray(operands); p != nil {
			params = *p
		}
		ctxVerbose += verbose
	}
	ctx := newLibkmodCtx(e, e.Kmod, ctxVerbose)
	defer ctx.unref()
	if _, err := os.Stat(file); err != nil {
		e.Errorf("could not load module %s: %s\n", file, strerror(unwrapPath(err)))
		return 1
	}
	ins, err := e.Host.Insert(file, params, flags)
	if verbose > 0 && ins != nil {
		fmt.Fprintf(e.Stderr, "%s: %s(%s, %q, flags=%#x)\n", e.Prog, ins.Syscall, file, params, ins.Flags)
	}
	if err == nil {
		return 0
	}
	if ie := (*kmod.InsertError)(nil); errors.As(err, &ie) && ie.Op != "open" {
		// kmod_module_insert_module's INFO (libkmod-module.c at v34.2; kmod 30's is
		// never shown), with the path kmod_module_new_from_path made absolute.
		ctx.logf(logInfo, modprobe.Source{File: "libkmod-module.c", Line: 949, Fn: "kmod_module_insert_module"},
			"Failed to insert module '%s': %s\n", absCwd(file), strerror(unwrapPath(ie.Err)))
	}
	var ie *kmod.InsertError
	if errors.Is(err, kmod.ErrZstdContentSize) {
		// libkmod's ERR() from kmod_file_load_zstd, then insmod's line with
		// mod_strerror's words for EINVAL.
		ctx.logf(logErr, modprobe.Source{File: "libkmod-file-zstd.c", Fn: "kmod_file_load_zstd"}, "%s\n", kmod.ErrZstdContentSize)
		e.Errorf("could not insert module %s: %s\n", file, modStrerror(unix.EINVAL))
		return 1
	}
	if !errors.As(err, &ie) || ie.Op == "open" {
		msg := strerror(unwrapPath(err))
		if ie != nil {
			msg = strerror(unwrapPath(ie.Err))
		}
		e.Errorf("could not insert module %s: %s\n", file, msg)
		return 1
	}
	e.Errorf("could not insert module %s: %s\n", file, modStrerror(ie.Err))
	for _, r := range ie.Kmsg {
		fmt.Fprintf(e.Stderr, "%s: kernel: %s\n", e.Prog, printable(r.Msg))
	}
	for _, h := range e.hints(ie) {
		fmt.Fprintf(e.Stderr, "%s: hint: %s\n", e.Prog, h)
	}
	return 1
}

// hints explains a failed load in terms a user can act on.
func (e *Env) hints(ie *kmod.InsertError) []string {
	var hs []string
	switch {
	case errors.Is(ie.Err, unix.EPERM) && signatureHint(unix.EPERM, kmsgText(ie)) != "":
		hs = append(hs, signatureHint(unix.EPERM, kmsgText(ie)))
	case errors.Is(ie.Err, unix.EPERM):
		if b, err := os.ReadFile(e.Host.Path("/proc/sys/kernel/modules_disabled")); err == nil && strings.TrimSpace(string(b)) == "1" {
			hs = append(hs, "module loading is disabled until reboot (/proc/sys/kernel/modules_disabled is 1)")
		} else if !hasCapSysModule() {
			hs = append(hs, "loading a module needs the CAP_SYS_MODULE capability, which this process lacks: run it as root")
		}
	case errors.Is(ie.Err, unix.EEXIST):
		hs = append(hs, "a module named "+kmod.NameFromPath(ie.Path)+" is already loaded (see lsmod)")
	case errors.Is(ie.Err, unix.EKEYREJECTED):
		hs = append(hs, signatureHint(unix.EKEYREJECTED, kmsgText(ie)))
	}
	var owners []string             // modules exporting the unknown symbols, first seen first
	symsOf := map[string][]string{} // owner -> its symbols the kernel missed
	crc, magic := false, false
	for _, r := range ie.Kmsg {
		if sym, ok := unknownSymbol(r.Msg); ok {
			if owner := e.symbolOwner(sym); owner != "" {
				if symsOf[owner] == nil {
					owners = append(owners, owner)
				}
				symsOf[owner] = append(symsOf[owner], sym)
			}
		}
		crc = crc || strings.Contains(r.Msg, "disagrees about version of symbol")
		magic = magic || strings.Contains(r.Msg, "version magic")
	}
	for _, o := range owners {
		verb := "is"
		if len(symsOf[o]) > 1 {
			verb = "are"
		}
		hs = append(hs, fmt.Sprintf("%s %s exported by module %s: load %s first, or use modprobe, which loads dependencies",
			strings.Join(symsOf[o], ", "), verb, o, o))
	}
	if crc {
		hs = append(hs, "the module was built against a different kernel (symbol CRC mismatch): rebuild it for this kernel")
	}
	if magic {
		hs = append(hs, "the module was built for another kernel version (vermagic mismatch): rebuild it for this kernel")
	}
	return hs
}

// unknownSymbol extracts X from the kernel's "MOD: Unknown symbol X (err -2)".
func unknownSymbol(msg string) (string, bool) {
	_, rest, ok := strings.Cut(msg, ": Unknown symbol ")
	if !ok {
		return "", false
	}
	sym, _, _ := strings.Cut(rest, " ")
	return sym, sym != ""
}

// symbolOwner finds the module exporting sym in modules.symbols of the running kernel.
func (e *Env) symbolOwner(sym string) string {
	b, err := os.ReadFile(e.Host.ModulesDir() + "/modules.symbols")
	if err != nil {
		return ""
	}
	want := "alias symbol:" + sym + " "
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, want) {
			return strings.TrimSpace(line[len(want):])
		}
	}
	return ""
}

// hasCapSysModule reads the effective capability set of this process.
func hasCapSysModule() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return os.Geteuid() == 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_MODULE) != 0
		}
	}
	return false
}

// printable escapes non-printable bytes as the kernel's log does (\xNN), so a message
// such as "Invalid ELF header magic: != \x7fELF" reads the same as in dmesg.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= 0x7f || c == '\\' {
			fmt.Fprintf(&b, "\\x%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
