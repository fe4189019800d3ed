package tool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/internal/cli"
	"gokmod/kmod"
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
	pre   []*prefetched // by argument: file arguments read ahead on every core
	cur   int           // the argument being printed
}

// prefetched is moduleInfo's answer for a file argument, computed ahead.
type prefetched struct {
	kvs  []ko.KV
	warn string
	err  error
	wait chan struct{}
}

// prefetchInfo reads the module files among args on every core while the arguments are
// printed in order; kmod reads them one by one.
func prefetchInfo(tree *kmod.Tree, args []string, byName bool) []*prefetched {
	pre := make([]*prefetched, len(args))
	if byName {
		return pre
	}
	done := make([]chan struct{}, len(args))
	idx := make(chan int, len(args))
	for i, a := range args {
		if isModuleFilename(a) {
			pre[i] = &prefetched{}
			done[i] = make(chan struct{})
			idx <- i
		}
	}
	close(idx)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		go func() {
			for i := range idx {
				m := kmod.Module{Name: kmod.NameFromPath(args[i]), Path: absCwd(args[i])}
				pre[i].kvs, pre[i].warn, pre[i].err = moduleInfoWarn(tree, m)
				close(done[i])
			}
		}()
	}
	// Callers wait per argument: wrap each result so reading it blocks until ready.
	for i := range pre {
		if pre[i] != nil {
			pre[i].wait = done[i]
		}
	}
	return pre
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
	dir := e.Host.ModulesDir()
	if rootSet || kverSet {
		if !kverSet {
			kver = e.Host.KernelRelease()
		}
		dir = root + "/lib/modules/" + kver
	}
	tree := kmod.NewTree(dir, nil) // modinfo reads no modprobe.d, as kmod's passes no config
	defer tree.Close()
	o.w = newStdout(e.Stdout)
	defer o.w.Flush()
	if o.json {
		return modinfoJSON(e, o, tree, names, byName)
	}
	failed := false
	o.pre = prefetchInfo(tree, names, byName)
	for i, name := range names {
		var err error
		o.cur = i
		switch {
		case byName:
			err = e.modinfoName(o, tree, name)
		case o.pre[i] != nil:
			err = e.modinfoPath(o, tree, name)
		default:
			err = e.modinfoAlias(o, tree, name)
		}
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
func isModuleFilename(name string) bool {
	st, err := os.Stat(name)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func (e *Env) modinfoPath(o *modinfoOpts, tree *kmod.Tree, path string) error {
	m := kmod.Module{Name: kmod.NameFromPath(path), Path: absCwd(path)}
	return e.modinfoDo(o, tree, m)
}

func (e *Env) modinfoName(o *modinfoOpts, tree *kmod.Tree, name string) error {
	m, err := tree.LookupName(name)
	if err != nil || m == nil {
		e.Errorf("Module name %s not found.\n", name)
		return errors.New("not found")
	}
	return e.modinfoDo(o, tree, *m)
}

func (e *Env) modinfoAlias(o *modinfoOpts, tree *kmod.Tree, alias string) error {
	mods, err := tree.Lookup(alias)
	if err != nil {
		e.Errorf("Module alias %s not found.\n", alias)
		return err
	}
	if len(mods) == 0 {
		e.Errorf("Module %s not found.\n", alias)
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
func moduleInfo(tree *kmod.Tree, m kmod.Module) ([]ko.KV, error) {
	kvs, _, err := moduleInfoWarn(tree, m)
	return kvs, err
}

// moduleInfoWarn is moduleInfo plus a warning kmod does not give: a signature trailer
// that is there but malformed (kmod silently shows no signature).
func moduleInfoWarn(tree *kmod.Tree, m kmod.Module) ([]ko.KV, string, error) {
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
	kvs := splitKV(f.ModInfoStrings())
	warn := ""
	if sig, err := f.Signature(); err != nil {
		warn = fmt.Sprintf("no signature shown: %v", err)
	} else if sig != nil {
		kvs = append(kvs,
			ko.KV{Key: "sig_id", Value: sig.ID},
			ko.KV{Key: "signer", Value: sig.Signer},
			ko.KV{Key: "sig_key", Value: ko.KmodHex(sig.KeyID)},
			ko.KV{Key: "sig_hashalgo", Value: sig.HashAlgo},
			ko.KV{Key: "signature", Value: ko.KmodHex(sig.Sig)})
	}
	return kvs, warn, nil
}

// splitKV splits "key=value" strings; a string without '=' is a key with itself as value
// (kmod_module_get_info's quirk).
func splitKV(strs []string) []ko.KV {
	kvs := make([]ko.KV, 0, len(strs))
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
	if o.pre == nil || o.cur >= len(o.pre) || o.pre[o.cur] == nil || m.Path == "" {
		return nil
	}
	return o.pre[o.cur]
}

// modinfoDo mirrors kmod 30's modinfo_do.
func (e *Env) modinfoDo(o *modinfoOpts, tree *kmod.Tree, m kmod.Module) error {
	w, sep := o.w, o.sep
	filename := m.Path
	builtin := filename == ""
	if builtin {
		if o.field == "" {
			fmt.Fprintf(w, "%-16s%s%c", "name:", m.Name, sep)
		} else if o.field == "name" {
			fmt.Fprintf(w, "%s%c", m.Name, sep)
		}
		filename = "(builtin)"
	}
	if o.field == "filename" {
		fmt.Fprintf(w, "%s%c", filename, sep)
		return nil
	} else if o.field == "" {
		fmt.Fprintf(w, "%-16s%s%c", "filename:", filename, sep)
	}
	var kvs []ko.KV
	var warn string
	var err error
	if p := o.prefetchedFor(m); p != nil {
		<-p.wait
		kvs, warn, err = p.kvs, p.warn, p.err
	} else {
		kvs, warn, err = moduleInfoWarn(tree, m)
	}
	if warn != "" {
		fmt.Fprintf(e.Stderr, "%s: WARNING: %s\n", e.Prog, warn)
	}
	if err != nil {
		if builtin && errors.Is(err, os.ErrNotExist) {
			return nil // an old kernel without modules.builtin.modinfo
		}
		e.Errorf("could not get modinfo from '%s': %s\n", m.Name, kmodErrText(err))
		if detail := formatDetail(err); detail != "" {
			fmt.Fprintf(e.Stderr, "%s: %s\n", e.Prog, detail)
		}
		return err
	}
	if o.field == "parm" {
		for _, p := range params(kvs) {
			switch {
			case !p.hasDesc:
				fmt.Fprintf(w, "%s: (%s)%c", p.name, p.typ, sep)
			case p.hasType:
				fmt.Fprintf(w, "%s:%s (%s)%c", p.name, p.desc, p.typ, sep)
			default:
				fmt.Fprintf(w, "%s:%s%c", p.name, p.desc, sep)
			}
		}
		return nil
	}
	for _, kv := range kvs {
		if o.field != "" {
			if kv.Key == o.field {
				fmt.Fprintf(w, "%s%c", kv.Value, sep)
			}
			continue
		}
		if kv.Key == "parm" || kv.Key == "parmtype" {
			if !strings.Contains(kv.Value, ":") {
				e.Errorf("Found invalid \"%s=%s\": missing ':'\n", kv.Key, kv.Value)
			}
			continue
		}
		if sep == 0 {
			fmt.Fprintf(w, "%s=%s%c", kv.Key, kv.Value, sep)
			continue
		}
		pad := 15 - len(kv.Key)
		if pad < 0 {
			pad = 0
		}
		fmt.Fprintf(w, "%s:%s%s%c", kv.Key, strings.Repeat(" ", pad), kv.Value, sep)
	}
	if o.field != "" {
		return nil
	}
	for _, p := range params(kvs) {
		switch {
		case !p.hasDesc:
			fmt.Fprintf(w, "%-16s%s:%s%c", "parm:", p.name, p.typ, sep)
		case p.hasType:
			fmt.Fprintf(w, "%-16s%s:%s (%s)%c", "parm:", p.name, p.desc, p.typ, sep)
		default:
			fmt.Fprintf(w, "%-16s%s:%s%c", "parm:", p.name, p.desc, sep)
		}
	}
	return nil
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
