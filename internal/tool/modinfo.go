package tool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/ko"
)

func modinfoHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n"+
		"\tmodinfo [options] <modulename|filename> [args]\n"+
		"Options:\n"+
		"\t-a, --author                Print only 'author'\n"+
		"\t-d, --description           Print only 'description'\n"+
		"\t-l, --license               Print only 'license'\n"+
		"\t-p, --parameters            Print only 'parm'\n"+
		"\t-n, --filename              Print only 'filename'\n"+
		"\t-0, --null                  Use \\0 instead of \\n\n"+
		"\t-m, --modname               Handle argument as module name instead of alias or filename\n"+
		"\t-F, --field=FIELD           Print only provided FIELD\n"+
		"\t-k, --set-version=VERSION   Use VERSION instead of `uname -r`\n"+
		"\t-b, --basedir=DIR           Use DIR as filesystem root for /lib/modules\n"+
		"\t    --json                  Print one JSON object per module\n"+
		"\t-V, --version               Show version\n"+
		"\t-h, --help                  Show this help\n")
}

// modinfoOpts are modinfo's settings: the field to print ("" for all) and the separator.
type modinfoOpts struct {
	field string
	sep   byte
	json  bool
	w     *bufio.Writer
	pre   []*prefetched // by argument: arguments examined (and module files read) ahead
	cur   int           // the argument being printed
	cwd   func() string // the working directory, asked once per run
	slots chan struct{} // bounds how far the workers run ahead of the printing
	free  chan []byte   // printed reports' buffers, for the workers to reuse
}

// prefetched is what a worker found for an argument ahead of its printing.
type prefetched struct {
	isFile bool       // the argument names a module file (isModuleFilename)
	rep    infoReport // for a file: what modinfoDo prints for it
	wait   chan struct{}
}

// prefetchWindow is how many arguments the workers may examine ahead of the one being
// printed: enough to keep every core busy, few enough that the reports in flight stay
// small and their memory is reused rather than the heap growing (fresh pages cost a
// fault and a clearing each, which over a whole tree was a fifth of the run).
const prefetchWindow = 64

// prefetchInfo examines the arguments on every core while they are printed in order
// (kmod reads them one by one): whether each names a module file, and for a file its
// whole report, formatted. byName arguments are names only, left to the printing loop.
func prefetchInfo(e *Env, o *modinfoOpts, tree *kmod.Tree, args []string, byName bool) []*prefetched {
	pre := make([]*prefetched, len(args))
	if byName {
		return pre
	}
	for i := range pre {
		pre[i] = &prefetched{wait: make(chan struct{})}
	}
	o.slots = make(chan struct{}, prefetchWindow)
	o.free = make(chan []byte, prefetchWindow)
	var next atomic.Int64
	work := func() {
		var mem workerMem // one per worker: reused file after file
		for {
			o.slots <- struct{}{} // released once the argument is printed
			i := int(next.Add(1) - 1)
			if i >= len(args) {
				<-o.slots
				return
			}
			p := pre[i]
			fd, size, isFile := openModuleFile(args[i])
			if p.isFile = isFile; isFile {
				m := kmod.Module{Name: kmod.NameFromPath(args[i]), Path: o.abs(args[i])}
				select {
				case b := <-o.free:
					p.rep.out = b[:0]
				default:
					p.rep.out = make([]byte, 0, 16<<10) // most reports fit: no regrowth
				}
				var kvs []ko.KV
				var warn string
				var err error
				ok := o.field == "filename" // printed without reading the file, as kmod does
				if !ok && fd >= 0 {
					kvs, warn, ok = mem.partialInfo(fd, size, m.Path)
				}
				if !ok {
					kvs, warn, err = moduleInfoWarn(nil, tree, m, e.Kmod)
				}
				e.modinfoReport(&p.rep, o, m, kvs, warn, err)
			}
			if fd >= 0 {
				unix.Close(fd)
			}
			close(p.wait)
		}
	}
	if len(args) == 1 {
		// The common `modinfo NAME`: a goroutine would only cost a thread's start-up.
		work()
		return pre
	}
	for range min(runtime.GOMAXPROCS(0), len(args)) {
		go work()
	}
	return pre
}

// donePrefetched releases argument i's slot and its report's buffer once printed.
func (o *modinfoOpts) donePrefetched(i int) {
	p := o.pre[i]
	if p == nil {
		return
	}
	if p.rep.out != nil {
		select {
		case o.free <- p.rep.out:
		default:
		}
	}
	o.pre[i] = nil
	<-o.slots
}

// abs is absCwd with the working directory asked once per run rather than per file.
func (o *modinfoOpts) abs(p string) string {
	if strings.HasPrefix(p, "/") || o.cwd == nil {
		return absCwd(p)
	}
	if wd := o.cwd(); wd != "" {
		return wd + "/" + p
	}
	return p
}

// modinfo prints module information as kmod 30's modinfo, byte for byte.
func modinfo(e *Env, args []string) int {
	parsed, names, status, ok := e.getopt(args, []cli.Option{
		{Short: 'a', Long: "author"}, {Short: 'd', Long: "description"}, {Short: 'l', Long: "license"},
		{Short: 'p', Long: "parameters"}, {Short: 'n', Long: "filename"}, {Short: '0', Long: "null"},
		{Short: 'm', Long: "modname"}, {Short: 'F', Long: "field", HasArg: true},
		{Short: 'k', Long: "set-version", HasArg: true}, {Short: 'b', Long: "basedir", HasArg: true},
		{Long: "json"},
	}, modinfoHelp)
	if !ok {
		return status
	}
	o := &modinfoOpts{sep: '\n'}
	byName := false
	var kver, root string
	var rootSet, kverSet bool
	for _, p := range parsed {
		switch p.Name {
		case "author", "description", "license":
			o.field = p.Name
		case "parameters":
			o.field = "parm"
		case "filename":
			o.field = "filename"
		case "null":
			o.sep = 0
		case "modname":
			byName = true
		case "field":
			o.field = p.Arg
		case "set-version":
			kver, kverSet = p.Arg, true
		case "basedir":
			root, rootSet = p.Arg, true
		case "json":
			o.json = true
		}
	}
	if len(names) == 0 {
		e.Errorf("missing module or filename.\n")
		return 1
	}
	var dir string
	if rootSet || kverSet {
		if !kverSet {
			kver = e.Host.KernelRelease()
		}
		dir = absCwd(root + "/lib/modules/" + kver) // kmod_new makes it absolute
	} else {
		dir = e.Host.ModulesDir() // only now: it reads /proc/sys/kernel/osrelease
	}
	tree := kmod.NewTree(dir, nil) // modinfo reads no modprobe.d, as kmod's passes no config
	if !e.Exiting {
		defer tree.Close() // else the exit unmaps the indexes, without a TLB shootdown each
	}
	o.w = newStdout(e.Stdout)
	defer o.w.Flush()
	if o.json {
		return modinfoJSON(e, o, tree, names, byName)
	}
	failed := false
	o.cwd = sync.OnceValue(func() string {
		wd, err := os.Getwd()
		if err != nil {
			return ""
		}
		return wd
	})
	o.pre = prefetchInfo(e, o, tree, names, byName)
	for i, name := range names {
		var err error
		o.cur = i
		isFile := false
		if p := o.pre[i]; p != nil {
			<-p.wait
			isFile = p.isFile
		}
		switch {
		case byName:
			err = e.modinfoName(o, tree, name)
		case isFile:
			err = e.modinfoPath(o, tree, name)
		default:
			err = e.modinfoAlias(o, tree, name)
		}
		o.donePrefetched(i)
		if err != nil {
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

// isModuleFilename: a regular file whose name ends in a module extension. kmod 30 as
// Debian builds it knows .ko, .ko.xz and .ko.zst; gokmod also reads .ko.gz.
// The name is checked first: a module name or alias then costs no stat.
func isModuleFilename(name string) bool {
	if !hasModuleSuffix(name) {
		return false
	}
	var st unix.Stat_t
	for {
		err := unix.Stat(name, &st)
		if err == unix.EINTR {
			continue
		}
		return err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
	}
}

func hasModuleSuffix(name string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// openModuleFile is isModuleFilename that also opens the file, for the workers that read
// it next: one path walk (open, then fstat) instead of two (stat, then open), which over
// a whole tree is a tenth of the run. fd is -1 when the answer came from a stat instead
// (the file exists but cannot be opened: kmod then reports the open's error).
// O_NONBLOCK keeps a FIFO named like a module from blocking the open.
func openModuleFile(name string) (fd int, size int64, isFile bool) {
	if !hasModuleSuffix(name) {
		return -1, 0, false
	}
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return -1, 0, isModuleFilename(name)
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, 0, false
	}
	return fd, st.Size, true
}

func (e *Env) modinfoPath(o *modinfoOpts, tree *kmod.Tree, path string) error {
	m := kmod.Module{Name: kmod.NameFromPath(path), Path: o.abs(path)}
	return e.modinfoDo(o, tree, m)
}

func (e *Env) modinfoName(o *modinfoOpts, tree *kmod.Tree, name string) error {
	m, err := tree.LookupName(name)
	if err != nil || m == nil {
		e.Errorf("Module name %s not found.\n", name)
		e.noteBadIndexes(tree)
		return errors.New("not found")
	}
	return e.modinfoDo(o, tree, *m)
}

// noteBadIndexes follows kmod's "not found" with a line for each index the lookups found
// damaged and ignored (libkmod's index_file_open refuses a bad header without a word),
// once per file: the likely reason, and the remedy.
func (e *Env) noteBadIndexes(tree *kmod.Tree) {
	for _, he := range tree.TakeBadIndexes() {
		if note := kmod.BadIndexNote(he); note != "" {
			e.log(logErr, "hint: "+note)
		}
	}
}

func (e *Env) modinfoAlias(o *modinfoOpts, tree *kmod.Tree, alias string) error {
	mods, err := tree.Lookup(alias)
	if err != nil {
		e.Errorf("Module alias %s not found.\n", alias)
		e.noteBadIndexes(tree)
		return err
	}
	if len(mods) == 0 {
		e.Errorf("Module %s not found.\n", alias)
		e.noteBadIndexes(tree)
		return errors.New("not found")
	}
	var first error
	for _, m := range mods {
		if err := e.modinfoDo(o, tree, m); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// absCwd is libkmod's path_make_absolute_cwd: relative paths are prefixed with the
// working directory as they are, without cleaning.
func absCwd(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	return wd + "/" + p
}

// modInfo is what kmod_module_get_info gathers: the .modinfo strings (or the built-in
// modinfo), then the signature fields.
func moduleInfo(tree *kmod.Tree, m kmod.Module, k compat.Kmod) ([]ko.KV, error) {
	var r ko.PartialReader
	kvs, _, err := moduleInfoWarn(&r, tree, m, k)
	return kvs, err
}

// moduleInfoWarn is moduleInfo plus a warning kmod does not give: a signature trailer
// that is there but malformed (kmod silently shows no signature). r, if not nil, is the
// caller's reader for the fast path (partialInfo); the full reader handles the rest.
func moduleInfoWarn(r *ko.PartialReader, tree *kmod.Tree, m kmod.Module, k compat.Kmod) ([]ko.KV, string, error) {
	if m.Builtin || (m.Path == "" && tree.IsBuiltin(m.Name)) {
		strs, err := tree.BuiltinModinfo(m.Name)
		if err != nil {
			return nil, "", err
		}
		return splitKV(strs), "", nil
	}
	if m.Path == "" {
		return nil, "", unix.ENOENT
	}
	if r != nil {
		if kvs, warn, ok := partialPath(r, m.Path); ok {
			return kvs, warn, nil
		}
	}
	if k == compat.Kmod34 {
		if err := kmod34Decodable(m.Path); err != nil {
			return nil, "", err
		}
	}
	f, err := ko.OpenMapped(m.Path)
	if err != nil {
		return nil, "", kmodOpenErrno(m.Path, err)
	}
	// The mapping is left for the process's exit to release: modinfo is short-lived, and
	// one munmap per file (a TLB shootdown each) cost a fifth of a run over a whole tree.
	// Everything taken from the mapping below is copied.
	if f.Section(".modinfo") == nil {
		return nil, "", unix.ENOENT
	}
	kvs, warn := appendInfoKVs(nil, f.ModInfoStrings(), f.Signature, ko.KmodHex)
	return kvs, warn, nil
}

// appendInfoKVs appends kmod_module_get_info's list to dst: the .modinfo strings, then
// the signature's fields, hex formatted by hex; warn tells of a malformed signature.
func appendInfoKVs(dst []ko.KV, strs []string, signature func() (*ko.Signature, error), hex func([]byte) string) (kvs []ko.KV, warn string) {
	kvs = appendKV(dst, strs, 5)
	if sig, err := signature(); err != nil {
		warn = fmt.Sprintf("no signature shown: %v", err)
	} else if sig != nil {
		kvs = append(kvs,
			ko.KV{Key: "sig_id", Value: sig.ID},
			ko.KV{Key: "signer", Value: sig.Signer},
			ko.KV{Key: "sig_key", Value: hex(sig.KeyID)},
			ko.KV{Key: "sig_hashalgo", Value: sig.HashAlgo},
			ko.KV{Key: "signature", Value: hex(sig.Sig)})
	}
	return kvs, warn
}

// partialPath is moduleInfoWarn's fast path for a plain .ko named by path (found by
// name or alias): partialInfo on the opened file.
func partialPath(r *ko.PartialReader, path string) (kvs []ko.KV, warn string, ok bool) {
	if !strings.HasSuffix(path, ".ko") {
		return nil, "", false // compressed: the full reader decompresses
	}
	// O_NONBLOCK: a FIFO found by name must not block the open (the full reader then
	// says what it is).
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, "", false
	}
	return partialInfo(r, fd, st.Size, path)
}

// partialInfo reads a module's info from fd (size bytes, or -1 if unknown) reading only
// the ELF header, the file's end (section table, names, signature) and .modinfo, with
// r's reused buffers (ko.PartialReader). ok=false leaves the file to the full reader,
// whose errors are the ones kmod's output needs (compressed files go there too).
// Everything returned is copied out of r's buffers.
func partialInfo(r *ko.PartialReader, fd int, size int64, path string) (kvs []ko.KV, warn string, ok bool) {
	p, ok := r.ReadFd(fd, size, path, ".modinfo")
	if !ok || !p.Sections[0].Found {
		return nil, "", false
	}
	kvs, warn = appendInfoKVs(nil, ko.ElfStrings(p.Sections[0].Data), p.Signature, ko.KmodHex)
	return kvs, warn, true
}

// workerMem is what a prefetch worker reuses from one file to the next: the partial
// reader's buffers, and the entries, strings and hex of the current file. What its
// partialInfo returns aliases that memory, without a copy: it is valid only until the
// worker's next file, which is enough because the worker formats each file's report
// (a copy) before reading the next. Over a whole tree this saves most of the run's
// allocation, and the collections that went with it.
type workerMem struct {
	r    ko.PartialReader
	strs []string
	kvs  []ko.KV
	hex  []byte
}

// partialInfo is partialInfo with results aliasing m (see workerMem).
func (m *workerMem) partialInfo(fd int, size int64, path string) (kvs []ko.KV, warn string, ok bool) {
	p, ok := m.r.ReadFd(fd, size, path, ".modinfo")
	if !ok || !p.Sections[0].Found {
		return nil, "", false
	}
	data := p.Sections[0].Data
	m.strs = ko.AppendElfStrings(m.strs[:0], unsafe.String(unsafe.SliceData(data), len(data)))
	m.hex = m.hex[:0]
	m.kvs, warn = appendInfoKVs(m.kvs[:0], m.strs, p.Signature, m.appendHex)
	return m.kvs, warn, true
}

// appendHex is ko.KmodHex into m.hex; the string stays valid until the next file even if
// m.hex grows (it keeps the old array alive).
func (m *workerMem) appendHex(b []byte) string {
	start := len(m.hex)
	m.hex = ko.AppendKmodHex(m.hex, b)
	if len(m.hex) == start {
		return ""
	}
	return unsafe.String(&m.hex[start], len(m.hex)-start)
}

// splitKV splits "key=value" strings; a string without '=' is a key with itself as value
// (kmod_module_get_info's quirk).
func splitKV(strs []string) []ko.KV { return appendKV(nil, strs, 0) }

// appendKV is splitKV appending to dst, with room for extra entries after.
func appendKV(dst []ko.KV, strs []string, extra int) []ko.KV {
	kvs := slices.Grow(dst, len(strs)+extra)
	for _, s := range strs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			v = s
		}
		kvs = append(kvs, ko.KV{Key: k, Value: v})
	}
	return kvs
}

// prefetchedFor returns the read-ahead result for the current file argument.
func (o *modinfoOpts) prefetchedFor(m kmod.Module) *prefetched {
	if o.pre == nil || o.cur >= len(o.pre) || o.pre[o.cur] == nil || !o.pre[o.cur].isFile || m.Path == "" {
		return nil
	}
	return o.pre[o.cur]
}

// modinfoDo mirrors kmod 30's modinfo_do: it prints m's report, from the workers if they
// made it ahead, else made now.
func (e *Env) modinfoDo(o *modinfoOpts, tree *kmod.Tree, m kmod.Module) error {
	if p := o.prefetchedFor(m); p != nil {
		<-p.wait
		return e.writeReport(o, &p.rep)
	}
	var r ko.PartialReader
	// The report is made in the stdout buffer's free space, so that writing it out is
	// no copy (bufio.Writer.AvailableBuffer); a bigger report simply grows elsewhere.
	rep := infoReport{out: o.w.AvailableBuffer()}
	if o.field != "filename" { // kmod prints the name without reading the file
		kvs, warn, err := moduleInfoWarn(&r, tree, m, e.Kmod)
		e.modinfoReport(&rep, o, m, kvs, warn, err)
	} else {
		e.modinfoReport(&rep, o, m, nil, "", nil)
	}
	return e.writeReport(o, &rep)
}

// infoReport is what modinfo_do prints for one module, collected so that a worker can
// make it ahead of the printing: the bytes for stdout, and the messages for stderr with
// where in those bytes each one came, so that writing the report out interleaves the
// two streams just as printing directly would.
type infoReport struct {
	out  []byte
	errs []reportMsg
	err  error // the module failed: modinfo exits with 1
}

// reportMsg is a stderr message, to be written after out[:at].
type reportMsg struct {
	at  int
	msg string
}

func (r *infoReport) str(s string) { r.out = append(r.out, s...) }
func (r *infoReport) byte(c byte)  { r.out = append(r.out, c) }

// pad writes n spaces (none if n <= 0): printf's %-Ns padding.
func (r *infoReport) pad(n int) {
	for ; n > 0; n-- {
		r.out = append(r.out, ' ')
	}
}

// stderr queues a message for stderr at this point of the report.
func (r *infoReport) stderr(msg string) { r.errs = append(r.errs, reportMsg{len(r.out), msg}) }

// writeReport prints a report: stdout through o.w, stderr at once, in order.
func (e *Env) writeReport(o *modinfoOpts, r *infoReport) error {
	at := 0
	for _, m := range r.errs {
		o.w.Write(r.out[at:m.at])
		at = m.at
		io.WriteString(e.Stderr, m.msg)
	}
	o.w.Write(r.out[at:])
	return r.err
}

// modinfoReport makes kmod's modinfo_do output for m from its info (kvs, or the error
// reading it, and a warning) into rep. Written piece by piece rather than with fmt:
// over a whole tree these lines are a good part of the run.
func (e *Env) modinfoReport(rep *infoReport, o *modinfoOpts, m kmod.Module, kvs []ko.KV, warn string, err error) {
	sep := o.sep
	filename := m.Path
	builtin := filename == ""
	if builtin {
		if o.field == "" {
			rep.str("name:")
			rep.pad(16 - len("name:"))
			rep.str(m.Name)
			rep.byte(sep)
		} else if o.field == "name" {
			rep.str(m.Name)
			rep.byte(sep)
		}
		filename = "(builtin)"
	}
	if o.field == "filename" {
		rep.str(filename)
		rep.byte(sep)
		return
	} else if o.field == "" {
		rep.str("filename:       ")
		rep.str(filename)
		rep.byte(sep)
	}
	if warn != "" {
		rep.stderr(fmt.Sprintf("%s: WARNING: %s\n", e.Prog, warn))
	}
	if err != nil {
		if builtin && errors.Is(err, os.ErrNotExist) {
			return // an old kernel without modules.builtin.modinfo
		}
		rep.err = err
		if l := libkmodLine(err, e.Kmod); l != "" {
			rep.stderr(l)
		}
		rep.stderr(fmt.Sprintf("%s: ERROR: could not get modinfo from '%s': %s\n", e.Prog, m.Name, kmodErrText(err, e.Kmod)))
		if detail := formatDetail(err); detail != "" {
			rep.stderr(fmt.Sprintf("%s: %s\n", e.Prog, detail))
		}
		return
	}
	if o.field == "parm" {
		for _, p := range params(kvs) {
			rep.str(p.name)
			switch {
			case !p.hasDesc:
				rep.str(": (")
				rep.str(p.typ)
				rep.byte(')')
			case p.hasType:
				rep.byte(':')
				rep.str(p.desc)
				rep.str(" (")
				rep.str(p.typ)
				rep.byte(')')
			default:
				rep.byte(':')
				rep.str(p.desc)
			}
			rep.byte(sep)
		}
		return
	}
	for _, kv := range kvs {
		if o.field != "" {
			if kv.Key == o.field {
				rep.str(kv.Value)
				rep.byte(sep)
			}
			continue
		}
		if kv.Key == "parm" || kv.Key == "parmtype" {
			if !strings.Contains(kv.Value, ":") {
				rep.stderr(fmt.Sprintf("%s: ERROR: Found invalid \"%s=%s\": missing ':'\n", e.Prog, kv.Key, kv.Value))
			}
			continue
		}
		rep.str(kv.Key)
		if sep == 0 {
			rep.byte('=')
		} else {
			rep.byte(':')
			rep.pad(15 - len(kv.Key))
		}
		rep.str(kv.Value)
		rep.byte(sep)
	}
	if o.field != "" {
		return
	}
	for _, p := range params(kvs) {
		rep.str("parm:")
		rep.pad(16 - len("parm:"))
		rep.str(p.name)
		rep.byte(':')
		switch {
		case !p.hasDesc:
			rep.str(p.typ)
		case p.hasType:
			rep.str(p.desc)
			rep.str(" (")
			rep.str(p.typ)
			rep.byte(')')
		default:
			rep.str(p.desc)
		}
		rep.byte(sep)
	}
}

type param struct {
	name, desc, typ  string
	hasDesc, hasType bool
}

// params collects parm/parmtype entries as kmod's process_parm: each new name is pushed
// on the front of the list; later entries for a name override.
func params(kvs []ko.KV) []param {
	var list []*param
	for _, kv := range kvs {
		if kv.Key != "parm" && kv.Key != "parmtype" {
			continue
		}
		name, rest, ok := strings.Cut(kv.Value, ":")
		if !ok {
			continue
		}
		var p *param
		for _, q := range list {
			if q.name == name {
				p = q
				break
			}
		}
		if p == nil {
			p = &param{name: name}
			list = append([]*param{p}, list...)
		}
		if kv.Key == "parm" {
			p.desc, p.hasDesc = rest, true
		} else {
			p.typ, p.hasType = rest, true
		}
	}
	out := make([]param, len(list))
	for i, p := range list {
		out[i] = *p
	}
	return out
}
