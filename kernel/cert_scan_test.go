package kernel

import (
	"crypto/x509"
	"testing"

	"gokmod/internal/testing/certdiff"
	"gokmod/internal/testing/testenv"
	"gokmod/kernel/cert"
)

// Every certificate built into every prepared kernel is found, and read, by
// kernel/cert exactly as crypto/x509 found and read it before: the scan of each section
// the built-in keyring is looked for in gives the same certificates with both parsers,
// field by field, and the keyring Load keeps is not empty.
func TestBuiltinCertsReadAsX509(t *testing.T) {
	total := 0
	for _, tk := range testenv.RequireKernels(t) {
		secs, err := certdiff.SectionBytes(tk.VMLinux())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range certdiff.Sections {
			b := secs[name]
			got, want := scanDER(b, cert.Parse), scanDER(b, x509.ParseCertificate)
			if len(got) != len(want) {
				t.Errorf("%s %s: %d certificates, crypto/x509 finds %d", tk.Release, name, len(got), len(want))
				continue
			}
			for i := range want {
				if err := certdiff.Same(got[i], want[i]); err != nil {
					t.Errorf("%s %s: certificate %d (%s): %v", tk.Release, name, i, want[i].Subject, err)
				}
			}
			total += len(want)
		}
		v, err := openVmlinux(tk.VMLinux())
		if err != nil {
			t.Fatal(err)
		}
		n := len(v.certificates())
		v.Close()
		if n == 0 {
			t.Errorf("%s: no built-in certificate found", tk.Release)
		}
	}
	testenv.Report(t, "%d built-in certificates read alike by kernel/cert and crypto/x509", total)
}
