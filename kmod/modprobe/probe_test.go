package modprobe_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gokmod/kmod/modprobe"
)

// TestDryRunStateMemo checks what ProbeHooks.States may and may not do: a dry run
// answers "is it loaded?" once per module, and a probe that loads asks the kernel
// every time even with a memo that says otherwise.
func TestDryRunStateMemo(t *testing.T) {
	root := demoTree()
	defer os.RemoveAll(root)
	s := demoSession(root)
	defer s.Close()

	var got []string
	memo := modprobe.NewStateMemo()
	hooks := modprobe.ProbeHooks{States: memo, Action: func(a modprobe.Action) { got = append(got, a.Module.Name()) }}
	dry := modprobe.DryRun | modprobe.ApplyBlacklistAliasOnly
	probe := func(flags modprobe.ProbeFlags) []string {
		t.Helper()
		got = nil
		if _, err := s.Probe(s.ModuleFromName("nic"), flags, nil, hooks); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := []string{"mdio", "phy", "crc", "nic"}
	if g := probe(dry); !slices.Equal(g, all) {
		t.Fatalf("dry run: %v, want %v", g, all)
	}

	// phy is loaded behind the memo's back: the memo keeps its answer, a new one sees it.
	dir := filepath.Join(root, "sys/module/phy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "initstate"), []byte("live\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if g := probe(dry); !slices.Equal(g, all) {
		t.Errorf("dry run, same memo: %v, want %v", g, all)
	}
	hooks.States = modprobe.NewStateMemo()
	if g, want := probe(dry), []string{"mdio", "crc", "nic"}; !slices.Equal(g, want) {
		t.Errorf("dry run, new memo: %v, want %v", g, want)
	}

	// A real probe with the stale memo must not try to load phy again.
	hooks.States = memo
	if g, want := probe(modprobe.ApplyBlacklistAliasOnly), []string{"mdio", "crc", "nic"}; !slices.Equal(g, want) {
		t.Errorf("real probe with a dry run's memo: %v, want %v", g, want)
	}
}
