package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Image says which kernel image InstallInto puts in a fake installed root.
type Image int

const (
	// DebugVmlinux adds usr/lib/debug/boot/vmlinux-REL (as linux-image-REL-dbg does)
	// beside boot/vmlinuz-REL.
	DebugVmlinux Image = iota
	// VmlinuzOnly leaves boot/vmlinuz-REL, the compressed image, as the only one.
	VmlinuzOnly
)

// InstallInto makes root look like a system where Debian's packages of k are installed
// (linux-image and linux-headers), with symbolic links into the prepared cache, in the
// classic layout whichever layout the packages use:
// boot/config-REL, boot/vmlinuz-REL, boot/System.map-REL, lib/modules/REL (whose build
// link names /usr/src/linux-headers-REL, absolute, as the package makes it),
// usr/src/linux-headers-REL, and with DebugVmlinux the decompressed vmlinux. Missing
// cache files fail the test.
func InstallInto(tb testing.TB, root string, k Kernel, img Image) {
	tb.Helper()
	links := map[string]string{
		"boot/config-" + k.Release:           k.Config(),
		"boot/vmlinuz-" + k.Release:          k.Vmlinuz(),
		"boot/System.map-" + k.Release:       k.SystemMap(),
		"lib/modules/" + k.Release:           k.ModDir(),
		"usr/src/linux-headers-" + k.Release: k.Headers(),
	}
	if img == DebugVmlinux {
		links["usr/lib/debug/boot/vmlinux-"+k.Release] = k.VMLinux()
	}
	for rel, target := range links {
		if _, err := os.Stat(target); err != nil {
			tb.Fatalf("fake installed root: %v (run scripts/setup.sh)", err)
		}
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			tb.Fatal(err)
		}
	}
}

// WriteFiles writes files (path relative to root: contents) below root, making
// directories as needed.
func WriteFiles(tb testing.TB, root string, files map[string]string) {
	tb.Helper()
	for rel, data := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
