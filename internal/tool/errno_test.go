package tool

import (
	"testing"

	"golang.org/x/sys/unix"

	"gokmod/internal/simop"
)

// errnoByName takes back every name simop.ErrnoName gives, numbered ones included (the
// fidelity harness passes a real init's errno to sim --init-fail).
func TestErrnoByNameInvertsErrnoName(t *testing.T) {
	for _, e := range []unix.Errno{unix.ENODEV, unix.EPERM, 292, 512, 524, 4095} {
		name := simop.ErrnoName(e)
		if got, ok := errnoByName(name); !ok || got != e {
			t.Errorf("errnoByName(%q) = %d, %v; want %d", name, got, ok, e)
		}
	}
	for _, bad := range []string{"", "E", "E0", "Ex", "E-1", "E4096", "E007", "ENOTANERRNO"} {
		if n, ok := errnoByName(bad); ok {
			t.Errorf("errnoByName(%q) = %d, want refused", bad, n)
		}
	}
}
