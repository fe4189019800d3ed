package ko

import (
	"reflect"
	"strings"
	"testing"
)

// TestAppendForms checks the appending forms against the allocating ones,
// appending after existing contents.
func TestAppendForms(t *testing.T) {
	for _, n := range []int{0, 1, 19, 20, 21, 40, 41, 512} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + 11)
		}
		if got := string(AppendKmodHex([]byte("x:"), b)); got != "x:"+KmodHex(b) {
			t.Errorf("AppendKmodHex(%d bytes) = %q, want x:+%q", n, got, KmodHex(b))
		}
	}
	for _, sec := range []string{"", "\x00", "a", "\x00\x00a", "ab", "a=b\x00c=d\x00", "\x00\x00a=b\x00\x00\x00c", "a\x00"} {
		want := ElfStrings([]byte(sec))
		got := AppendElfStrings([]string{"keep"}, sec)
		if !reflect.DeepEqual(got[1:], want) && !(len(got) == 1 && len(want) == 0) || got[0] != "keep" {
			t.Errorf("AppendElfStrings(%q) = %q, want %q after keep", sec, got, want)
		}
	}
	if got := KmodHex([]byte{0xab, 0x01}); got != "AB:01" || strings.Contains(KmodHex(make([]byte, 21)), "\n\t\t") == false {
		t.Errorf("KmodHex = %q", got)
	}
}
