package modprobe_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gokmod/kmod"
	"gokmod/kmod/compat"
	"gokmod/kmod/modprobe"
)

// TestInstallCommandDebugLine checks the DEBUG line of libkmod's command_do, which only a
// real probe reaches (the differential tests run dry runs only): the command, with
// $CMDLINE_OPTS replaced, announced before the hook runs it; then the release of the
// module when the caller drops the lookup's list. Under kmod 34 no DEBUG line at all.
func TestInstallCommandDebugLine(t *testing.T) {
	for _, k := range []compat.Kmod{compat.Kmod30, compat.Kmod34} {
		t.Run(k.String(), func(t *testing.T) {
			root := demoTree()
			defer os.RemoveAll(root)
			conf := "install crc /bin/false $CMDLINE_OPTS\noptions crc x=1\n"
			if err := os.WriteFile(filepath.Join(root, "etc/modprobe.d/inst.conf"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			var log []string
			s, err := modprobe.New(modprobe.Options{
				Root: root, KernelRelease: "6.1.0-demo", Kmod: k, LogPriority: modprobe.LogDebug,
				Host: &kmod.Host{Root: root, Sys: fakeKernel{root}, Release: "6.1.0-demo"},
				Log: func(prio int, at modprobe.Source, msg string) {
					log = append(log, fmt.Sprintf("%d %s:%d %s() %s", prio, at.File, at.Line, at.Fn, msg))
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.LoadResources()
			mods, err := s.Lookup("crc")
			if err != nil || len(mods) != 1 {
				t.Fatalf("lookup crc: %v %v", mods, err)
			}
			ran := ""
			hooks := modprobe.ProbeHooks{RunInstall: func(m *modprobe.Module, cmd string) error {
				ran = cmd
				log = append(log, "hook\n")
				return nil
			}}
			if _, err := s.Probe(mods[0], modprobe.ApplyBlacklistAliasOnly, nil, hooks); err != nil {
				t.Fatal(err)
			}
			modprobe.Release(mods)
			all := strings.Join(log, "")
			if ran != "/bin/false x=1 " {
				t.Errorf("hook ran %q", ran)
			}
			if k != compat.Kmod30 {
				for _, l := range log {
					if strings.HasPrefix(l, fmt.Sprintf("%d ", modprobe.LogDebug)) {
						t.Errorf("kmod %s logged a DEBUG line: %s", k, l)
					}
				}
				return
			}
			want := "7 libkmod-module.c:1034 command_do() install /bin/false x=1 \nhook\n"
			if !strings.Contains(all, want) {
				t.Errorf("log lacks %q:\n%s", want, all)
			}
			if !strings.Contains(all, "kmod_module_unref() kmod_module 0x") || !strings.HasSuffix(all, "key='crc'\n") {
				t.Errorf("crc was not released last:\n%s", all)
			}
		})
	}
}
