package modprobe_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"gokmod/kmod"
	"gokmod/kmod/index"
	"gokmod/kmod/modprobe"
)

// fakeKernel is a kmod.System that "loads" a module by creating /sys/module/NAME under
// a root and listing it in /proc/modules, so the examples run without touching the
// real kernel.
type fakeKernel struct{ root string }

func (k fakeKernel) FinitModule(fd int, params string, flags int) error {
	path, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return err
	}
	name := kmod.NameFromPath(path)
	dir := filepath.Join(k.root, "sys/module", name)
	if _, err := os.Stat(dir); err == nil {
		return unix.EEXIST
	}
	os.MkdirAll(filepath.Join(dir, "holders"), 0o755)
	os.WriteFile(filepath.Join(dir, "initstate"), []byte("live\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "refcnt"), []byte("0\n"), 0o644)
	f, _ := os.OpenFile(filepath.Join(k.root, "proc/modules"), os.O_APPEND|os.O_WRONLY, 0)
	defer f.Close()
	fmt.Fprintf(f, "%s 16384 0 - Live 0x0000000000000000\n", name)
	if params != "" {
		fmt.Printf("kernel: %s loaded with %q\n", name, params)
	} else {
		fmt.Printf("kernel: %s loaded\n", name)
	}
	return nil
}

func (k fakeKernel) InitModule(image []byte, params string) error { return unix.ENOSYS }

func (k fakeKernel) DeleteModule(name string, flags int) error {
	if err := os.RemoveAll(filepath.Join(k.root, "sys/module", name)); err != nil {
		return err
	}
	b, _ := os.ReadFile(filepath.Join(k.root, "proc/modules"))
	var keep []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, name+" ") {
			keep = append(keep, l)
		}
	}
	fmt.Printf("kernel: %s removed\n", name)
	return os.WriteFile(filepath.Join(k.root, "proc/modules"), []byte(strings.Join(keep, "")), 0o644)
}

// demoTree makes a root file system with a small module tree: nic needs phy, which
// needs mdio; the alias "pci:v00001234d*" names nic; modprobe.d gives nic an option
// and a soft dependency on crc.
func demoTree() string {
	root, _ := os.MkdirTemp("", "modprobe-example")
	dir := filepath.Join(root, "lib/modules/6.1.0-demo")
	deps := []string{
		"kernel/net/nic.ko: kernel/net/phy.ko kernel/net/mdio.ko",
		"kernel/net/phy.ko: kernel/net/mdio.ko",
		"kernel/net/mdio.ko:",
		"kernel/lib/crc.ko:",
	}
	dep, alias := index.NewBuilder(), index.NewBuilder()
	for i, l := range deps {
		p, _, _ := strings.Cut(l, ":")
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("\x7fELF not really a module"), 0o644)
		dep.Insert(kmod.NameFromPath(p), l, uint32(i))
	}
	alias.Insert("pci:v00001234d*", "nic", 0)
	for name, b := range map[string]*index.Builder{"modules.dep.bin": dep, "modules.alias.bin": alias} {
		data, _ := b.Bytes(index.PostOrder)
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	os.MkdirAll(filepath.Join(root, "etc/modprobe.d"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/modprobe.d/demo.conf"),
		[]byte("options nic speed=1000\nsoftdep nic pre: crc\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "proc"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/modules"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("quiet mdio.debug=1\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "sys/module"), 0o755)
	return root
}

func demoSession(root string) *modprobe.Session {
	s, err := modprobe.New(modprobe.Options{
		Root: root, KernelRelease: "6.1.0-demo",
		Host: &kmod.Host{Root: root, Sys: fakeKernel{root}, Release: "6.1.0-demo"},
	})
	if err != nil {
		panic(err)
	}
	return s
}

func ExampleSession_Resolve() {
	root := demoTree()
	defer os.RemoveAll(root)
	s := demoSession(root)
	defer s.Close()

	names, err := s.Resolve(context.Background(), "pci:v00001234d00005678sv0sd0bc02sc00i00")
	fmt.Println(names, err)
	_, err = s.Resolve(context.Background(), "nosuchthing")
	fmt.Println(errors.Is(err, modprobe.ErrNotFound), errors.Is(err, unix.ENOENT))
	// Output:
	// [nic] <nil>
	// true true
}

func ExampleSession_Load() {
	root := demoTree()
	defer os.RemoveAll(root)
	s := demoSession(root)
	defer s.Close()

	ctx := context.Background()
	err := s.Load(ctx, "nic", modprobe.LoadOptions{
		Params: "mtu=9000",
		// As modprobe -v prints it (kmod's line ends with a space; trimmed here).
		Action: func(a modprobe.Action) { fmt.Println(strings.TrimSpace("insmod " + a.Module.Path() + " " + a.Options)) },
	})
	fmt.Println("err:", err)
	// Loading it again is success, as with modprobe; with FirstTime it is EEXIST.
	fmt.Println("again:", s.Load(ctx, "nic", modprobe.LoadOptions{}))
	err = s.Load(ctx, "nic", modprobe.LoadOptions{FirstTime: true})
	fmt.Println("first time:", errors.Is(err, unix.EEXIST))
	list, _ := s.List(ctx)
	for _, m := range list {
		fmt.Print(m.Name, " ")
	}
	fmt.Println()
	// Output:
	// insmod /lib/modules/6.1.0-demo/kernel/net/mdio.ko debug=1
	// kernel: mdio loaded with "debug=1 "
	// insmod /lib/modules/6.1.0-demo/kernel/net/phy.ko
	// kernel: phy loaded
	// insmod /lib/modules/6.1.0-demo/kernel/lib/crc.ko
	// kernel: crc loaded
	// insmod /lib/modules/6.1.0-demo/kernel/net/nic.ko speed=1000 mtu=9000
	// kernel: nic loaded with "speed=1000 mtu=9000"
	// err: <nil>
	// again: <nil>
	// first time: true
	// mdio phy crc nic
}

func ExampleSession_Unload() {
	root := demoTree()
	defer os.RemoveAll(root)
	s := demoSession(root)
	defer s.Close()

	ctx := context.Background()
	if err := s.Load(ctx, "nic", modprobe.LoadOptions{}); err != nil {
		fmt.Println(err)
	}
	// nic goes, then the dependencies nobody uses (the fake kernel keeps no use counts,
	// so all of them, in load order), then its pre-softdep.
	err := s.Unload(ctx, "nic", modprobe.UnloadOptions{Show: func(l string) { fmt.Print(l) }})
	fmt.Println("err:", err)
	err = s.Unload(ctx, "nic", modprobe.UnloadOptions{FirstTime: true})
	fmt.Println("not loaded:", modprobe.Errno(err))
	// Output:
	// kernel: mdio loaded with "debug=1 "
	// kernel: phy loaded
	// kernel: crc loaded
	// kernel: nic loaded with "speed=1000 "
	// rmmod nic
	// kernel: nic removed
	// rmmod mdio
	// kernel: mdio removed
	// rmmod phy
	// kernel: phy removed
	// rmmod crc
	// kernel: crc removed
	// err: <nil>
	// not loaded: no such file or directory
}
