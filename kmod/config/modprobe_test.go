package config

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestSoftdepFileOrder: modules.softdep is ordered among the config files by its base
// name, so a softdep in /lib/modprobe.d/aliases.conf wins over the module's own, while
// one in systemd.conf would lose (KMOD30_FACTS §10.5).
func TestSoftdepFileOrder(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "lib/modprobe.d/aliases.conf"), "softdep uhci-hcd pre: ehci-hcd\n")
	writeFile(t, filepath.Join(root, "lib/modprobe.d/systemd.conf"), "softdep uhci-hcd pre: late\noptions x y\n")
	writeFile(t, filepath.Join(root, "etc/modprobe.d/systemd.conf"), "options masked-by-name 1\n")
	writeFile(t, filepath.Join(root, "run/modprobe.d/b.conf"), "install b /bin/true\n")
	writeFile(t, filepath.Join(root, "lib/modules/1.2.3/modules.softdep"), "softdep uhci_hcd pre: ehci_pci\n")
	writeFile(t, filepath.Join(root, "proc/cmdline"), "b.p=1 modprobe.blacklist=z\n")
	c, err := Load(Options{Root: root, KernelRelease: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/modprobe.d/aliases.conf", "/run/modprobe.d/b.conf", "/lib/modules/1.2.3/modules.softdep",
		"/etc/modprobe.d/systemd.conf"}
	if !reflect.DeepEqual(c.Files, want) {
		t.Errorf("Files = %q", c.Files)
	}
	d, ok := c.SoftdepOf("uhci_hcd")
	if !ok || !reflect.DeepEqual(d.Pre, []string{"ehci-hcd"}) {
		t.Errorf("SoftdepOf = %+v", d)
	}
	if got := c.ModuleOptions("b", ""); got != "p=1" {
		t.Errorf("ModuleOptions(b) = %q", got)
	}
	if cmd, ok := c.InstallCommand("b"); !ok || cmd != "/bin/true" {
		t.Errorf("InstallCommand(b) = %q", cmd)
	}
	if !c.IsBlacklisted("z") || c.IsBlacklisted("x") {
		t.Error("IsBlacklisted")
	}
	c, err = Load(Options{Root: root, KernelRelease: "1.2.3", ConfigPaths: []string{}, NoKernelCmdline: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Files, []string{"/lib/modules/1.2.3/modules.softdep"}) || len(c.Options) != 0 {
		t.Errorf("empty -C list: files %q options %v", c.Files, c.Options)
	}
}

func TestModuleOptionsAndCommands(t *testing.T) {
	var c Config
	c.parse("t.conf", []byte("options e1000e a=1\noptions e1000e  \noptions myalias b=2\noptions e1000e c=3\n"+
		"install snd* first\ninstall snd_hda second\nremove e1000e r\nalias pci:v*d* e1000e\n"), false, false)
	// "options e1000e  " stores " ": kmod skips only empty strings.
	if got := c.ModuleOptions("e1000e", "myalias"); got != "a=1   b=2 c=3" {
		t.Errorf("ModuleOptions = %q", got)
	}
	if got, _ := c.InstallCommand("snd_hda"); got != "first" {
		t.Errorf("InstallCommand = %q", got)
	}
	if cmd, install, ok := c.CommandModule("e1000e"); !ok || install || cmd != "r" {
		t.Errorf("CommandModule = %q %v %v", cmd, install, ok)
	}
	if _, _, ok := c.CommandModule("snd_hda_intel"); ok {
		t.Error("CommandModule matched a pattern")
	}
	if a := c.LookupAlias("pci:v00008086d00001234"); len(a) != 1 {
		t.Errorf("LookupAlias = %v", a)
	}
}
