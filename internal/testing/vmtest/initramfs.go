package vmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"gokmod/internal/testing/testenv"
	"gokmod/internal/testing/testguest"
)

// initScript is the guest's PID 1: mount the pseudo file systems the tools read, then hand
// the agent's port (agentDev) to the agent, its diagnostics to the console; power off
// when it returns.
func initScript(agentDev, console string) string {
	return `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
chmod 1777 /tmp
/bin/agent ` + agentDev + ` >` + console + ` 2>&1
sync
poweroff -f
`
}

// buildInitramfs writes the guest's initramfs to out.
func buildInitramfs(cfg Config, out string) error {
	ents := map[string]cpioEntry{}
	dir := func(p string) {
		for p != "/" && p != "." {
			if _, ok := ents[p]; !ok {
				ents[p] = cpioEntry{mode: modeDir | 0o755}
			}
			p = path.Dir(p)
		}
	}
	addData := func(p string, data []byte, perm os.FileMode) {
		dir(path.Dir(p))
		ents[p] = cpioEntry{mode: modeRegular | uint32(perm.Perm()), data: data}
	}
	addFile := func(p, host string, perm os.FileMode) error {
		b, err := os.ReadFile(host)
		if err != nil {
			return fmt.Errorf("vmtest: %w", err)
		}
		if perm == 0 {
			st, err := os.Stat(host)
			if err != nil {
				return err
			}
			perm = st.Mode().Perm()
		}
		addData(p, b, perm)
		return nil
	}
	link := func(p, target string) {
		dir(path.Dir(p))
		ents[p] = cpioEntry{mode: modeSymlink | 0o777, data: []byte(target)}
	}
	for _, d := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/proc", "/sys", "/dev", "/tmp", "/etc", "/test", "/root"} {
		dir(d)
	}
	ents["/test"] = cpioEntry{mode: modeDir | 0o755}
	mach := machineOf(cfg.Kernel)
	addData("/init", []byte(initScript(mach.agentDev, mach.console)), 0o755)
	addData("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"), 0o644)
	addData("/etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	user, err := guestUserland(cfg.Kernel, cfg.Kmod)
	if err != nil {
		return err
	}
	if err := addFile("/bin/busybox", user.busybox, 0o755); err != nil {
		return fmt.Errorf("%w (is busybox-static installed? run scripts/setup.sh)", err)
	}

	goarch := cfg.Kernel.GoArch()
	agent, err := StaticBinaryFor("gokmod/internal/testing/vmtest/agent", goarch)
	if err != nil {
		return err
	}
	if err := addFile("/bin/agent", agent, 0o755); err != nil {
		return err
	}
	gokmod, err := StaticBinaryFor("gokmod/cmd/gokmod", goarch)
	if err != nil {
		return err
	}
	if err := addFile(GokmodDir+"/gokmod", gokmod, 0o755); err != nil {
		return err
	}
	// The fidelity tests' judge, and the marker file it requires besides the command
	// line word (package testguest).
	judge, err := StaticBinaryFor("gokmod/internal/cmd/judge", goarch)
	if err != nil {
		return err
	}
	if err := addFile(JudgePath, judge, 0o755); err != nil {
		return err
	}
	addData(testguest.Marker, []byte(testguest.MarkerText), 0o644)
	kmodRel, err := guestKmodRelease(cfg.Kmod, user)
	if err != nil {
		return err
	}
	addData(KmodReleaseFile, []byte(kmodRel+"\n"), 0o644)
	for _, t := range Tools {
		link(GokmodDir+"/"+t, "gokmod")
	}
	link(GokmodDir+"/kmod", "gokmod")
	if cfg.NoKmod {
		// gokmod in kmod's place: the names udev, scripts and the kernel's
		// request_module use lead to it.
		link("/bin/kmod", GokmodDir+"/gokmod")
		for _, t := range Tools {
			link(KmodDir+"/"+t, GokmodDir+"/gokmod")
		}
	} else {
		// Debian's kmod with its shared libraries, at the paths the dynamic loader expects.
		if err := addGuestKmod(cfg.Kmod, user, addFile); err != nil {
			return err
		}
		for _, t := range Tools {
			link(KmodDir+"/"+t, "/bin/kmod")
		}
	}

	if len(cfg.Modules) > 0 {
		if err := stageModules(cfg, addFile, addData); err != nil {
			return err
		}
	}
	for _, f := range cfg.Files {
		p := f.Guest
		if !path.IsAbs(p) {
			p = path.Join("/test", p)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if f.Data != nil {
			addData(p, f.Data, mode)
		} else if err := addFile(p, f.Host, mode); err != nil {
			return err
		}
	}

	tmp := out + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := writeCpio(fh, ents); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

var lddPath = regexp.MustCompile(`(/\S+) \(0x[0-9a-f]+\)`)

// sharedLibs lists the libraries bin needs, resolved to real files, as ldd(1) reports them.
// KmodReleaseFile holds the release of the guest's kmod ("30" or "34.2"): the agent
// runs every command with GOKMOD_KMOD set to it, so that gokmod behaves as the kmod it is
// compared with.
const KmodReleaseFile = "/etc/gokmod-test-kmod"

// addKmod puts kmod release rel ("" or "30": this machine's; "34.2": trixie's from the
// cache) at /bin/kmod, with its shared libraries and dynamic loader where it looks for them.
func addKmod(rel string, addFile func(string, string, os.FileMode) error) error {
	switch rel {
	case "", "30":
		if err := addFile("/bin/kmod", "/bin/kmod", 0o755); err != nil {
			return fmt.Errorf("%w (is kmod installed? run scripts/setup.sh)", err)
		}
		libs, err := sharedLibs("/bin/kmod")
		if err != nil {
			return err
		}
		for _, l := range libs {
			if err := addFile(l, l, 0o755); err != nil {
				return err
			}
		}
		return nil
	case "34.2":
		root, err := testenv.Kmod34Root()
		if err != nil {
			return fmt.Errorf("vmtest: %w", err)
		}
		bin := filepath.Join(root, "usr/bin/kmod")
		if err := addFile("/bin/kmod", bin, 0o755); err != nil {
			return err
		}
		// trixie's own loader resolves the libraries inside its root; the guest gets
		// each at the path the loader searches there (its PT_INTERP, /lib64, and the
		// multiarch directory).
		lib := filepath.Join(root, "usr/lib/x86_64-linux-gnu")
		out, err := exec.Command(filepath.Join(lib, "ld-linux-x86-64.so.2"), "--library-path", lib, "--list", bin).Output()
		if err != nil {
			return fmt.Errorf("vmtest: listing kmod 34.2's libraries: %w", err)
		}
		n := 0
		for _, m := range lddResolved.FindAllStringSubmatch(string(out), -1) {
			guest := "/lib/x86_64-linux-gnu/" + filepath.Base(m[2])
			if strings.HasPrefix(m[1], "/") { // the interpreter: "/lib64/ld-linux-x86-64.so.2 => ..."
				guest = m[1]
			}
			if err := addFile(guest, m[2], 0o755); err != nil {
				return err
			}
			n++
		}
		if n < 2 {
			return fmt.Errorf("vmtest: kmod 34.2's loader listed %d libraries:\n%s", n, out)
		}
		return nil
	}
	return fmt.Errorf("vmtest: no kmod release %q to put in the guest (30 or 34.2)", rel)
}

// lddResolved matches "name => /path (0x...)" lines of ld.so --list.
var lddResolved = regexp.MustCompile(`(?m)^\s*(\S+) => (/\S+) \(0x`)

func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("vmtest: ldd %s: %w", bin, err)
	}
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	return libs, nil
}

// stageModules installs the named in-tree modules and everything modules.dep says they
// need under /lib/modules/RELEASE, then runs the host's depmod -b on that staging tree
// (depmod only writes files) so modprobe works in the guest.
func stageModules(cfg Config, addFile func(string, string, os.FileMode) error, addData func(string, []byte, os.FileMode)) error {
	rel := cfg.Kernel.Release
	moddir := cfg.Kernel.ModDir()
	dep, err := os.ReadFile(filepath.Join(moddir, "modules.dep"))
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	byName := map[string]string{} // normalized module name -> its modules.dep line
	sc := bufio.NewScanner(bytes.NewReader(dep))
	for sc.Scan() {
		line := sc.Text()
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		byName[modName(line[:colon])] = line
	}
	stage, err := os.MkdirTemp("", "gokmod-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	smod := filepath.Join(stage, "lib/modules", rel)
	for _, f := range []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		if err := copyFile(filepath.Join(moddir, f), filepath.Join(smod, f)); err != nil {
			return err
		}
	}
	for _, m := range cfg.Modules {
		line, ok := byName[modName(m)]
		if !ok {
			return fmt.Errorf("vmtest: no module %q in %s/modules.dep", m, moddir)
		}
		for _, p := range strings.Fields(strings.Replace(line, ":", " ", 1)) {
			if err := copyFile(filepath.Join(moddir, p), filepath.Join(smod, p)); err != nil {
				return err
			}
		}
	}
	if out, err := exec.Command("depmod", "-b", stage, rel).CombinedOutput(); err != nil {
		return fmt.Errorf("vmtest: depmod -b %s: %v\n%s", stage, err, out)
	}
	return filepath.Walk(stage, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		return addFile("/"+strings.TrimPrefix(p, stage+"/"), p, 0o644)
	})
}

// modName turns a path in modules.dep into a module name: basename without .ko[.xz|...],
// '-' as '_'.
func modName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
