package tool

import (
	"strings"
	"testing"

	"gokmod/kernel"
)

// TestModelOfNamesTheLine: the header names the target's line from its version, not by
// cutting text (7.3.0 is line 7.3, not 7), and says so when the version is unknown.
func TestModelOfNamesTheLine(t *testing.T) {
	for _, tc := range []struct {
		v      kernel.Version
		judged bool
		want   string
	}{
		{kernel.Version{Major: 7, Minor: 3}, true, "Linux 7.3 is judged"},
		{kernel.Version{Major: 6, Minor: 18, Patch: 44}, false, "Linux 6.18 is not judged"},
		{kernel.Version{Major: 5, Minor: 10, Patch: 223}, true, "Linux 5.10 is judged"},
		{kernel.Version{}, false, "the kernel's version is unknown"},
	} {
		tg := &modelTarget{K: &kernel.Kernel{}}
		tg.Fit.Target, tg.Fit.Judged = tc.v, tc.judged
		got := modelOf(tg.modelVersion())
		if !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want it to contain %q", tc.v, got, tc.want)
		}
	}
}
