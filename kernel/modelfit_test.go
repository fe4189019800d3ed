package kernel_test

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"gokmod/kernel"
)

// TestModelFit: the followed lines are exact; any other is modelled with its nearest
// lower line (the oldest, below all) and says so.
func TestModelFit(t *testing.T) {
	for _, tt := range []struct {
		v     kernel.Version
		model string
		exact bool
	}{
		{kernel.Version{6, 1, 192}, "6.1", true},
		{kernel.Version{6, 1, 0}, "6.1", true},
		{kernel.Version{6, 12, 117}, "6.12", true},
		{kernel.Version{5, 10, 0}, "5.10", true},
		{kernel.Version{5, 4, 0}, "5.10", false},
		{kernel.Version{6, 3, 13}, "6.1", false},
		{kernel.Version{6, 4, 0}, "6.1", false}, // nearest lower: 6.4's changes are not assumed
		{kernel.Version{6, 18, 44}, "6.12", false},
		{kernel.Version{7, 2, 0}, "7.2", true},
		{kernel.Version{7, 3, 0}, "7.3", true},
		{kernel.Version{7, 4, 1}, "7.3", false},
		{kernel.Version{}, "5.10", false},
	} {
		f := (&kernel.Kernel{Version: tt.v}).ModelFit()
		if f.ModelVersion != tt.model || f.Exact != tt.exact || f.Target != tt.v || f.Judged != tt.exact {
			t.Errorf("%v: %+v, want model %s exact %v", tt.v, f, tt.model, tt.exact)
		}
		note := f.Note()
		if tt.exact != (note == "") {
			t.Errorf("%v: note %q", tt.v, note)
		}
		if !tt.exact && (!strings.Contains(note, "modelled as "+tt.model+", the nearest") || !strings.Contains(note, "approximation")) {
			t.Errorf("%v: note %q", tt.v, note)
		}
	}
	if n := (&kernel.Kernel{Version: kernel.Version{5, 4, 1}}).ModelFit().Note(); !strings.HasPrefix(n, "Linux 5.4 is not a version the model follows (5.10, 6.1, 6.12, 7.2, 7.3)") {
		t.Errorf("5.10: %q", n)
	}
}

func gzipData(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(s))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
