package fidelity

import (
	"bytes"
	"fmt"
	"os/exec"
)

// compress runs a compressor (xz, zstd, gzip) over data, as a packager would.
func compress(data []byte, tool ...string) ([]byte, error) {
	cmd := exec.Command(tool[0], tool[1:]...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tool[0], err)
	}
	return out, nil
}
