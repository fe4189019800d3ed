package modprobe_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/kmod"
	"gokmod/kmod/modprobe"
)

// TestRemoveSoftdepCycle: a cycle of softdeps that meets remove commands made kmod's
// rmmod_do_module recurse until it crashed (kmod 30 and 34.2: SIGSEGV), and gokmod's
// until Go's stack overflowed. The removal now stops at the module it is already
// removing, says so, and runs each remove command once.
func TestRemoveSoftdepCycle(t *testing.T) {
	root := demoTree()
	defer os.RemoveAll(root)
	conf := "softdep crc post: mdio\nsoftdep mdio post: crc\nremove crc /bin/true\nremove mdio /bin/true\n"
	if err := os.WriteFile(filepath.Join(root, "etc/modprobe.d/cycle.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := modprobe.New(modprobe.Options{Root: root, KernelRelease: "6.1.0-demo",
		Host: &kmod.Host{Root: root, Sys: fakeKernel{root}, Release: "6.1.0-demo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.LoadResources()
	var ran, errs []string
	err = s.Remove("crc", modprobe.RemoveOptions{}, modprobe.RemoveHooks{
		RunRemove: func(m *modprobe.Module, cmd string) error { ran = append(ran, m.Name()); return nil },
		Error:     func(msg string) { errs = append(errs, msg) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ran, " ") != "mdio crc" {
		t.Errorf("remove commands ran for %q, want mdio's then crc's, once each", ran)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "softdep loop: crc is already being removed") {
		t.Errorf("errors %q: want the one softdep loop message", errs)
	}
}
