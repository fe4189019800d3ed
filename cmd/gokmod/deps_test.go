package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestShipsNoHarness keeps the shipped binary free of what only tests and benches use:
// internal/testing (QEMU harness, playground, fidelity) and internal/cmd (their mains).
func TestShipsNoHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "gokmod/internal/testing/") || strings.HasPrefix(p, "gokmod/internal/cmd/") {
			t.Errorf("cmd/gokmod links %s, a test harness", p)
		}
	}
}
