// Package testguest says whether this process runs inside one of internal/testing/vmtest's QEMU
// test guests, where loading modules into the running kernel is what the tests are for.
// Programs that load modules for the tests (internal/cmd/judge) refuse to run anywhere
// else: on a developer's machine or a CI host they would load modules into its kernel.
//
// A test guest is recognized by two marks that internal/testing/vmtest makes and a real system
// does not have, both required:
//
//   - CmdlineToken among the words of /proc/cmdline: the harness boots every guest with
//     it (a dotted "module.parameter" word, which the kernel ignores for a module never
//     loaded, and does not pass on to init);
//   - the file Marker, which only the guests' initramfs holds.
//
// Either alone is easy to come by by mistake (a copied command line, a stray file);
// both together are a deliberate test guest.
package testguest

import (
	"fmt"
	"os"
	"strings"
)

const (
	// CmdlineToken is the kernel command line word the harness passes to every guest.
	CmdlineToken = "gokmod.testguest=1"
	// Marker is the file the guests' initramfs holds.
	Marker = "/etc/gokmod-test-guest"
	// MarkerText is Marker's contents.
	MarkerText = "gokmod QEMU test guest (internal/testing/vmtest): modules may be loaded here\n"
)

// Check returns nil inside a test guest, else an error that says which mark is missing.
func Check() error { return check("/proc/cmdline", Marker) }

// check is Check with the two files' paths.
func check(cmdline, marker string) error {
	b, err := os.ReadFile(cmdline)
	if err != nil {
		return fmt.Errorf("not a gokmod test guest: %w", err)
	}
	found := false
	for _, w := range strings.Fields(string(b)) {
		found = found || w == CmdlineToken
	}
	if !found {
		return fmt.Errorf("not a gokmod test guest: %s has no %s", cmdline, CmdlineToken)
	}
	m, err := os.ReadFile(marker)
	if err != nil {
		return fmt.Errorf("not a gokmod test guest: %w", err)
	}
	if string(m) != MarkerText {
		return fmt.Errorf("not a gokmod test guest: %s is not the test initramfs's marker", marker)
	}
	return nil
}
