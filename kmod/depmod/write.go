package depmod

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/kmod/compat"
)

// write is depmod_output's writing, of contents computed or reused (reusable): each
// file goes to NAME.PID.USEC.SEC in the directory and is renamed over NAME, in kmod's
// table order, with kmod's messages and its stop at the first failure.
//
// The temporary files are written first, on all cores, and their writeback started
// (sync_file_range): renaming over an existing file makes ext4 allocate the new file's
// delayed blocks and start its writeback (auto_da_alloc), half a millisecond or more per
// file, which one after the other were most of the time spent writing. The crash safety
// is ext4's with kmod: the data's writeback is under way before the rename. The renames
// and everything reported stay in table order; files that kmod would not have reached
// after a failure are removed unrenamed.
//
// Writing ahead needs room for all ten files at once, where kmod frees each old file
// before writing the next: if any file cannot be created or written ahead (a full disk,
// a quota, the descriptor limit), every file written ahead is removed and the outputs
// are written one after the other as kmod does, with kmod's failures if any remain.
func (d *depmod) write(gen []*generated) error {
	d.phase("generate")
	if d.o.DryRun {
		for i, o := range d.outs {
			d.replayLog(gen[i])
			if o.text != nil {
				if _, err := d.stdout.Write(gen[i].data); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if d.kmod != compat.Kmod30 {
		// kmod 34's depmod_output makes the output directory (mkdir_p), as -o needs.
		if err := os.MkdirAll(d.real(d.outdir), 0o755); err != nil {
			return d.log.crit("could not create directory %s: %s\n", d.outdir, strerror(err))
		}
	}
	// A raw descriptor: an os.File would start the runtime's network poller.
	dfd, err := unix.Open(d.real(d.outdir), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return d.log.crit("could not open directory %s: %s\n", d.outdir, strerror(err))
	}
	defer unix.Close(dfd)
	now := time.Now()
	usec, sec := now.Nanosecond()/1000, now.Unix()
	files := make([]tempFile, len(d.outs))
	for i, o := range d.outs {
		files[i] = tempFile{name: fmt.Sprintf("%s.%d.%d.%d", o.name, os.Getpid(), usec, sec), fd: -1}
	}
	if !prepareFiles(dfd, gen, files, jobs(d.o.Jobs)) {
		for i := range files {
			if f := &files[i]; f.fd >= 0 {
				unix.Close(f.fd)
				unix.Unlinkat(dfd, f.name, 0)
			}
			files[i] = tempFile{name: files[i].name, fd: -1}
		}
	}
	defer func() { // the files not renamed after a failure, as if never made
		for i := range files {
			if f := &files[i]; f.fd >= 0 {
				unix.Close(f.fd)
				unix.Unlinkat(dfd, f.name, 0)
			}
		}
	}()
	for i, o := range d.outs {
		f := &files[i]
		genErr := gen[i].err
		if !f.written {
			// kmod's way: created now (also when there is nothing to write), written
			// below.
			f.fd, f.openErr = unix.Openat(dfd, f.name, createFlags, 0o644)
		}
		if f.openErr != nil {
			d.log.err("openat(%s, %s, %o, %o): %s\n", d.outdir, f.name, createFlags&^unix.O_CLOEXEC, 0o644, strerror(f.openErr))
			continue
		}
		d.replayLog(gen[i])
		if genErr != nil {
			unix.Close(f.fd)
			f.fd = -1
			if err := unix.Unlinkat(dfd, f.name, 0); err != nil {
				d.log.err("unlinkat(%s, %s): %s\n", d.outdir, f.name, strerror(err))
			}
			d.log.err("Could not write index '%s': %s\n", o.name, strerror(genErr))
			return ErrFailed
		}
		fd := f.fd
		if !f.written {
			f.writeErr = writeAll(fd, gen[i].data)
		}
		if err := unix.Renameat(dfd, f.name, dfd, o.name); err != nil {
			unix.Close(fd)
			f.fd = -1
			d.log.crit("renameat(%s, %s, %s, %s): %s\n", d.outdir, f.name, d.outdir, o.name, strerror(err))
			return ErrFailed
		}
		f.fd = -1
		// The key comes from the descriptor, not the name: another depmod may rename
		// its own file over this one at any moment.
		var st unix.Stat_t
		keyed := d.cache != nil && gen[i].log.Len() == 0 && unix.Fstat(fd, &st) == nil
		werr := f.writeErr
		if cerr := unix.Close(fd); werr == nil {
			werr = cerr
		}
		if werr != nil {
			d.log.err("Could not create index '%s'. Output is truncated: %s\n", o.name, strerror(unix.ENOSPC))
			return ErrFailed
		}
		if keyed {
			if d.written == nil {
				d.written = map[string]fileKey{}
			}
			d.written[o.name] = keyOf(&st)
		}
	}
	return nil
}

const createFlags = unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY | unix.O_CLOEXEC

// tempFile is one output's temporary file: open (fd >= 0) until renamed or removed.
type tempFile struct {
	name     string
	fd       int
	written  bool // by prepareFiles
	openErr  error
	writeErr error
}

// prepareFiles creates and writes the temporary files of the outputs that were computed,
// spread over workers goroutines, and starts their writeback. It reports whether all of
// them could be.
func prepareFiles(dfd int, gen []*generated, files []tempFile, workers int) bool {
	parallelFor(len(files), workers, 1, func(k int) {
		if gen[k].err != nil {
			return
		}
		f := &files[k]
		f.fd, f.openErr = unix.Openat(dfd, f.name, createFlags, 0o644)
		if f.openErr != nil {
			f.fd = -1
			return
		}
		f.writeErr = writeAll(f.fd, gen[k].data)
		f.written = true
		if f.writeErr == nil && len(gen[k].data) > 0 {
			unix.SyncFileRange(f.fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		}
	})
	for _, f := range files {
		if f.openErr != nil || f.writeErr != nil {
			return false
		}
	}
	return true
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		b = b[n:]
	}
	return nil
}

// replayLog writes the messages an output's generation logged, where kmod would have
// printed them; most have none, and an empty write is still a system call.
func (d *depmod) replayLog(g *generated) {
	if g.log.Len() > 0 {
		d.log.w.Write(g.log.Bytes())
	}
}
