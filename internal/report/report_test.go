package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gokmod/load"
)

func TestGraphLayers(t *testing.T) {
	g := &Graph{Nodes: []Node{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}},
		Edges: []Edge{{From: "a", To: "b"}, {From: "b", To: "c"}, {From: "a", To: "c"}, {From: "c", To: "a", Class: "soft"}}}
	l := g.layers()
	if l["a"] != 0 || l["b"] != 1 || l["c"] != 2 || l["d"] != 0 {
		t.Errorf("layers %v", l)
	}
	if s := g.SVG(); !strings.Contains(s, `class="edge soft"`) || strings.Count(s, `class="gnode"`) != 4 {
		t.Errorf("svg:\n%s", s)
	}
}

func TestBoxesCoverRegions(t *testing.T) {
	l := &load.Layout{ModuleMemory: true}
	l.Size[load.MemText] = 8192
	l.Size[load.MemInitData] = 4096
	l.Sections = []load.Placement{
		{Name: ".text", Region: load.MemText, Offset: 0, Size: 100},
		{Name: ".text.unlikely", Region: load.MemText, Offset: 128, Size: 10},
		{Name: ".init.data", Region: load.MemInitData, Offset: 0, Size: 4096},
	}
	var core, init uint32
	for _, bs := range Boxes(l) {
		for _, b := range bs {
			if b.Init {
				init += b.Size
			} else {
				core += b.Size
			}
		}
	}
	if core != l.CoreSize() || init != l.InitSize() {
		t.Errorf("boxes add up to %d, %d; layout %d, %d", core, init, l.CoreSize(), l.InitSize())
	}
	if bs := Boxes(l)[0]; len(bs) != 4 || bs[1].Perm != "pad" || bs[1].Size != 28 || bs[0].Perm != "RX" {
		t.Errorf("boxes %+v", bs)
	}
}

func TestNamesAreEscaped(t *testing.T) {
	s := SymbolsSVG(`m<o>d`, []load.SymbolUse{{Name: `<script>x</script>`, Verdict: "not found"}})
	if strings.Contains(s, "<script>") || !strings.Contains(s, "&lt;script&gt;") {
		t.Errorf("not escaped:\n%s", s)
	}
}

func TestTaintReasons(t *testing.T) {
	r := &Run{Result: &load.Result{Taint: 1<<load.TaintOOTModule | 1<<load.TaintUnsignedModule | 1<<load.TaintWarn,
		Log: []load.LogLine{{Level: 4, Text: "pg_hello: loading out-of-tree module taints kernel."},
			{Level: 5, Text: "pg_hello: module verification failed: signature and/or required key missing - tainting kernel"}}},
		TaintBefore: 1 << load.TaintWarn}
	got := map[string]Taint{}
	for _, x := range r.Taints() {
		got[x.Letter] = x
	}
	if !strings.Contains(got["O"].Reason, "out-of-tree") || !strings.Contains(got["E"].Reason, "verification") || got["W"].New {
		t.Errorf("taints %+v", got)
	}
}

// TestEveryStageExplained reads the model's sources for the kernel functions its trace
// names, and wants a what-and-why sentence for each.
func TestEveryStageExplained(t *testing.T) {
	files, err := filepath.Glob("../../load/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("load's sources: %v", err)
	}
	re := regexp.MustCompile(`c\.step\("([a-z_0-9]+)"|const fn = "([a-z_0-9]+)"`)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			fn := m[1] + m[2]
			n++
			if Why(fn) == "" {
				t.Errorf("%s: no what-and-why for %s", filepath.Base(f), fn)
			}
		}
	}
	if n < 20 {
		t.Errorf("found only %d stage names in load's sources", n)
	}
}
