package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"gokmod/internal/testenv"
)

var (
	buildMu    sync.Mutex
	builtPaths = map[string]string{}
)

// StaticBinary builds the Go package pkg (an import path of this module) as a static
// executable for the guest, once per test process, and returns its path.
func StaticBinary(pkg string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtPaths[pkg]; ok {
		return p, nil
	}
	root, err := testenv.Root()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "gokmod-guestbin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	builtPaths[pkg] = out
	return out, nil
}
