package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Debian's names of the architectures whose kernels the tests boot.
const (
	ArchAmd64 = "amd64"
	ArchArm64 = "arm64"
)

// KernelsArm64 returns the prepared arm64 kernels (scripts/setup-arm64.sh: trixie's 6.12
// and sid's 7.x, or exactly those GOKMOD_KERNELS_ARM64 pinned), oldest version first, from
// the cache's kernels-arm64 directory. They are never in Kernels(), whose callers boot and
// read amd64 kernels.
func KernelsArm64() ([]Kernel, error) { return kernelsIn("kernels-arm64", ArchArm64) }

// RequireAllKernels returns every prepared kernel: the amd64 ones (Kernels), then the
// arm64 ones (KernelsArm64; make setup prepares trixie's 6.12, make setup-arm64 also
// bookworm's 6.1 and sid's 7.x), or fails the test when either list is missing. The VM
// tests boot them all, and the tools' differential tests read every tree: an arm64
// tree is just files to modinfo, depmod and modprobe on an x86 host (issue 14).
func RequireAllKernels(tb testing.TB) []Kernel {
	tb.Helper()
	return append(RequireKernels(tb), RequireKernelsArm64(tb)...)
}

// RequireKernelsArm64 returns the prepared arm64 kernels or fails the test.
func RequireKernelsArm64(tb testing.TB) []Kernel {
	tb.Helper()
	ks, err := KernelsArm64()
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

// IsArm64 reports whether the kernel is an arm64 one (Arch; empty is amd64).
func (k Kernel) IsArm64() bool { return k.Arch == ArchArm64 }

// GoArch is the GOARCH of programs that run on this kernel: static binaries for its guests.
func (k Kernel) GoArch() string {
	if k.IsArm64() {
		return "arm64"
	}
	return "amd64"
}

// BootImage is what QEMU's -kernel boots: for amd64 the decompressed vmlinux (PVH
// entry, VMLinux), for arm64 the uncompressed Image scripts/setup-arm64.sh unpacked from
// the gzip'd vmlinuz Debian ships (QEMU 7.2's aarch64 loader would also take the
// gzip'd file, but decompressing once saves it on every boot).
func (k Kernel) BootImage() string {
	if k.IsArm64() {
		return filepath.Join(k.Root, "Image")
	}
	return k.VMLinux()
}

// GuestRoot returns the directory holding the user space of arch's guests when it is not
// the host's own: for arm64, busybox-static, kmod and the libraries kmod needs, unpacked
// by scripts/setup-arm64.sh from Debian's arm64 packages of the suite whose kmod is
// release kmod (DistroKmod's "30": bookworm's, in guest-arm64-bookworm; "34.2" or empty:
// trixie's, in guest-arm64), with their versions.txt beside it. For amd64 it is "/":
// the host's files.
func GuestRoot(arch, kmod string) (string, error) {
	if arch == "" || arch == ArchAmd64 {
		return "/", nil
	}
	cache, err := Cache()
	if err != nil {
		return "", err
	}
	name := "guest-" + arch
	switch kmod {
	case "", "34.2":
	case "30":
		name += "-bookworm"
	default:
		return "", fmt.Errorf("no %s guest user space with kmod %q (30 or 34.2)", arch, kmod)
	}
	dir := filepath.Join(cache, name)
	if _, err := os.Stat(filepath.Join(dir, ".ready")); err != nil {
		return "", fmt.Errorf("the %s guest's busybox and kmod %s are not prepared (%w): run scripts/setup.sh (make setup)", arch, kmod, err)
	}
	return filepath.Join(dir, "root"), nil
}
