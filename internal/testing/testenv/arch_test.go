package testenv

import (
	"bytes"
	"os"
	"testing"
)

// TestKernelsKeepTheirArch: Kernels() lists amd64 kernels only and KernelsArm64() arm64
// ones, each with the image QEMU boots and, for arm64, the guest's user space; an arm64
// Image carries "ARM\x64" at offset 56 (Documentation/arch/arm64/booting.rst).
func TestKernelsKeepTheirArch(t *testing.T) {
	for _, k := range RequireKernels(t) {
		if k.Arch != ArchAmd64 || k.IsArm64() || k.GoArch() != "amd64" || k.BootImage() != k.VMLinux() {
			t.Errorf("%s: Arch %q, GoArch %q, BootImage %s", k.Release, k.Arch, k.GoArch(), k.BootImage())
		}
	}
	arm := RequireKernelsArm64(t)
	for _, k := range arm {
		if !k.IsArm64() || k.GoArch() != "arm64" {
			t.Errorf("%s: Arch %q, GoArch %q", k.Release, k.Arch, k.GoArch())
		}
		f, err := os.Open(k.BootImage())
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 64)
		_, err = f.ReadAt(head, 0)
		f.Close()
		if err != nil || !bytes.Equal(head[56:60], []byte("ARM\x64")) {
			t.Errorf("%s: %s is not an arm64 Image (%v)", k.Release, k.BootImage(), err)
		}
		if _, err := os.Stat(k.Config()); err != nil {
			t.Errorf("%s: %v", k.Release, err)
		}
	}
	if _, err := Lines(arm, "6.12"); err != nil {
		t.Error(err)
	}
	// The guest packages of each prepared arm64 kernel's suite (make setup prepares
	// trixie's line alone, so kmod 34.2's; make setup-arm64 bookworm's kmod 30 too).
	kmods := map[string]bool{}
	for _, k := range arm {
		kmods[DistroKmod(k)] = true
	}
	for kmod := range kmods {
		root, err := GuestRoot(ArchArm64, kmod)
		if err != nil {
			t.Error(err)
			continue
		}
		if _, err := os.Stat(root + "/bin/kmod"); err != nil {
			if _, err := os.Stat(root + "/usr/bin/kmod"); err != nil {
				t.Error(err)
			}
		}
	}
	if root, err := GuestRoot(ArchAmd64, "34.2"); err != nil || root != "/" {
		t.Errorf("amd64 guest root: %q %v", root, err)
	}
}
