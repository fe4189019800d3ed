package vmtest

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"gokmod/internal/testing/testenv"
)

var (
	buildMu    sync.Mutex
	builtPaths = map[string]string{}
)

// StaticBinary builds the Go package pkg (an import path of this module) as a static
// amd64 executable for the guest, once per test process, and returns its path.
func StaticBinary(pkg string) (string, error) { return StaticBinaryFor(pkg, "amd64") }

// StaticBinaryFor is StaticBinary for the guests of another architecture: goarch is the
// GOARCH to build for (testenv.Kernel.GoArch).
func StaticBinaryFor(pkg, goarch string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + " " + goarch
	if p, ok := builtPaths[key]; ok {
		return p, nil
	}
	root, err := testenv.Root()
	if err != nil {
		return "", err
	}
	// The binary lives in the git-ignored cache under a fixed name, so test processes
	// leave nothing behind in /tmp. Packages testing in parallel may build the same
	// binary at once: each writes its own temporary file and renames it into place,
	// and a guest image being made from the old file keeps reading the old inode.
	cache, err := testenv.Cache()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "guestbin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// The cache may be shared by several checkouts (GOKMOD_CACHE): the name says whose.
	// amd64 keeps the names it had before other architectures were built.
	id := root + "\x00" + pkg
	if goarch != "amd64" {
		id += "\x00" + goarch
	}
	sum := sha256.Sum256([]byte(id))
	out := filepath.Join(dir, fmt.Sprintf("%s-%x", filepath.Base(pkg), sum[:6]))
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return "", err
	}
	builtPaths[key] = out
	return out, nil
}
