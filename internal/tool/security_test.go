package tool

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/modsign"
	"gokmod/internal/testing/testenv"
	"gokmod/ko"
)

// explain, check and sim with lockdown= and sig_enforce on --cmdline and keys given with
// --trust: the verdict, the key named in the trace, and the fix that fits the cause.
func TestExplainSignatureCauses(t *testing.T) {
	key, err := modsign.NewKey("gokmod test MOK")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "mok.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: key.Cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	derFile := filepath.Join(dir, "mok.der")
	if err := os.WriteFile(derFile, key.Cert.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range testenv.RequireKernels(t) {
		raw, err := os.ReadFile(filepath.Join(k.ModDir(), "kernel/fs/minix/minix.ko"))
		if err != nil {
			raw, err = os.ReadFile(filepath.Join(k.ModDir(), "kernel/fs/minix/minix.ko.xz"))
		}
		if err != nil {
			t.Fatal(err)
		}
		signed, _, err := ko.Decompress(raw)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ko.Parse("minix.ko", signed)
		if err != nil {
			t.Fatal(err)
		}
		unsigned := append([]byte(nil), f.ModuleImage()...)
		mine, err := key.Sign(unsigned)
		if err != nil {
			t.Fatal(err)
		}
		flipped := append([]byte(nil), signed...)
		flipped[len(flipped)-len(ko.SignatureMagic)-12-10] ^= 1
		files := map[string][]byte{"unsigned": unsigned, "mine": mine, "flipped": flipped}
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(dir, n+".ko"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		explain := func(file string, args ...string) *Explanation {
			t.Helper()
			args = append(append([]string{"explain", "--kernel", k.Root, "--json"}, args...), filepath.Join(dir, file+".ko"))
			out, stderr, _ := runTool(nil, args...)
			var x Explanation
			if err := json.Unmarshal([]byte(out), &x); err != nil {
				t.Fatalf("%v: %v (%s)", args, err, stderr)
			}
			return &x
		}
		has := func(x *Explanation, want string) bool {
			for _, f := range x.Fix {
				if strings.Contains(f, want) {
					return true
				}
			}
			return false
		}

		x := explain("mine", "--cmdline", "lockdown=integrity")
		if x.Result != "EPERM" || !has(x, "enroll the key (mokutil --import") || strings.Join(x.Log, "") != "Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7" {
			t.Errorf("%s: untrusted signer under lockdown: %s %q %q", k.Release, x.Result, x.Log, x.Fix)
		}
		x = explain("mine", "--cmdline", "lockdown=integrity", "--trust", pemFile)
		named := false
		for _, s := range x.Stages {
			named = named || strings.Contains(s.Note, `signed by "gokmod test MOK"`) && strings.Contains(s.Note, pemFile)
		}
		if x.Result != "ok" || x.Taint != "" || !named {
			t.Errorf("%s: --trust PEM: %s %q, key named: %v", k.Release, x.Result, x.Taint, named)
		}
		x = explain("unsigned", "--cmdline", "module.sig_enforce=1", "--comm", "modprobe")
		if x.Result != "EKEYREJECTED" || !has(x, "sign it (and enroll the key)") || !has(x, "boot without module.sig_enforce=1") {
			t.Errorf("%s: unsigned under sig_enforce: %s %q", k.Release, x.Result, x.Fix)
		}
		x = explain("flipped")
		if x.Result != "EKEYREJECTED" || !has(x, "re-sign it") || has(x, "enroll") {
			t.Errorf("%s: corrupt signature: %s %q", k.Release, x.Result, x.Fix)
		}

		out, stderr, code := runTool(nil, "check", "--kernel", k.Root, "--cmdline", "module.sig_enforce=1", "--trust", derFile, filepath.Join(dir, "mine.ko"))
		if code != 0 {
			t.Errorf("%s: check --trust DER: exit %d\n%s%s", k.Release, code, out, stderr)
		}
		script := filepath.Join(dir, "script")
		os.WriteFile(script, []byte("insmod "+filepath.Join(dir, "unsigned.ko")+"\n"), 0o644)
		out, stderr, code = runTool(nil, "sim", "--kernel", k.Root, "--cmdline", "lockdown=confidentiality", "--comm", "modprobe", script)
		if code != 0 || !strings.Contains(out, `"result":"EPERM"`) || !strings.Contains(out, "Lockdown: modprobe: unsigned module loading") {
			t.Errorf("%s: sim --comm: exit %d\n%s%s", k.Release, code, out, stderr)
		}
		if _, stderr, code := runTool(nil, "explain", "--kernel", k.Root, "--trust", filepath.Join(dir, "unsigned.ko"), "minix"); code != exitInputError || !strings.Contains(stderr, "--trust") {
			t.Errorf("%s: --trust of a non-certificate: exit %d %q", k.Release, code, stderr)
		}
	}
}

// insmod's hint follows the cause the kernel logged, as the guests print it.
func TestSignatureHint(t *testing.T) {
	for _, c := range []struct {
		errno unix.Errno
		log   string
		want  string
	}{
		{unix.EPERM, "Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7", "locked down and loads only modules signed"},
		{unix.EPERM, "Lockdown: insmod: unsafe module parameters is restricted; see man kernel_lockdown.7", "refuses hardware parameters"},
		{unix.EPERM, "", ""},
		{unix.EKEYREJECTED, "Loading of unsigned module is rejected", "unsigned and the kernel enforces"},
		{unix.EKEYREJECTED, "Loading of module with unavailable key is rejected", "enroll the key"},
		{unix.EKEYREJECTED, "", "re-sign it"},
	} {
		got := signatureHint(c.errno, strings.Split(c.log, "\n"))
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%v %q: %q, want %q", c.errno, c.log, got, c.want)
		}
	}
}
