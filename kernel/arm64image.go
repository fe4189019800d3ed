package kernel

import (
	"bytes"
	"compress/gzip"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// arm64's boot Image (Documentation/arch/arm64/booting.rst) is the kernel's raw
// memory image behind a 64-byte header, not an ELF: Debian ships it as
// boot/vmlinuz-REL, an EFI application (the header starts "MZ") signed for Secure
// Boot, or gzip-compressed. It has no section headers, so __ksymtab, __param and
// __modver cannot be found by name: the exports come from Module.symvers (with their
// CRCs, without addresses), the built-in /sys/module names from modules.builtin only.
// What it does give: the machine (the header's magic), linux_banner (Debian's package
// version, so the distribution and the exact upstream version) and the built-in
// certificates (DER, found by scanning as in a vmlinux).

// arm64ImageMagic is the header's magic at offset 0x38, "ARM\x64".
var arm64ImageMagic = []byte("ARM\x64")

// isArm64Image tells whether b starts with an arm64 Image header.
func isArm64Image(b []byte) bool {
	return len(b) >= 64 && bytes.Equal(b[0x38:0x3c], arm64ImageMagic)
}

// readArm64Image reads an arm64 Image (plain, PE-wrapped, or gzip-compressed) into k:
// the architecture, the banner's version and distribution, and the certificates. It
// returns errNotArm64Image when path holds something else.
//
// btfELF, when it exists, is the ELF holding only the kernel's .BTF that Debian's arm64
// linux-headers package ships (usr/src/linux-headers-REL/vmlinux): the image has no
// section to find BTF by, so the structure layouts come from there.
func (k *Kernel) readArm64Image(path, btfELF string) error {
	img, err := readArm64ImageFile(path)
	if err != nil {
		return err
	}
	switch v, err := openVmlinux(btfELF); {
	case btfELF == "" || errors.Is(err, fs.ErrNotExist):
		k.Structs.noBTF = append(k.Structs.noBTF, path+": an arm64 Image, without sections to find .BTF by, and no vmlinux of BTF beside Module.symvers")
	case err != nil:
		k.Structs.noBTF = append(k.Structs.noBTF, err.Error())
	default:
		k.Structs.fromImage(v, btfELF)
		v.Close()
	}
	k.imageArch = "aarch64"
	src := &k.Sources
	if v, ok := bannerIn(img); ok {
		k.Distro = "Debian"
		if k.Version.Major == 0 {
			k.Version = v
			src.Version = path + " (arm64 Image: linux_banner)"
		}
	}
	k.Certs = scanCertificates(img[:signedLen(img)])
	src.Certificates = fmt.Sprintf("%s (arm64 Image: %d built in)", path, len(k.Certs))
	src.BuiltinSysfs = src.Builtin + " (an arm64 Image has no section headers: __param and __modver not read)"
	k.Notes = append(k.Notes, path+" is an arm64 Image without section headers: exports from Module.symvers (no addresses), built-in sysfs names from modules.builtin only")
	return nil
}

// errNotArm64Image says a file is not an arm64 Image.
var errNotArm64Image = fmt.Errorf("not an arm64 Image")

// readArm64ImageFile returns the Image in path, decompressed if it is gzip's, or
// errNotArm64Image. Both the file and the Image are bounded by MaxVmlinuxSize.
func readArm64ImageFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	head := make([]byte, 64)
	if n, _ := io.ReadFull(fh, head); n < 64 {
		return nil, errNotArm64Image
	}
	gz := head[0] == 0x1f && head[1] == 0x8b
	if !gz && !isArm64Image(head) {
		return nil, errNotArm64Image
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var r io.Reader = fh
	if gz {
		z, err := gzip.NewReader(fh)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = z
	}
	img, err := io.ReadAll(io.LimitReader(r, maxVmlinux+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case int64(len(img)) > maxVmlinux:
		return nil, fmt.Errorf("%s: more than the %d bytes accepted for a kernel image (MaxVmlinuxSize)", path, maxVmlinux)
	case !isArm64Image(img):
		return nil, errNotArm64Image
	}
	return img, nil
}

// bannerIn finds linux_banner in a raw image and reads Debian's package version from
// it (bannerVersion); only the lines starting "Linux version " are searched.
func bannerIn(img []byte) (Version, bool) {
	for rest := img; ; {
		i := bytes.Index(rest, []byte("Linux version "))
		if i < 0 {
			return Version{}, false
		}
		line := rest[i:]
		if j := bytes.IndexByte(line, '\n'); j >= 0 {
			line = line[:j+1]
		}
		if m := bannerVersion().FindSubmatch(line); m != nil {
			return parseVersion(string(m[1]) + "." + string(m[2]) + "." + string(m[3])), true
		}
		rest = rest[i+1:]
	}
}

// signedLen is how much of an image is the kernel's own: a PE-wrapped Image signed
// for Secure Boot carries the signer's certificates after it (the PE security
// directory), which are not built-in keys.
func signedLen(img []byte) int {
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		return len(img)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok || len(oh.DataDirectory) <= pe.IMAGE_DIRECTORY_ENTRY_SECURITY {
		return len(img)
	}
	d := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY]
	if d.Size == 0 || d.VirtualAddress == 0 || int(d.VirtualAddress) > len(img) {
		return len(img)
	}
	return int(d.VirtualAddress) // a file offset for this directory
}
