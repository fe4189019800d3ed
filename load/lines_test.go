package load_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
	"gokmod/load"
)

// at is tg's kernel as if it were version v: the changes are gated on the version alone,
// so a change's two sides are seen on one set of files. (Each side is judged in QEMU on
// the line that has it; this test pins what each gate switches.)
func at(tg target, v kernel.Version) *kernel.Kernel {
	k := *tg.k
	k.Version = v
	return &k
}

// Before 5.16 elf_validity_check says nothing but for its two section lines, and
// load_module adds one line after any failure.
func TestElfValidityMessagesGate(t *testing.T) {
	tg := pick(t, 6, 1)
	old := at(tg, kernel.Version{Major: 5, Minor: 10, Patch: 223})
	b := stripSig(t, inTree(t, tg.k, "minix"))
	b[1] = 'X'
	r := load.New(old, load.Options{}).Load(b, "", 0)
	wantErr(t, r, unix.ENOEXEC)
	wantLog(t, r, "Module has invalid ELF structures")
	r = load.New(tg.k, load.Options{}).Load(b, "", 0)
	wantErr(t, r, unix.ENOEXEC)
	wantLog(t, r, "Invalid ELF header magic: != \x7fELF")
}

// MODULE_INIT_COMPRESSED_FILE is an unknown flag before 5.17: EINVAL, nothing logged.
func TestInKernelDecompressGate(t *testing.T) {
	tg := pick(t, 6, 1)
	old := at(tg, kernel.Version{Major: 5, Minor: 10, Patch: 223})
	r := load.New(old, load.Options{}).Load(inTree(t, tg.k, "minix"), "", load.CompressedFile)
	wantErr(t, r, unix.EINVAL)
	wantLog(t, r)
	if !load.New(tg.k, load.Options{}).Has(load.InKernelDecompress) || load.New(old, load.Options{}).Has(load.InKernelDecompress) {
		t.Error("InKernelDecompress: 6.1 has it, 5.10 does not")
	}
}

// A stable backport counts from its first release of the line, and only on that line.
func TestChangeBackports(t *testing.T) {
	for _, tt := range []struct {
		v    kernel.Version
		want bool
	}{
		{kernel.Version{Major: 6, Minor: 12, Patch: 116}, false},
		{kernel.Version{Major: 6, Minor: 12, Patch: 117}, true},
		{kernel.Version{Major: 6, Minor: 11, Patch: 200}, false},
		{kernel.Version{Major: 6, Minor: 13}, true},
		{kernel.Version{Major: 7, Minor: 2, Patch: 13}, true},
	} {
		if got := load.ElfValidityCache.In(tt.v); got != tt.want {
			t.Errorf("ElfValidityCache in %v: %v, want %v", tt.v, got, tt.want)
		}
	}
	for i, c := range load.Changes {
		if c.Name == "" || len(c.Commit) < 15 || c.Commit[12] != ' ' {
			t.Errorf("change %d: %+v: name and `commit \"subject\"` wanted", i, c)
		}
		if i > 0 && c.Since.Line() != load.Changes[i-1].Since.Line() && !c.Since.AtLeast(load.Changes[i-1].Since.Major, load.Changes[i-1].Since.Minor) {
			t.Errorf("changes out of release order at %s", c.Name)
		}
	}
}
