package simop

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	ops, err := Parse(strings.NewReader("# comment\n\ninsmod kernel/fs/minix/minix.ko\ninsmod-force /x/y.ko.xz a=1 b=2\ninit z.ko.zst\nrmmod minix\nrmmod-force y\n"), "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 5 || ops[1].Params != "a=1 b=2" || ops[1].FinitFlags() != 7 || ops[0].FinitFlags() != 0 || ops[2].Compressed() || ops[2].Line != 5 {
		t.Errorf("%+v", ops)
	}
	if got := ops[0].Resolve("/lib/modules/r"); got != "/lib/modules/r/kernel/fs/minix/minix.ko" {
		t.Error(got)
	}
	for _, bad := range []string{"insmod\n", "rmmod\n", "rmmod a b\n", "load x\n"} {
		if _, err := Parse(strings.NewReader(bad), "s"); err == nil || !strings.HasPrefix(err.Error(), "s:1: ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestTaintString(t *testing.T) {
	for mask, want := range map[uint64]string{0: "", 12288: "OE", 8192 + 2: "FE", 1: "P", 1 << 18: "N"} {
		if got := TaintString(mask); got != want {
			t.Errorf("%d: %q want %q", mask, got, want)
		}
	}
}
