package tool

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	pgbuild "gokmod/internal/testing/playground"
	"gokmod/internal/testing/testenv"
	"gokmod/ko"
)

// The pages are checked in Debian's chromium, headless: it loads each page from a
// file, prints the DOM after layout and takes a screenshot. A page has no script, so
// the console stays empty unless something cannot be parsed or loaded; the test fails
// on any console message chromium logs (":CONSOLE" lines with --enable-logging).

// browser is Debian's chromium, which scripts/setup.sh installs; missing, the test fails.
func browser(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed to render the pages (scripts/setup.sh installs it): %v", err)
	}
	return p
}

// render loads file in headless chromium, writes a screenshot to png, and returns the
// DOM and chromium's log.
func render(t *testing.T, file, png string) (dom, log string, took time.Duration) {
	t.Helper()
	args := []string{"--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0",
		"--hide-scrollbars", "--window-size=1100,1600", "--disable-background-networking",
		"--user-data-dir=" + t.TempDir(), "--dump-dom"}
	if png != "" {
		args = append(args, "--screenshot="+png)
	}
	cmd := exec.Command(browser(t), append(args, "file://"+file)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", file, err, e.String())
	}
	return o.String(), e.String(), time.Since(start)
}

var (
	consoleRe = regexp.MustCompile(`(?m)^.*:CONSOLE[:(].*$`)
	linkRe    = regexp.MustCompile(`<([a-zA-Z:]+)\b[^>]*?\s(src|href|xlink:href|srcset|data|action|poster)="([^"]*)"`)
	boxRe     = regexp.MustCompile(`<g class="box" data-region="[^"]*" data-init="([01])" data-size="(\d+)"`)
	urlRe     = regexp.MustCompile(`(?i)url\(\s*['"]?(https?:|//)`)
)

// checkDOM checks a rendered page: no console message, nothing fetched from elsewhere
// (every src/href is local except <a href> links to the kernel's source), and the named
// sections present.
func checkDOM(t *testing.T, name, dom, log string, sections []string) {
	t.Helper()
	for _, p := range domProblems(dom, log, sections) {
		t.Errorf("%s: %s", name, p)
	}
}

// domProblems lists what is wrong with a rendered page.
func domProblems(dom, log string, sections []string) []string {
	var out []string
	if m := consoleRe.FindAllString(log, -1); len(m) > 0 {
		out = append(out, fmt.Sprintf("browser console: %q", m))
	}
	for _, m := range linkRe.FindAllStringSubmatch(dom, -1) {
		tag, attr, url := strings.ToLower(m[1]), m[2], m[3]
		switch {
		case strings.HasPrefix(url, "#"):
		case tag == "a" && attr == "href" && strings.HasPrefix(url, "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git/tree/"):
		case tag == "a" && attr == "href" && strings.HasPrefix(url, "https://git.kernel.org/pub/scm/utils/kernel/kmod/kmod.git/tree/"):
		default:
			out = append(out, fmt.Sprintf("<%s %s=%q> loads or links something outside the page", tag, attr, url))
		}
	}
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "@import"} {
		if strings.Contains(strings.ToLower(dom), bad) {
			out = append(out, "the page has "+bad)
		}
	}
	if urlRe.MatchString(dom) {
		out = append(out, "CSS loads a remote url()")
	}
	for _, s := range sections {
		if !strings.Contains(dom, `<section id="`+s+`">`) {
			out = append(out, fmt.Sprintf("no section %q", s))
		}
	}
	return out
}

// TestBrowserCheckCatches makes sure the checks see what they look for: a page with a
// console error, a remote image and a missing section is refused on all three counts.
func TestBrowserCheckCatches(t *testing.T) {
	page := filepath.Join(t.TempDir(), "bad.html")
	bad := `<!DOCTYPE html><html><body><section id="story"></section><img src="https://example.invalid/x.png">` +
		`<script>console.error("boom")</script></body></html>`
	if err := os.WriteFile(page, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, log, _ := render(t, page, "")
	got := strings.Join(domProblems(dom, log, []string{"story", "memory"}), "\n")
	for _, want := range []string{"browser console", "example.invalid", "<script", `no section "memory"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the checks miss %q; they found:\n%s", want, got)
		}
	}
}

// TestExplainHTMLBtrfsTime measures the page for btrfs (with its dependencies): gokmod's
// model and rendering, and chromium's load and layout beyond an empty page's. Each must
// take under 2 s.
func TestExplainHTMLBtrfsTime(t *testing.T) {
	browser(t)
	blank := filepath.Join(t.TempDir(), "blank.html")
	if err := os.WriteFile(blank, []byte("<!DOCTYPE html><title>x</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range testenv.RequireKernels(t) {
		page := filepath.Join(t.TempDir(), "btrfs.html")
		start := time.Now()
		_, stderr, code := runTool(nil, "explain", "--kernel", k.Root, "--with-deps", "--html", "-o", page, "btrfs")
		gen := time.Since(start)
		if code != exitLoads {
			t.Fatalf("%s: exit %d: %s", k.Release, code, stderr)
		}
		st, err := os.Stat(page)
		if err != nil {
			t.Fatal(err)
		}
		_, _, base := render(t, blank, "")
		dom, log, took := render(t, page, "")
		checkDOM(t, "btrfs", dom, log, allSections)
		t.Logf("%s: btrfs page %d bytes: explain --html %v; chromium %v against %v for an empty page (%v more)",
			k.Release, st.Size(), gen.Round(time.Millisecond), took.Round(time.Millisecond), base.Round(time.Millisecond), (took - base).Round(time.Millisecond))
		if gen > 2*time.Second {
			t.Errorf("%s: explain --html btrfs took %v", k.Release, gen)
		}
		if took-base > 2*time.Second {
			t.Errorf("%s: chromium took %v more for the btrfs page than for an empty one", k.Release, took-base)
		}
	}
}

// boxSums adds the memory map's boxes: core, init.
func boxSums(dom string) (core, init uint64, n int) {
	for _, m := range boxRe.FindAllStringSubmatch(dom, -1) {
		v, _ := strconv.ParseUint(m[2], 10, 64)
		if m[1] == "1" {
			init += v
		} else {
			core += v
		}
		n++
	}
	return core, init, n
}

// layoutSizes reads the model's coresize and initsize from explain --json's layout stage.
func layoutSizes(t *testing.T, args []string) (core, init uint64, ok bool) {
	t.Helper()
	out, stderr, _ := runTool(nil, append([]string{"explain", "--json"}, args...)...)
	var x Explanation
	if err := json.Unmarshal([]byte(out), &x); err != nil {
		t.Fatalf("explain --json %v: %v\n%s", args, err, stderr)
	}
	for _, s := range x.Stages {
		if s.Func == "layout_and_allocate" && s.Errno == "" {
			if _, err := fmt.Sscanf(s.Note, "coresize %d, initsize %d", &core, &init); err != nil {
				t.Fatalf("layout note %q: %v", s.Note, err)
			}
			return core, init, true
		}
	}
	return 0, 0, false
}

// screenshotDir is where the pictures go: $GOKMOD_CACHE/explain-screenshots/RELEASE.
func screenshotDir(t *testing.T, k testenv.Kernel) string {
	cache, err := testenv.Cache()
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(cache, "explain-screenshots", k.Release)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// htmlCase is one explain run to render; fails names the stage word the failing step
// must have (any of them), "" for a load that succeeds.
type htmlCase struct {
	name  string
	args  []string
	fails []string
	want  []string // text the page must show
}

var allSections = []string{"story", "memory", "symbols", "relocations", "list", "taints"}

// TestExplainHTMLInBrowser renders each case's page in chromium for the oldest and the
// newest prepared line: the two memory models (core/init before 6.4, mod->mem[] after)
// and the newest stages; the lines between draw nothing new.
func TestExplainHTMLInBrowser(t *testing.T) {
	browser(t)
	ks := testenv.RequireKernels(t)
	if len(ks) > 2 {
		ks = []testenv.Kernel{ks[0], ks[len(ks)-1]}
	}
	for _, k := range ks {
		t.Run(k.Release, func(t *testing.T) {
			shots := screenshotDir(t, k)
			t.Logf("screenshots in %s", shots)
			tmp := t.TempDir()
			for _, c := range htmlCases(t, k, tmp) {
				page := filepath.Join(tmp, c.name+".html")
				args := append([]string{"--kernel", k.Root}, c.args...)
				_, stderr, code := runTool(nil, append([]string{"explain", "--html", "-o", page}, args...)...)
				if want := map[bool]int{true: exitWouldFail, false: exitLoads}[len(c.fails) > 0]; code != want {
					t.Errorf("%s: exit %d, want %d: %s", c.name, code, want, stderr)
					continue
				}
				dom, log, _ := render(t, page, filepath.Join(shots, c.name+".png"))
				checkDOM(t, c.name, dom, log, allSections)
				for _, w := range c.want {
					if !strings.Contains(dom, w) {
						t.Errorf("%s: the page does not show %q", c.name, w)
					}
				}
				if len(c.fails) > 0 {
					re := regexp.MustCompile(`<li class="fail"><span class="stage">([^<]*)</span>`)
					m := re.FindStringSubmatch(dom)
					if m == nil {
						t.Errorf("%s: no failing step in the story", c.name)
					} else if !contains(c.fails, m[1]) {
						t.Errorf("%s: fails at %q, want one of %q", c.name, m[1], c.fails)
					}
					if !strings.Contains(dom, `class="verdict fail"`) {
						t.Errorf("%s: no failing verdict", c.name)
					}
					if !strings.Contains(dom, "<b>Fix:</b>") {
						t.Errorf("%s: no fix for the failing step", c.name)
					}
				}
				core, init, laid := layoutSizes(t, args)
				gotCore, gotInit, n := boxSums(dom)
				switch {
				case laid && (gotCore != core || gotInit != init):
					t.Errorf("%s: memory map boxes add up to core %d, init %d; the model says %d, %d", c.name, gotCore, gotInit, core, init)
				case !laid && n != 0:
					t.Errorf("%s: %d memory boxes without a layout", c.name, n)
				case laid && n == 0:
					t.Errorf("%s: no memory map", c.name)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// htmlCases are the runs the brief asks for: llc; stp without llc; bridge with its
// dependencies; a module with parameters; an out-of-tree playground module (O and E); a
// big module; one mutated file failing at each stage the files can make fail; and the
// permission and init stages, through --modules-disabled and --init-fail.
func htmlCases(t *testing.T, k testenv.Kernel, dir string) []htmlCase {
	pg := pgbuild.MustBuild(t, k)
	cases := []htmlCase{
		{name: "llc", args: []string{"llc"}},
		{name: "stp-without-llc", args: []string{"stp"}, fails: []string{"symbol resolution"}, want: []string{"Unknown symbol llc_sap_open", "load llc first", `data-provider="(not found)"`}},
		{name: "bridge-with-deps", args: []string{"--with-deps", "bridge"}, want: []string{`data-provider="stp"`, `data-provider="llc"`, "bridge uses stp", "lsmod gains:"}},
		{name: "dummy-params", args: []string{"dummy", "numdummies=3"}, want: []string{"numdummies=3"}},
		{name: "playground-hello", args: []string{pg.Path(pgbuild.Hello)}, want: []string{"TAINT_OOT_MODULE", "TAINT_UNSIGNED_MODULE", "out-of-tree module taints kernel"}},
		{name: "btrfs", args: []string{"--with-deps", "btrfs"}},
		{name: "dummy-bad-param", args: []string{"dummy", "numdummies=many"}, fails: []string{"arguments"}},
		{name: "insmod-directory", args: []string{dir}, fails: []string{"insmod (user space)"}},
		{name: "copy-directory", args: []string{"--syscall", "finit", dir}, fails: []string{"copy"}},
		{name: "permission-modules-disabled", args: []string{"--modules-disabled", "dummy"}, fails: []string{"permission"}, want: []string{"modules_disabled"}},
		{name: "init-fails", args: []string{"--init-fail", "ENODEV", "dummy"}, fails: []string{"init"}, want: []string{"ENODEV"}},
	}
	signed := readInTree(t, k, "kernel/fs/minix/minix.ko")
	f, err := ko.Parse("minix.ko", signed)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := append([]byte(nil), f.ModuleImage()...)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name+".ko")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	edit := func(b []byte, off int, v ...byte) []byte {
		out := append([]byte(nil), b...)
		copy(out[off:], v)
		return out
	}
	replace := func(b []byte, old, new string) []byte {
		i := bytes.Index(b, []byte(old))
		if i < 0 || len(old) != len(new) {
			t.Fatalf("minix.ko: no %q", old)
		}
		return edit(b, i, []byte(new)...)
	}
	ef, err := elf.NewFile(bytes.NewReader(unsigned))
	if err != nil {
		t.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(unsigned[0x28:])
	secIndex := func(name string) int {
		for i, s := range ef.Sections {
			if s.Name == name {
				return i
			}
		}
		t.Fatalf("minix.ko: no section %s", name)
		return 0
	}
	data := secIndex(".data")
	wx := edit(unsigned, int(shoff)+data*64+8, byte(ef.Sections[data].Flags|elf.SHF_EXECINSTR))
	rela := ef.Sections[secIndex(".rela.text")]
	badReloc := edit(unsigned, int(rela.Offset)+8, 99, 0, 0, 0)
	llc := readInTree(t, k, "kernel/net/llc/llc.ko")
	cases = append(cases,
		htmlCase{name: "llc-already-loaded", args: []string{"--loaded", write("llc-copy", llc), "llc"}, fails: []string{"module list"}},
		htmlCase{name: "sig-unsigned-enforced", args: []string{"--cmdline", "module.sig_enforce=1", write("minix-unsigned", unsigned)}, fails: []string{"signature"}},
		htmlCase{name: "elf-bad-magic", args: []string{write("minix-bad-magic", edit(unsigned, 1, 'X'))}, fails: []string{"ELF check"}},
		htmlCase{name: "no-this-module", args: []string{write("minix-no-this-module", replace(unsigned, ".gnu.linkonce.this_module", ".gnu.linkonce.this_modulX"))},
			fails: []string{"convenience variables", "ELF check"}},
		htmlCase{name: "vermagic", args: []string{write("minix-vermagic", replace(unsigned, " mod_unload ", " mod_unlaoX "))}, fails: []string{"modinfo"}},
		htmlCase{name: "layout-wx", args: []string{write("minix-wx", wx)}, fails: []string{"layout", "module_enforce_rwx_sections"}},
		htmlCase{name: "relocation-unknown-type", args: []string{write("minix-bad-reloc", badReloc)}, fails: []string{"relocations"},
			want: []string{"R_X86_64_99", "this relocation fails"}},
	)
	return cases
}

// readInTree reads an in-tree module, decompressed.
func readInTree(t *testing.T, k testenv.Kernel, rel string) []byte {
	t.Helper()
	for _, ext := range []string{"", ".xz", ".zst", ".gz"} {
		b, err := os.ReadFile(filepath.Join(k.ModDir(), rel+ext))
		if err != nil {
			continue
		}
		out, _, err := ko.Decompress(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("%s: not in %s", rel, k.ModDir())
	return nil
}

// TestExplainTextExtras checks what the text trace gained: -v's what-and-why line under
// each stage, the decoded taints, the lsmod lines and the init memory freed.
func TestExplainTextExtras(t *testing.T) {
	for _, k := range testenv.RequireKernels(t) {
		pg := pgbuild.MustBuild(t, k)
		out, stderr, code := runTool(nil, "explain", "--kernel", k.Root, "-v", pg.Path(pgbuild.Hello))
		if code != exitLoads {
			t.Fatalf("%s: exit %d: %s", k.Release, code, stderr)
		}
		for _, want := range []string{
			"Only a process with CAP_SYS_MODULE may load modules",
			"O TAINT_OOT_MODULE", "E TAINT_UNSIGNED_MODULE",
			"lsmod adds:   pg_hello ", "init memory freed after init: ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in:\n%s", k.Release, want, out)
			}
		}
		out, _, _ = runTool(nil, "explain", "--kernel", k.Root, "llc")
		if strings.Contains(out, "Only a process with CAP_SYS_MODULE") {
			t.Errorf("%s: the what-and-why lines without -v", k.Release)
		}
	}
}

// TestModprobeGraph draws btrfs's dependencies and checks the picture in the browser.
// What the graph must hold comes from the tree: each module of btrfs's modules.dep line
// is a node, and a softdep in its modinfo (btrfs has one up to 6.12; 7.x's dropped the
// libcrc32c it named) draws a dashed edge.
func TestModprobeGraph(t *testing.T) {
	browser(t)
	for _, k := range testenv.RequireKernels(t) {
		out, stderr, code := runTool(nil, "modprobe", "-d", k.Root, "-S", k.Release, "--show-depends", "--graph", "btrfs")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", k.Release, code, stderr)
		}
		wants := []string{`data-id="btrfs"`, `class="edge "`}
		dep, err := os.ReadFile(filepath.Join(k.ModDir(), "modules.dep"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(dep), "\n") {
			path, deps, ok := strings.Cut(l, ":")
			if !ok || !strings.Contains(filepath.Base(path), "btrfs.ko") {
				continue
			}
			for _, d := range strings.Fields(deps) {
				name := strings.ReplaceAll(strings.SplitN(filepath.Base(d), ".ko", 2)[0], "-", "_")
				wants = append(wants, `data-id="`+name+`"`)
			}
		}
		soft, _, _ := runTool(nil, "modinfo", "-b", k.Root, "-k", k.Release, "-F", "softdep", "btrfs")
		if strings.TrimSpace(soft) != "" {
			wants = append(wants, `class="edge soft"`)
		} else if strings.Contains(out, `class="edge soft"`) {
			t.Errorf("%s: a dashed edge, but btrfs has no softdep", k.Release)
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in the graph:\n%s", k.Release, want, out)
			}
		}
		p := filepath.Join(t.TempDir(), "btrfs-deps.svg")
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		dom, log, _ := render(t, p, filepath.Join(screenshotDir(t, k), "modprobe-graph-btrfs.png"))
		checkDOM(t, "modprobe --graph", dom, log, nil)
	}
}
