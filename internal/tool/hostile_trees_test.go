package tool

import (
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
)

// Hostile module trees for TestHostileTreesBounded: lib/modules/REL trees holding what
// no packaged kernel does. Each holds a few real modules of a prepared kernel too, so
// that depmod has dependencies to compute and modprobe something to find.

// hostileTree is one generated tree: depmod -b Root REL, modprobe -d Root -S REL of
// each of Probe, and modinfo of each of Files (absolute paths) are run on it.
type hostileTree struct {
	Name  string
	Root  string
	Probe []string
	Files []string
}

// moduleDir is Root/lib/modules/REL.
func (h hostileTree) moduleDir(rel string) string {
	return filepath.Join(h.Root, "lib/modules", rel)
}

// realModules returns n uncompressed modules of k (absolute paths), the first of its
// modules.order: whatever that build lists, so no module name is written down here.
func realModules(t *testing.T, k testenv.Kernel, n int) []string {
	t.Helper()
	var out []string
	for _, l := range readLinesOf(t, filepath.Join(k.ModDir(), "modules.order")) {
		p := filepath.Join(k.ModDir(), strings.TrimSpace(l))
		if strings.HasSuffix(p, ".ko") && fileExists(p) {
			out = append(out, p)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("%s: fewer than %d uncompressed modules in modules.order (%d)", k.ModDir(), n, len(out))
	return nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// newHostileTree makes Root/lib/modules/REL with the real modules mods copied into
// kernel/real/ and a modules.order naming them; Probe starts with the first one's name.
func newHostileTree(t *testing.T, name, rel string, mods []string) (hostileTree, string) {
	t.Helper()
	h := hostileTree{Name: name, Root: t.TempDir()}
	md := h.moduleDir(rel)
	var order strings.Builder
	for _, m := range mods {
		copyFile(t, m, filepath.Join(md, "kernel/real", filepath.Base(m)))
		order.WriteString("kernel/real/" + filepath.Base(m) + "\n")
	}
	writeFile(t, filepath.Join(md, "modules.order"), order.String())
	first := strings.TrimSuffix(filepath.Base(mods[0]), ".ko")
	h.Probe = []string{first, "no-such-module"}
	h.Files = []string{filepath.Join(md, "kernel/real", filepath.Base(mods[0]))}
	return h, md
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(data))
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// loopTrees are directory symbolic link loops, one kind per tree: kmod follows every
// link to a directory (fstatat, then openat) and stops only when openat fails with
// EMFILE, one descriptor held per level (tools/depmod.c depmod_modules_search_dir, v30
// and v34.2). Each tree is walked to that depth: about 1020 levels under the 1024
// descriptors the tools are run with. Two loops reachable from each other in one tree
// would make kmod's walk exponential in that depth, so each kind has its own tree.
func loopTrees(t *testing.T, rel string, mods []string) []hostileTree {
	var out []hostileTree
	// kernel/up -> ..: every module below the module directory is found again at each
	// level (kmod keeps the first found).
	h, md := newHostileTree(t, "loop-up", rel, mods)
	symlink(t, "..", filepath.Join(md, "kernel/up"))
	out = append(out, h)
	// kernel/self/self -> .: a self-loop beside the modules.
	h, md = newHostileTree(t, "loop-self", rel, mods)
	symlink(t, ".", filepath.Join(md, "kernel/self/self"))
	writeFile(t, filepath.Join(md, "kernel/self/garbage.ko"), "not a module\n")
	out = append(out, h)
	// kernel/p/q -> ../r and kernel/r/s -> ../p: two directories linked into each other.
	h, md = newHostileTree(t, "loop-cross", rel, mods)
	symlink(t, "../r", filepath.Join(md, "kernel/p/q"))
	symlink(t, "../p", filepath.Join(md, "kernel/r/s"))
	copyFile(t, mods[1], filepath.Join(md, "kernel/p", "cross_"+filepath.Base(mods[1])))
	h.Probe = append(h.Probe, "cross_"+strings.TrimSuffix(filepath.Base(mods[1]), ".ko"))
	out = append(out, h)
	return out
}

// deepTree is a chain of deepLevels directories named "d" (3000 bytes of path below the
// module directory: within PATH_MAX for the module paths kmod builds as deep as its walk
// goes), with copies of a real module at a few depths, the last one past the ~1020
// levels kmod's walk reaches before EMFILE.
const deepLevels = 1500

func deepTree(t *testing.T, rel string, mods []string) hostileTree {
	h, md := newHostileTree(t, "deep", rel, mods)
	data, err := os.ReadFile(mods[1])
	if err != nil {
		t.Fatal(err)
	}
	place := map[int]string{10: "deep10.ko", 500: "deep500.ko", 1000: "deep1000.ko", 1400: "deep1400.ko"}
	fd, err := unix.Open(filepath.Join(md, "kernel"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(md, "kernel")
	for i := 1; i <= deepLevels; i++ {
		if err := unix.Mkdirat(fd, "d", 0o755); err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		sub, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		fd, path = sub, path+"/d"
		if n, ok := place[i]; ok {
			writeAt(t, fd, n, data)
			h.Probe = append(h.Probe, strings.TrimSuffix(n, ".ko"))
			if len(path) < unix.PathMax-64 {
				h.Files = append(h.Files, path+"/"+n)
			}
		}
	}
	unix.Close(fd)
	return h
}

func writeAt(t *testing.T, dfd int, name string, data []byte) {
	t.Helper()
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, data); err != nil {
		t.Fatal(err)
	}
}

// Sizes of hugeTree's files: sparse ones cost no disk, the two written ones 64 MiB each
// (enough that reading one whole shows in time and memory; written in about a second).
const (
	hugeSparse  = 4 << 30  // zeros: no ELF header
	hugePadded  = 3 << 30  // a real module followed by a hole
	hugeWritten = 64 << 20 // pseudo-random bytes on disk
)

// hugeTree holds files named like modules far larger than any module.
func hugeTree(t *testing.T, rel string, mods []string) hostileTree {
	h, md := newHostileTree(t, "huge", rel, mods)
	dir := filepath.Join(md, "kernel/huge")
	sparse := filepath.Join(dir, "sparse.ko")
	writeFile(t, sparse, "")
	if err := os.Truncate(sparse, hugeSparse); err != nil {
		t.Fatal(err)
	}
	padded := filepath.Join(dir, "padded.ko")
	copyFile(t, mods[1], padded)
	if err := os.Truncate(padded, hugePadded); err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, hugeWritten)
	rand.New(rand.NewSource(1)).Read(garbage)
	written := filepath.Join(dir, "written.ko")
	writeFile(t, written, string(garbage))
	tail := filepath.Join(dir, "tail.ko")
	copyFile(t, mods[2], tail)
	f, err := os.OpenFile(tail, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(garbage); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.Probe = append(h.Probe, "sparse", "padded", "written", "tail")
	h.Files = append(h.Files, sparse, padded, written, tail)
	return h
}

// manyFiles is how many tiny files manyTree holds, in manyDirs directories: the size of
// Debian's own trees (about 4000 modules) several times over.
const (
	manyFiles = 20000
	manyDirs  = 100
)

// manyTree holds tens of thousands of tiny files named like modules: empty, text, a
// bare ELF magic, a cut-short ELF header, and copies of the first bytes of a real module.
func manyTree(t *testing.T, rel string, mods []string) hostileTree {
	h, md := newHostileTree(t, "many", rel, mods)
	real, err := os.ReadFile(mods[1])
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{"", "garbage\n", "\x7fELF", "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 40), string(real[:min(len(real), 200)])}
	for d := 0; d < manyDirs; d++ {
		dir := filepath.Join(md, "kernel/many", "d"+strconv.Itoa(d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < manyFiles/manyDirs; i++ {
			n := d*(manyFiles/manyDirs) + i
			p := filepath.Join(dir, "m"+strconv.Itoa(n)+".ko")
			if err := os.WriteFile(p, []byte(bodies[n%len(bodies)]), 0o644); err != nil {
				t.Fatal(err)
			}
			if n < len(bodies) {
				h.Files = append(h.Files, p)
				h.Probe = append(h.Probe, "m"+strconv.Itoa(n))
			}
		}
	}
	return h
}

// specialTree holds what is not a regular file, named like a module: a FIFO nobody
// writes to, character and block devices, a socket, links to them and to /dev/zero, a
// dangling link, and a directory named like a module holding a real one. Nothing may
// wait on them.
func specialTree(t *testing.T, rel string, mods []string) hostileTree {
	h, md := newHostileTree(t, "special", rel, mods)
	dir := filepath.Join(md, "kernel/special")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := unix.Mkfifo(p("fifo.ko"), 0o644); err != nil {
		t.Fatal(err)
	}
	// /dev/null's numbers, and a loop device's minor no system has: never opened for
	// more than a read.
	if err := unix.Mknod(p("chr.ko"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(p("blk.ko"), unix.S_IFBLK|0o644, int(unix.Mkdev(7, 250))); err != nil {
		t.Fatal(err)
	}
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(sock, &unix.SockaddrUnix{Name: p("sock.ko")}); err != nil {
		t.Fatal(err)
	}
	unix.Close(sock) // the socket file stays, with nobody behind it
	symlink(t, "fifo.ko", p("fifolink.ko"))
	symlink(t, "/dev/zero", p("zero.ko"))
	symlink(t, "nowhere", p("dangling.ko"))
	copyFile(t, mods[1], p("dir.ko/inner.ko"))
	for _, n := range []string{"fifo", "chr", "blk", "sock", "fifolink", "zero", "dangling", "inner"} {
		h.Probe = append(h.Probe, n)
		if n != "inner" {
			h.Files = append(h.Files, p(n+".ko"))
		}
	}
	h.Files = append(h.Files, p("dir.ko"))
	return h
}

// takeOutputs returns the contents of the files depmod wrote (modules.* but its inputs)
// in md, and with remove removes them, so that the next depmod run starts from the same tree.
func takeOutputs(t *testing.T, md string, remove bool) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(md)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "modules.") || n == "modules.order" || n == "modules.builtin" || n == "modules.builtin.modinfo" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(md, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(data)
		if remove {
			os.Remove(filepath.Join(md, n))
		}
	}
	return out
}
