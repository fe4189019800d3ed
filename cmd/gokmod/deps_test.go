package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestShipsNoHarness keeps the shipped binary free of what only tests and benches use:
// internal/testing (QEMU harness, playground, fidelity) and internal/cmd (their mains);
// and of what the kmod tools must not pay for at start-up (issue 15): crypto/x509 and
// crypto/x509/pkix (kernel/cert reads the few certificate fields the model needs) and
// net, which crypto/x509 brought in. go list -deps lists every package the link may
// use, so a package missing from it is not in the binary.
func TestShipsNoHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %d packages: %q", len(deps), deps)
	}
	banned := map[string]string{
		"crypto/x509":      "use gokmod/kernel/cert",
		"crypto/x509/pkix": "use gokmod/kernel/cert",
		"net":              "its package initialization costs every tool's start-up",
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "gokmod/internal/testing/") || strings.HasPrefix(p, "gokmod/internal/cmd/") {
			t.Errorf("cmd/gokmod links %s, a test harness", p)
		}
		if why, ok := banned[p]; ok {
			t.Errorf("cmd/gokmod links %s (%s); go list -f '{{.ImportPath}}: {{.Imports}}' -deps . says which package imports it", p, why)
		}
	}
}
