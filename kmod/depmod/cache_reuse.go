package depmod

import (
	"crypto/sha256"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The cache, part 2: whether the previous outputs are what this run would compute, and
// keeping them (cache.go describes the cache).

// inputsDigest covers what the outputs depend on besides the modules' data: the module
// list in output order with names and paths (which the configuration, the search and
// modules.order decide), the symbol prefix, where the tree is, the built-in lists, and
// the kmod release behaved as (whose outputs differ: the file list and the indexes' node
// order), so outputs written as one are never kept by a run as the other.
func (d *depmod) inputsDigest() [sha256.Size]byte {
	h := sha256.New()
	b := make([]byte, 0, 64<<10)
	b = appendStr(b, cacheMagic)
	b = appendStr(b, d.dirname)
	b = appendStr(b, d.outdir)
	b = append(b, d.o.SymPrefix)
	b = appendStr(b, d.kmod.String())
	for _, m := range d.mods {
		if len(b) > 60<<10 { // hashed in pieces: one buffer, no growth
			h.Write(b)
			b = b[:0]
		}
		b = appendStr(b, m.path)
		b = appendStr(b, m.relpath)
		b = appendStr(b, m.name)
	}
	h.Write(b)
	for _, f := range []struct {
		name string
		read func() ([]byte, error)
	}{{"modules.builtin", d.builtin}, {"modules.builtin.modinfo", d.builtinModinfo}} {
		data, err := f.read()
		h.Write([]byte(fmt.Sprintf("%s %v %d\n", f.name, err == nil, len(data))))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// reusable reports whether the output files are what this run would compute: every
// module's data as recorded, the same other inputs, no message that computing them would
// print, and the files untouched since written.
func (d *depmod) reusable() bool {
	c := d.cache
	if c == nil || c.outputs == nil || d.o.DryRun || d.o.ErrSyms || d.o.WarnDups || d.o.Verbose > 0 {
		return false
	}
	for _, m := range d.mods {
		if !m.cache.same || m.data != nil && m.data.symErr != nil {
			return false
		}
	}
	if len(d.mods) != len(c.entries) {
		return false
	}
	d.digest = d.inputsDigest()
	if d.digest != c.outputs.inputs || len(c.outputs.files) != len(d.outs) {
		return false
	}
	for _, o := range d.outs {
		var st unix.Stat_t
		want, ok := c.outputs.files[o.name]
		if !ok || unix.Stat(d.real(d.outdir+"/"+o.name), &st) != nil || keyOf(&st) != want {
			return false
		}
	}
	return true
}

// utimensNow is futimens(fd, NULL): the file's times set to now (utimensat with a NULL
// path, which x/sys/unix does not spell).
func utimensNow(fd int) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// keepOutputs is what a run does when the outputs are reusable: the files stay as they
// are (byte for byte what kmod would write again), and modules.dep's times are set to
// now, as a rewrite would, so that depmod -A sees the tree up to date. The files' keys
// are gathered for the cache.
//
// The keys recorded are those reusable checked, and modules.dep's is taken through the
// descriptor whose times were set: a file renamed over one of them meanwhile (another
// depmod) is never recorded as this run's.
func (d *depmod) keepOutputs() error {
	fd, err := unix.Open(d.real(d.outdir+"/modules.dep"), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || keyOf(&st) != d.cache.outputs.files["modules.dep"] {
		return unix.ESTALE
	}
	if err := utimensNow(fd); err != nil {
		return err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	d.written = map[string]fileKey{}
	for name, k := range d.cache.outputs.files {
		d.written[name] = k
	}
	d.written["modules.dep"] = keyOf(&st)
	return nil
}
