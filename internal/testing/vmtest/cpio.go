package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// cpioEntry is one file, directory or symlink of the initramfs.
type cpioEntry struct {
	mode uint32 // file type and permission bits, as in st_mode
	data []byte // contents, or the target of a symlink
}

const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// writeCpio writes entries as an uncompressed "newc" archive, the format the kernel
// unpacks into its initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
// Parents are emitted before children; everything is owned by root.
func writeCpio(w io.Writer, entries map[string]cpioEntry) error {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	bw := bufio.NewWriterSize(w, 1<<20)
	ino := 1
	put := func(name string, e cpioEntry) {
		nlink := 1
		if e.mode&0o170000 == modeDir {
			nlink = 2
		}
		fmt.Fprintf(bw, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		bw.WriteString(name)
		bw.WriteByte(0)
		pad(bw, 110+len(name)+1)
		bw.Write(e.data)
		pad(bw, len(e.data))
	}
	for _, n := range names {
		put(strings.TrimPrefix(n, "/"), entries[n])
	}
	put("TRAILER!!!", cpioEntry{})
	return bw.Flush()
}

func pad(w *bufio.Writer, n int) {
	for ; n%4 != 0; n++ {
		w.WriteByte(0)
	}
}
