package load_test

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/kernel"
	"gokmod/ko"
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
		pinned := len(c.Commit) > 15 && c.Commit[12] == ' ' && c.Commit[13] == '"'
		if c.Name == "" || !pinned && !strings.HasPrefix(c.Commit, "(commit not pinned; seen in linux-source-") {
			t.Errorf("change %d: %+v: a name, and `commit \"subject\"` or where it was seen", i, c)
		}
		if !pinned {
			t.Logf("%s (%s): commit not pinned", c.Name, c.Since.Line())
		}
		if i > 0 && c.Since.Line() != load.Changes[i-1].Since.Line() && !c.Since.AtLeast(load.Changes[i-1].Since.Major, load.Changes[i-1].Since.Minor) {
			t.Errorf("changes out of release order at %s", c.Name)
		}
	}
}

// 7.2's do_init_module: an init's -EEXIST is reported as -EBUSY, and a positive return
// warns in one line.
func TestInitEexistEbusyGate(t *testing.T) {
	tg := pick(t, 6, 12)
	eexist := func(string) int { return -int(unix.EEXIST) }
	r := load.New(at(tg, kernel.Version{Major: 7, Minor: 2, Patch: 13}), load.Options{InitResult: eexist}).Load(pg(t, tg, "pg_nodeps"), "", 0)
	wantErr(t, r, unix.EBUSY)
	r = load.New(tg.k, load.Options{InitResult: eexist}).Load(pg(t, tg, "pg_nodeps"), "", 0)
	wantErr(t, r, unix.EEXIST)
	r = load.New(at(tg, kernel.Version{Major: 7, Minor: 2, Patch: 13}), load.Options{InitResult: func(string) int { return 3 }}).Load(pg(t, tg, "pg_nodeps"), "", 0)
	wantErr(t, r, 0)
	if l := r.LogText(); len(l) == 0 || l[len(l)-1] != "pg_nodeps: init suspiciously returned 3, it should follow 0/-E convention" {
		t.Errorf("log %q", l)
	}
}

// 7.2's elf_validity_cache_strtab refuses a .strtab that does not start with NUL; 6.12
// does not look.
func TestStrtabChecksGate(t *testing.T) {
	tg := pick(t, 6, 12)
	b := pg(t, tg, "pg_nodeps")
	f, err := ko.Parse("pg_nodeps", b)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".strtab")
	if s == nil || s.Size == 0 {
		t.Fatal("pg_nodeps has no .strtab")
	}
	b = append([]byte(nil), b...)
	b[s.Offset] = 'x'
	r := load.New(at(tg, kernel.Version{Major: 7, Minor: 2, Patch: 13}), load.Options{}).Load(b, "", 0)
	wantErr(t, r, unix.ENOEXEC)
	if l := r.LogText(); len(l) == 0 || l[len(l)-1] != "symbol string table missing leading NUL" {
		t.Errorf("7.2: log %q", l)
	}
	if load.New(tg.k, load.Options{}).Load(b, "", 0).Errno() == unix.ENOEXEC {
		t.Error("6.12 refused a .strtab it does not check")
	}
}

// A module built before __kflagstab exports through __ksymtab_gpl: 7.2 ignores that
// section with a warning and refuses exports without flags.
func TestKFlagstabGate(t *testing.T) {
	tg := pick(t, 6, 12)
	r := load.New(at(tg, kernel.Version{Major: 7, Minor: 2, Patch: 13}), load.Options{}).Load(pg(t, tg, "pg_exporter"), "", 0)
	wantErr(t, r, unix.ENOEXEC)
	l := r.LogText()
	want := []string{"pg_exporter: ignoring obsolete section __ksymtab_gpl", "pg_exporter: ignoring obsolete section __kcrctab_gpl",
		"pg_exporter: no flags for exported symbols"}
	if len(l) < len(want) || !slices.Equal(l[len(l)-len(want):], want) {
		t.Errorf("log %q, want it to end with %q", l, want)
	}
}
