package kernel_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kernel"
	"gokmod/ko"
)

// Debian's arm64 kernel packages unpacked where GOKMOD_ARM64_ROOT says, else make
// setup's arm64 line (missing, the test fails; a root it cannot use fails it): the vmlinuz is an arm64 Image, not
// an ELF. The architecture, the version and distribution (linux_banner), the vermagic
// (compared with an in-tree module's own) and the certificates come from it and the
// configuration; the exports from Module.symvers, and Notes say so.
func TestArm64Image(t *testing.T) {
	root := os.Getenv("GOKMOD_ARM64_ROOT")
	if root == "" {
		// make setup's arm64 line, its packages as they come.
		root = testenv.RequireKernelsArm64(t)[0].Root + ".raw"
	}
	rels, err := kernel.Releases(root)
	if err != nil || len(rels) == 0 {
		t.Fatalf("GOKMOD_ARM64_ROOT=%s: no release (%v)", root, err)
	}
	k, err := kernel.FromDebianRoot(root, rels[0])
	if err != nil {
		t.Fatal(err)
	}
	if k.Arch() != "aarch64" || k.Distro != "Debian" || k.Version.Major == 0 || !strings.Contains(k.Sources.Version, "linux_banner") {
		t.Errorf("%s: arch %q, distro %q, version %v from %q", rels[0], k.Arch(), k.Distro, k.Version, k.Sources.Version)
	}
	if len(k.Ksymtab) == 0 || !strings.Contains(k.Sources.Exports, "Module.symvers") || len(k.Notes) == 0 {
		t.Errorf("%s: %d exports from %q, notes %q", rels[0], len(k.Ksymtab), k.Sources.Exports, k.Notes)
	}
	// The certificates are the image's own: none from the PE signature after it (the
	// Secure Boot signer and its CA, not module signing keys).
	if len(k.Certs) == 0 {
		t.Errorf("%s: no built-in certificate found in the Image", rels[0])
	}
	for _, c := range k.Certs {
		if strings.Contains(c.Subject.CommonName, "Secure Boot") {
			t.Errorf("%s: %q taken from the PE signature", rels[0], c.Subject)
		}
	}
	f, err := ko.Open(filepath.Join(k.ModDir, k.InTree["minix"]))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, kv := range f.ModInfo() {
		if kv.Key == "vermagic" {
			found = true
			if kv.Value != k.Vermagic {
				t.Errorf("%s: vermagic %q, minix has %q", rels[0], k.Vermagic, kv.Value)
			}
		}
	}
	if !found {
		t.Errorf("%s: minix has no vermagic", rels[0])
	}
}
