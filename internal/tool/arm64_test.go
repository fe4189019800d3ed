package tool

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// explain on Debian's arm64 kernel packages unpacked where GOKMOD_ARM64_ROOT says (the
// test skips when it is unset; a root it cannot use fails it). The header names the
// architecture, the PLT reservation is printed with the CPU and boot choices assumed,
// and its sizes are in the layout; the numbers themselves are the real kernel's to
// judge (an arm64 guest), not recorded here.
func TestExplainArm64(t *testing.T) {
	root := os.Getenv("GOKMOD_ARM64_ROOT")
	if root == "" {
		t.Skip("GOKMOD_ARM64_ROOT is not set: no arm64 kernel tree to explain against")
	}
	out, stderr, code := runTool(nil, "explain", "--kernel", root, "minix")
	if code != 0 {
		t.Fatalf("explain --kernel %s minix: exit %d\n%s%s", root, code, out, stderr)
	}
	for _, want := range []string{", aarch64, Debian;", "module_frob_arch_sections: ", "Module PLTs (arm64 module_frob_arch_sections): ",
		"assumed: a CPU without erratum 843419 (QEMU's; --erratum-843419 models one), KASLR on"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`\.plt +(?:MOD_TEXT|core) +0x[0-9a-f]+ +(0x[0-9a-f]+)\n`).FindStringSubmatch(out)
	p := regexp.MustCompile(`: (\d+) core entries \(\.plt (\d+) bytes\), (\d+) init entries`).FindStringSubmatch(out)
	if m == nil || p == nil {
		t.Fatalf("explain: no .plt in the layout or no PLT line:\n%s", out)
	}
	size, _ := strconv.ParseUint(m[1], 0, 64)
	if strconv.FormatUint(size, 10) != p[2] {
		t.Errorf(".plt laid out with %d bytes, the PLT line says %s", size, p[2])
	}
	if !regexp.MustCompile(`layout_and_allocate: coresize \d+, initsize \d+`).MatchString(out) {
		t.Errorf("explain: no coresize/initsize at layout:\n%s", out)
	}
	// The erratum raises alignments and adds veneer slots: never fewer entries.
	e, _, _ := runTool(nil, "explain", "--erratum-843419", "--kernel", root, "minix")
	pe := regexp.MustCompile(`: (\d+) core entries \(\.plt (\d+) bytes\), (\d+) init entries`).FindStringSubmatch(e)
	if pe == nil || !strings.Contains(e, "a CPU with erratum 843419") || atoi(pe[1]) < atoi(p[1]) || atoi(pe[3]) < atoi(p[3]) {
		t.Errorf("explain --erratum-843419: PLT %q (without: %q):\n%s", pe, p, e)
	}
	js, _, code := runTool(nil, "explain", "--json", "--kernel", root, "minix")
	var x Explanation
	if err := json.Unmarshal([]byte(js), &x); err != nil || code != 0 {
		t.Fatalf("explain --json: exit %d, %v", code, err)
	}
	if x.PLT == nil || strconv.Itoa(x.PLT.Core) != p[1] || strconv.Itoa(x.PLT.Init) != p[3] || x.Model.Arch != "aarch64" || x.Relocations["R_AARCH64_CALL26"] == 0 {
		t.Errorf("explain --json: plt %+v, arch %q, relocations %v", x.PLT, x.Model.Arch, x.Relocations)
	}
	t.Logf("minix on %s: %s core, %s init PLT entries; %d CALL26", root, p[1], p[3], x.Relocations["R_AARCH64_CALL26"])
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
