package load_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/ko"
	"gokmod/load"
)

const sigFailed = "module verification failed: signature and/or required key missing - tainting kernel"

// replace returns b with old replaced by new (same length) once, failing if absent.
func replace(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if len(old) != len(new) || !bytes.Contains(b, []byte(old)) {
		t.Fatalf("cannot replace %q by %q", old, new)
	}
	return bytes.Replace(append([]byte(nil), b...), []byte(old), []byte(new), 1)
}

func wantErr(t *testing.T, r *load.Result, want unix.Errno) {
	t.Helper()
	if want == 0 && r.Err != nil || want != 0 && !errors.Is(r.Err, want) {
		t.Fatalf("err = %v, want %v\n%v\ntrace: %v", r.Err, want, r, r.Trace)
	}
}

func wantLog(t *testing.T, r *load.Result, want ...string) {
	t.Helper()
	if got := r.LogText(); !slices.Equal(got, want) {
		t.Fatalf("log =\n%q\nwant\n%q\ntrace: %v", got, want, r.Trace)
	}
}

// The sizes of in-tree modules: each build has its own, which the real kernel judges
// (internal/testing/fidelity compares every module's coresize and initsize with the guest's);
// here, what holds on every build: page-rounded core and init memory, the live module's
// size column equal to its coresize, initsize 0 once live and not while COMING.
func TestInTreeSizes(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		for _, name := range []string{"minix", "llc", "stp", "bridge"} {
			r := mustLoad(t, m, inTree(t, tg.k, name), "")
			if r.Module.CoreSize == 0 || r.Module.CoreSize%4096 != 0 || r.Module.Size != r.Module.CoreSize || r.Module.InitSize != 0 {
				t.Errorf("%s %s: coresize %d size %d initsize %d", tg.k.Release, name,
					r.Module.CoreSize, r.Module.Size, r.Module.InitSize)
			}
			if got := r.Layout.InitSize(); got == 0 || got%4096 != 0 {
				t.Errorf("%s %s: initsize while COMING %d", tg.k.Release, name, got)
			}
			if r.Log != nil || r.Taint != 0 {
				t.Errorf("%s %s: log %q taint %q, want none", tg.k.Release, name, r.LogText(), r.Taint)
			}
		}
	}
}

// The spec's layout rules, on 6.1: a section group per page, the core symbol table on
// its own page; on 6.12 seven independently page-rounded types.
func TestWorkedLayoutInvariants(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		r := mustLoad(t, m, pg(t, tg, "pg_nodeps"), "")
		if r.Module.CoreSize%4096 != 0 {
			t.Errorf("%s: coresize %d not page-aligned", tg.k.Release, r.Module.CoreSize)
		}
		want := uint32(16384) // text, rodata, data, core symtab
		if tg.has(load.ModuleMemory) {
			want = 12288 // MOD_TEXT, MOD_RODATA, MOD_DATA (+ symtab)
		}
		if r.Module.CoreSize != want {
			t.Errorf("%s: pg_nodeps coresize %d, want %d\n%v", tg.k.Release, r.Module.CoreSize, want, r.Layout)
		}
	}
}

func TestIgnoreModversionsKeepsVersions(t *testing.T) {
	tg := pick(t, 6, 1)
	plain := mustLoad(t, load.New(tg.k, load.Options{}), inTree(t, tg.k, "minix"), "")
	m := load.New(tg.k, load.Options{})
	r := m.Load(inTree(t, tg.k, "minix"), "", load.IgnoreModversions)
	wantErr(t, r, 0)
	// __versions stays allocated when modversions are ignored (VM_RECIPE §5: a page more
	// than the plain load in the guest).
	if r.Module.CoreSize <= plain.Module.CoreSize {
		t.Errorf("coresize %d, want more than the plain load's %d", r.Module.CoreSize, plain.Module.CoreSize)
	}
	if r.Taint.String() != "FE" {
		t.Errorf("taint %q, want FE", r.Taint)
	}
	// The forced load: "module_layout" has no version to check, try_to_force_load taints
	// F and says so once; the signature is ignored (E).
	// Forcing makes lockdep unreliable: the first such taint of a boot says so (seen in
	// the real guest).
	wantLog(t, r, "minix: module_layout: kernel tainted.", "Disabling lock debugging due to kernel taint", "minix: "+sigFailed)
}

func TestIgnoreVermagic(t *testing.T) {
	tg := pick(t, 6, 1)
	plain := mustLoad(t, load.New(tg.k, load.Options{}), inTree(t, tg.k, "minix"), "")
	m := load.New(tg.k, load.Options{})
	r := m.Load(inTree(t, tg.k, "minix"), "", load.IgnoreVermagic)
	wantErr(t, r, 0)
	if r.Module.CoreSize != plain.Module.CoreSize || r.Taint.String() != "FE" {
		t.Errorf("coresize %d taint %q, want the plain load's %d, FE", r.Module.CoreSize, r.Taint, plain.Module.CoreSize)
	}
	wantLog(t, r, "minix: bad vermagic: kernel tainted.", "Disabling lock debugging due to kernel taint", "minix: "+sigFailed)
}

func TestTruncated(t *testing.T) {
	for _, tg := range kernels(t) {
		b := inTree(t, tg.k, "minix")
		r := load.New(tg.k, load.Options{}).Load(b[:len(b)/2], "", 0)
		wantErr(t, r, unix.ENOEXEC)
		if tg.has(load.ElfValidityMessages) {
			wantLog(t, r, "Invalid ELF section header overflow")
		} else {
			wantLog(t, r, "Module has invalid ELF structures")
		}
	}
}

func TestELFHeaderErrors(t *testing.T) {
	for _, tg := range kernels(t) {
		good := stripSig(t, inTree(t, tg.k, "minix"))
		for _, tc := range []struct {
			name string
			edit func([]byte)
			log  string
		}{
			{"magic", func(b []byte) { b[1] = 'X' }, "Invalid ELF header magic: != \x7fELF"},
			{"type", func(b []byte) { b[16] = 2 }, "Invalid ELF header type: 2 != 1"},
			{"machine", func(b []byte) { b[18] = 3 }, "Invalid architecture in ELF header: 3"},
			{"shentsize", func(b []byte) { b[58] = 40 }, "Invalid ELF section header size"},
			{"shstrndx", func(b []byte) { b[62], b[63] = 0, 0 }, "Invalid ELF section name index: 0 || e_shstrndx (0) >= e_shnum (" + fmt.Sprint(int(good[60])|int(good[61])<<8) + ")"},
		} {
			b := append([]byte(nil), good...)
			tc.edit(b)
			r := load.New(tg.k, load.Options{}).Load(b, "", 0)
			wantErr(t, r, unix.ENOEXEC)
			if !tg.has(load.ElfValidityMessages) {
				tc.log = "Module has invalid ELF structures"
			}
			wantLog(t, r, tc.log)
		}
		r := load.New(tg.k, load.Options{}).InitModule(good[:63], "")
		wantErr(t, r, unix.ENOEXEC)
		wantLog(t, r)
	}
}

func TestStpWithoutLlc(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		r := m.Load(inTree(t, tg.k, "stp"), "", 0)
		wantErr(t, r, unix.ENOENT)
		wantLog(t, r, "stp: Unknown symbol llc_sap_close (err -2)", "stp: Unknown symbol llc_sap_open (err -2)")
		if len(m.Modules()) != 0 {
			t.Errorf("%s: failed module left in the list", tg.k.Release)
		}
	}
}

func TestBridgeStackHoldersAndUnload(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		for _, n := range []string{"llc", "stp", "bridge"} {
			mustLoad(t, m, inTree(t, tg.k, n), "")
		}
		llc := m.Module("llc")
		if !slices.Equal(llc.Holders, []string{"bridge", "stp"}) || llc.RefCount != 2 {
			t.Errorf("%s: llc holders %v refcnt %d, want [bridge stp] 2", tg.k.Release, llc.Holders, llc.RefCount)
		}
		if stp := m.Module("stp"); !slices.Equal(stp.Holders, []string{"bridge"}) || stp.RefCount != 1 {
			t.Errorf("%s: stp holders %v refcnt %d", tg.k.Release, stp.Holders, stp.RefCount)
		}
		var names []string
		for _, s := range m.Modules() {
			names = append(names, s.Name)
		}
		if !slices.Equal(names, []string{"bridge", "stp", "llc"}) {
			t.Errorf("%s: module list %v", tg.k.Release, names)
		}
		wantErr(t, m.Delete("llc", load.DeleteNonblock), unix.EWOULDBLOCK)
		wantErr(t, m.Delete("nosuchmod", load.DeleteNonblock), unix.ENOENT)
		wantErr(t, m.Delete("", load.DeleteNonblock), unix.ENOENT)
		wantErr(t, m.Load(inTree(t, tg.k, "llc"), "", 0), unix.EEXIST)
		for _, n := range []string{"bridge", "stp", "llc"} {
			wantErr(t, m.Delete(n, load.DeleteNonblock), 0)
		}
		if len(m.Modules()) != 0 {
			t.Errorf("%s: modules left: %v", tg.k.Release, m.Modules())
		}
	}
}

func TestUnsignedTaintsOncePerBoot(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		r := m.Load(stripSig(t, inTree(t, tg.k, "minix")), "", 0)
		wantErr(t, r, 0)
		wantLog(t, r, "minix: "+sigFailed)
		if r.Taint.String() != "E" || r.Module.Taint.ModuleString() != "E" {
			t.Errorf("%s: taint %q / module %q", tg.k.Release, r.Taint, r.Module.Taint.ModuleString())
		}
		r = m.Load(stripSig(t, inTree(t, tg.k, "llc")), "", 0)
		wantErr(t, r, 0)
		wantLog(t, r)
		if r.Module.Taint.ModuleString() != "E" {
			t.Errorf("%s: second unsigned module not tainted E", tg.k.Release)
		}
	}
}

func TestSignatures(t *testing.T) {
	for _, tg := range kernels(t) {
		signed := inTree(t, tg.k, "minix")
		bad := append([]byte(nil), signed...)
		bad[len(bad)-28-12-5] ^= 0x40 // inside the RSA signature
		wantErr(t, load.New(tg.k, load.Options{}).Load(bad, "", 0), unix.EKEYREJECTED)

		enforce := *tg.k
		enforce.CmdLine = "module.sig_enforce=1"
		m := load.New(&enforce, load.Options{})
		wantErr(t, m.Load(signed, "", 0), 0)
		r := m.Load(stripSig(t, inTree(t, tg.k, "llc")), "", 0)
		wantErr(t, r, unix.EKEYREJECTED)
		wantLog(t, r, "Loading of unsigned module is rejected")

		r = load.New(tg.k, load.Options{Lockdown: true}).Load(stripSig(t, signed), "", 0)
		wantErr(t, r, unix.EPERM)
		wantLog(t, r, "Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7")
	}
}

func TestVermagicMismatch(t *testing.T) {
	for _, tg := range kernels(t) {
		b := stripSig(t, inTree(t, tg.k, "minix"))
		b = replace(t, b, " mod_unload ", " mod_unlaod ")
		r := load.New(tg.k, load.Options{}).Load(b, "", 0)
		wantErr(t, r, unix.ENOEXEC)
		bad := strings.Replace(tg.k.Vermagic, " mod_unload ", " mod_unlaod ", 1)
		wantLog(t, r, fmt.Sprintf("minix: version magic '%s' should be '%s'", bad, tg.k.Vermagic))
		// Only the release differs: ignored when the module has CRCs (same_magic skips
		// the release with modversions), refused without them (7.x builds without).
		rel := replace(t, stripSig(t, inTree(t, tg.k, "minix")), "vermagic="+tg.k.Release[:3], "vermagic=9.9")
		want := unix.Errno(0)
		if !tg.k.Config.Modversions() {
			want = unix.ENOEXEC
		}
		wantErr(t, load.New(tg.k, load.Options{}).Load(rel, "", 0), want)
	}
}

func TestCRCMismatch(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		mustLoad(t, m, inTree(t, tg.k, "llc"), "")
		b := stripSig(t, inTree(t, tg.k, "stp"))
		f, err := ko.Parse("stp", b)
		if err != nil {
			t.Fatal(err)
		}
		v := f.Section("__versions")
		if !tg.k.Config.Modversions() {
			// No CONFIG_MODVERSIONS (Debian's 7.x): no CRCs to disagree about.
			if v != nil {
				t.Errorf("%s: stp has __versions on a kernel without CONFIG_MODVERSIONS", tg.k.Release)
			}
			mustLoad(t, m, b, "")
			continue
		}
		i := bytes.Index(b[v.Offset:v.Offset+v.Size], []byte("llc_sap_open\x00"))
		b[v.Offset+uint64(i)-8] ^= 1 // the CRC precedes the name
		r := m.Load(b, "", 0)
		wantErr(t, r, unix.EINVAL)
		wantLog(t, r, "stp: "+sigFailed, "stp: disagrees about version of symbol llc_sap_open",
			"stp: Unknown symbol llc_sap_open (err -22)")

		// A symbol missing from __versions is an error too in Debian's 6.1.192/6.12.117.
		b = stripSig(t, inTree(t, tg.k, "stp"))
		b[v.Offset+uint64(i)] = 'L' // "Llc_sap_open"
		r = m.Load(b, "", 0)
		wantErr(t, r, unix.EINVAL)
		wantLog(t, r, "stp: no symbol version for llc_sap_open", "stp: Unknown symbol llc_sap_open (err -22)")

		// Upstream, without Debian's patch, warns once per boot and accepts it.
		other := *tg.k
		other.Distro = "upstream"
		m = load.New(&other, load.Options{})
		mustLoad(t, m, inTree(t, tg.k, "llc"), "")
		r = mustLoad(t, m, b, "")
		wantLog(t, r, "stp: "+sigFailed, "stp: no symbol version for llc_sap_open")
		wantErr(t, m.Delete("stp", 0), 0)
		r = mustLoad(t, m, b, "")
		wantLog(t, r)
	}
}

func TestParams(t *testing.T) {
	for _, tg := range kernels(t) {
		hello := pg(t, tg, "pg_hello")
		for _, tc := range []struct {
			params string
			err    unix.Errno
			log    []string
		}{
			{"count=3 verbose name=\"a b\" values=1,2,3", 0, nil},
			{"count=abc", unix.EINVAL, []string{"pg_hello: `abc' invalid for parameter `count'"}},
			{"count=99999999999", unix.ERANGE, []string{"pg_hello: `99999999999' invalid for parameter `count'"}},
			{"count", unix.EINVAL, []string{"pg_hello: `' invalid for parameter `count'"}},
			{"bogus=1", 0, []string{"pg_hello: unknown parameter 'bogus' ignored"}},
			{"foo.dyndbg=+p dyndbg async_probe", 0, nil},
			{"x.y=1", 0, []string{"pg_hello: unknown parameter 'x' ignored"}},
			{"values=1,2,x,4", unix.EINVAL, []string{"pg_hello: `1' invalid for parameter `values'"}},
			{"values=1,2,3,4,5,6,7,8,9", unix.EINVAL, []string{"values: can only take 8 arguments", "pg_hello: `1' invalid for parameter `values'"}},
			{"verbose=maybe count=x", unix.EINVAL, []string{"pg_hello: `maybe' invalid for parameter `verbose'", "pg_hello: `x' invalid for parameter `count'"}},
			{"count=1 -- count=x", 0, []string{"pg_hello: parameters 'count=x' after `--' ignored"}},
			{"count=0x10 verbose=on", 0, nil},
		} {
			m := load.New(tg.k, load.Options{})
			r := m.Load(hello, tc.params, 0)
			wantErr(t, r, tc.err)
			want := []string{"pg_hello: loading out-of-tree module taints kernel.", "pg_hello: " + sigFailed}
			if !tg.has(load.TaintsAfterList) {
				want = want[:1]
				want = append(want, "pg_hello: "+sigFailed)
			}
			wantLog(t, r, append(want, tc.log...)...)
			if r.Taint.String() != "OE" {
				t.Errorf("%s %q: taint %q", tg.k.Release, tc.params, r.Taint)
			}
			if tc.err != 0 && m.Module("pg_hello") != nil {
				t.Errorf("%s %q: failed module still listed", tg.k.Release, tc.params)
			}
		}
	}
}

func TestPlaygroundExportsAndNamespaces(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		r := mustLoad(t, m, pg(t, tg, "pg_exporter"), "")
		if r.Taint.String() != "OE" {
			t.Errorf("%s: taint %q", tg.k.Release, r.Taint)
		}
		for _, n := range []string{"pg_use_plain", "pg_use_gpl", "pg_use_ns"} {
			r := mustLoad(t, m, pg(t, tg, n), "")
			wantLog(t, r)
		}
		ex := m.Module("pg_exporter")
		if !slices.Equal(ex.Holders, []string{"pg_use_ns", "pg_use_gpl", "pg_use_plain"}) || ex.RefCount != 3 {
			t.Errorf("%s: exporter holders %v refcnt %d", tg.k.Release, ex.Holders, ex.RefCount)
		}
		for _, n := range []string{"pg_use_ns", "pg_use_gpl", "pg_use_plain"} {
			wantErr(t, m.Delete(n, 0), 0)
		}

		// Without the import: the namespace check refuses it (EINVAL).
		noImport := replace(t, pg(t, tg, "pg_use_ns"), "import_ns=PG_NS", "xmport_ns=PG_NS")
		r = m.Load(noImport, "", 0)
		wantErr(t, r, unix.EINVAL)
		wantLog(t, r, "pg_use_ns: module uses symbol (pg_ns) from namespace PG_NS, but does not import it.",
			"pg_use_ns: Unknown symbol pg_ns (err -22)")
	}
}

func TestProprietaryUsingGPLSymbol(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		mustLoad(t, m, pg(t, tg, "pg_exporter"), "")
		r := m.Load(pg(t, tg, "pg_proprietary"), "", 0)
		wantErr(t, r, unix.ENOENT)
		if !tg.has(load.TaintsAfterList) {
			wantLog(t, r, "pg_proprietary: module license 'Proprietary' taints kernel.", "Disabling lock debugging due to kernel taint",
				"pg_proprietary: Unknown symbol pg_gpl (err -2)")
		} else {
			wantLog(t, r, "pg_proprietary: module license 'Proprietary' taints kernel.", "Disabling lock debugging due to kernel taint",
				"pg_proprietary: module license taints kernel.",
				"pg_proprietary: Unknown symbol pg_gpl (err -2)")
		}
		if r.Taint.String() != "POE" {
			t.Errorf("%s: taint %q, want POE", tg.k.Release, r.Taint)
		}
	}
}

func TestProprietaryFirstBootMessages(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		r := m.Load(pg(t, tg, "pg_proprietary"), "", 0)
		wantErr(t, r, unix.ENOENT)
		oot := "pg_proprietary: loading out-of-tree module taints kernel."
		lic := "pg_proprietary: module license 'Proprietary' taints kernel."
		sig := "pg_proprietary: " + sigFailed
		sum := "pg_proprietary: module license taints kernel."
		unk := "pg_proprietary: Unknown symbol pg_gpl (err -2)"
		dbg := "Disabling lock debugging due to kernel taint"
		if !tg.has(load.TaintsAfterList) {
			wantLog(t, r, oot, lic, dbg, sig, unk)
		} else {
			wantLog(t, r, oot, lic, dbg, sig, sum, unk)
		}
	}
}

func TestDuplicateTaintsDifferByLine(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		mustLoad(t, m, pg(t, tg, "pg_nodeps"), "")
		// A second copy: 6.1 checks modinfo (and taints) before the duplicate check,
		// 6.12 checks for the duplicate first; neither prints anything new here because
		// O and E were set by the first load.
		r := m.Load(pg(t, tg, "pg_nodeps"), "", 0)
		wantErr(t, r, unix.EEXIST)
		wantLog(t, r)
	}
}

func TestInitFailure(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{InitResult: func(name string) int {
			if name == "pg_enodev" {
				return -int(unix.ENODEV)
			}
			return 0
		}})
		r := m.Load(pg(t, tg, "pg_enodev"), "", 0)
		wantErr(t, r, unix.ENODEV)
		if m.Module("pg_enodev") != nil {
			t.Errorf("%s: failed init left the module", tg.k.Release)
		}
	}
}

func TestBuiltinNameClash(t *testing.T) {
	for _, tg := range kernels(t) {
		if !tg.k.BuiltinSysfs["kernel"] {
			t.Fatalf("%s: /sys/module/kernel not predicted", tg.k.Release)
		}
		// Rename minix to "kernel" in .modinfo and struct module: /sys/module/kernel exists
		// for core_param()s, so mod_sysfs_setup refuses it after everything else passed.
		b := stripSig(t, inTree(t, tg.k, "minix"))
		b = replace(t, b, "name=minix\x00", "name=kernel")
		f, err := ko.Parse("m", b)
		if err != nil {
			t.Fatal(err)
		}
		tm := f.Section(".gnu.linkonce.this_module")
		copy(b[tm.Offset+24:], "kernel\x00")
		// "name=kernel" swallowed the NUL: the next string now starts right after it.
		r := load.New(tg.k, load.Options{}).Load(b, "", 0)
		wantErr(t, r, unix.EINVAL)
		if log := r.LogText(); log[len(log)-1] != "kernel: module is already loaded" {
			t.Errorf("%s: log %q", tg.k.Release, log)
		}
	}
}

func TestFinitFlagsAndCompression(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		wantErr(t, m.Load(inTree(t, tg.k, "minix"), "", 8), unix.EINVAL)
		wantErr(t, m.Load(nil, "", 0), unix.EINVAL)
		r := m.Load(inTree(t, tg.k, "minix"), "", load.CompressedFile)
		if !tg.has(load.InKernelDecompress) {
			wantErr(t, r, unix.EINVAL) // an unknown flag before 5.17
			wantLog(t, r)
		} else if tg.k.Config.Decompress() == "" {
			wantErr(t, r, unix.EOPNOTSUPP)
		} else {
			wantErr(t, r, unix.EINVAL)
			wantLog(t, r, "not an xz compressed module")
		}
		wantErr(t, load.New(tg.k, load.Options{Unprivileged: true}).Load(inTree(t, tg.k, "minix"), "", 0), unix.EPERM)
	}
}

func TestBlacklist(t *testing.T) {
	tg := pick(t, 6, 1)
	k := *tg.k
	k.CmdLine = "module_blacklist=foo,minix"
	r := load.New(&k, load.Options{}).Load(inTree(t, tg.k, "minix"), "", 0)
	wantErr(t, r, unix.EPERM)
	wantLog(t, r, "Module minix is blacklisted")
}

// /proc/modules as m_show prints it: newest first, holders listed, taint flags; the
// sizes are the model's own (the guest judges them in internal/testing/fidelity).
func TestProcModules(t *testing.T) {
	tg := pick(t, 6, 1)
	m := load.New(tg.k, load.Options{})
	size := map[string]uint32{}
	for _, n := range []string{"llc", "stp", "bridge"} {
		size[n] = mustLoad(t, m, inTree(t, tg.k, n), "").Module.CoreSize
	}
	size["pg_nodeps"] = mustLoad(t, m, pg(t, tg, "pg_nodeps"), "").Module.CoreSize
	want := fmt.Sprintf("pg_nodeps %d 0 - Live 0x0000000000000000 (OE)\n", size["pg_nodeps"]) +
		fmt.Sprintf("bridge %d 0 - Live 0x0000000000000000\n", size["bridge"]) +
		fmt.Sprintf("stp %d 1 bridge, Live 0x0000000000000000\n", size["stp"]) +
		fmt.Sprintf("llc %d 2 bridge,stp, Live 0x0000000000000000\n", size["llc"])
	if got := m.ProcModules(); got != want {
		t.Errorf("/proc/modules:\n%s\nwant\n%s", got, want)
	}
}

// A 6.1 module offered to 6.12: the signature's key is unknown (ENOKEY, not fatal), but
// struct module has another size, which 6.12 checks first.
func TestCrossKernelModule(t *testing.T) {
	k61, k612 := pick(t, 6, 1), pick(t, 6, 12)
	r := load.New(k612.k, load.Options{}).Load(inTree(t, k61.k, "minix"), "", 0)
	wantErr(t, r, unix.ENOEXEC)
	wantLog(t, r, "module minix: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time")
	// And the other way: 6.1 has no size check; module_layout's CRC differs.
	r = load.New(k61.k, load.Options{}).Load(inTree(t, k612.k, "minix"), "", 0)
	wantErr(t, r, unix.ENOEXEC)
	wantLog(t, r, "minix: disagrees about version of symbol module_layout")
}

// finit_module(MODULE_INIT_COMPRESSED_FILE) on 6.12 takes the .ko.xz as shipped.
func TestCompressedFinit(t *testing.T) {
	tg := pick(t, 6, 12)
	raw, err := os.ReadFile(filepath.Join(tg.k.ModDir, tg.k.InTree["minix"]))
	if err != nil {
		t.Fatal(err)
	}
	plain := mustLoad(t, load.New(tg.k, load.Options{}), inTree(t, tg.k, "minix"), "")
	r := load.New(tg.k, load.Options{}).Load(raw, "", load.CompressedFile)
	wantErr(t, r, 0)
	if r.Module.CoreSize != plain.Module.CoreSize || r.Taint != 0 {
		t.Errorf("coresize %d taint %q", r.Module.CoreSize, r.Taint)
	}
	// init_module with the compressed bytes is not an ELF file.
	r = load.New(tg.k, load.Options{}).InitModule(raw, "")
	wantErr(t, r, unix.ENOEXEC)
	wantLog(t, r, "Invalid ELF header magic: != \x7fELF")
}

// The relocated image: struct module's name survives, and a PLT32 call in .text was
// patched (no longer zero).
func TestKeepImage(t *testing.T) {
	tg := pick(t, 6, 12)
	r := load.New(tg.k, load.Options{KeepImage: true}).Load(inTree(t, tg.k, "llc"), "", 0)
	wantErr(t, r, 0)
	found := false
	for _, s := range r.Image {
		if s.Name == ".gnu.linkonce.this_module" {
			found = bytes.HasPrefix(s.Data[24:], []byte("llc\x00"))
		}
	}
	if !found || r.Relocs["R_X86_64_PLT32"] == 0 {
		t.Errorf("image %d sections, relocs %v", len(r.Image), r.Relocs)
	}
	if !strings.Contains(r.Explain(), "apply_relocations") {
		t.Errorf("explain:\n%s", r.Explain())
	}
}

// vrf has module_init but no module_exit: "[permanent]", removable only by force (R).
func TestPermanentModule(t *testing.T) {
	for _, tg := range kernels(t) {
		m := load.New(tg.k, load.Options{})
		mustLoad(t, m, inTree(t, tg.k, "vrf"), "")
		if !strings.Contains(m.ProcModules(), " 0 [permanent], Live") {
			t.Errorf("%s: %q", tg.k.Release, m.ProcModules())
		}
		wantErr(t, m.Delete("vrf", load.DeleteNonblock), unix.EBUSY)
		r := m.Delete("vrf", load.DeleteNonblock|load.DeleteForce)
		wantErr(t, r, 0)
		if r.Taint.String() != "R" || m.Module("vrf") != nil {
			t.Errorf("%s: forced unload: taint %q, still listed %v", tg.k.Release, r.Taint, m.Module("vrf") != nil)
		}
	}
}

// A staging driver taints C and warns every time, even when C is already set.
func TestStagingTaint(t *testing.T) {
	for _, tg := range kernels(t) {
		var staging []string
		for n, p := range tg.k.InTree {
			if strings.Contains(p, "/staging/") {
				staging = append(staging, n)
			}
		}
		slices.Sort(staging)
		m := load.New(tg.k, load.Options{})
		for _, n := range staging[:2] {
			deps := tg.k.Deps[n]
			for j := len(deps) - 1; j >= 0; j-- {
				if m.Module(deps[j]) == nil {
					mustLoad(t, m, inTree(t, tg.k, deps[j]), "")
				}
			}
			r := mustLoad(t, m, inTree(t, tg.k, n), "")
			wantLog(t, r, n+": module is from the staging directory, the quality is unknown, you have been warned.")
			if !r.Taint.Has(load.TaintCrap) || r.Module.Taint.ModuleString() != "C" {
				t.Errorf("%s %s: taint %q", tg.k.Release, n, r.Taint)
			}
		}
	}
}
