package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gokmod/internal/testing/testenv"
)

// peer is one kmod release gokmod is timed against: cmd gives the command line that
// runs its tool.
type peer struct {
	name string
	cmd  func(tool string) []string
}

// peers are kmod 30 (Debian 12's, the machine's own) and kmod 34.2 (trixie's and sid's,
// unpacked by scripts/setup.sh with its own glibc). kmod 34.2 is run through that
// glibc's loader directly: the cache's wrapper script (testenv.Kmod34Tool) would add a
// shell's exec to every run; wrapperCost measures what that would be.
func peers() []peer {
	direct := func(tool string) []string {
		argv, err := testenv.Kmod34Direct(tool)
		must(err)
		return argv
	}
	direct("depmod") // fail now, not in the middle of the bench
	return []peer{
		{"kmod 30", func(tool string) []string { return []string{"/usr/sbin/" + tool} }},
		{"kmod 34.2", direct},
	}
}

// gokmodCmd is gokmod's command line for a tool.
func gokmodCmd(tool string) []string { return []string{*gokmod, tool} }

type sample struct {
	wall time.Duration
	rss  int64 // KiB
}

type stats struct{ samples []sample }

func (s *stats) add(x sample) { s.samples = append(s.samples, x) }
func (s *stats) median() time.Duration {
	w := s.walls()
	return w[len(w)/2]
}
func (s *stats) min() time.Duration { return s.walls()[0] }
func (s *stats) walls() []time.Duration {
	var w []time.Duration
	for _, x := range s.samples {
		w = append(w, x.wall)
	}
	slices.Sort(w)
	return w
}
func (s *stats) rss() int64 {
	var m int64
	for _, x := range s.samples {
		m = max(m, x.rss)
	}
	return m
}

// row is one compared command: a stats per peer (in peers' order), and gokmod's.
type row struct {
	what string
	kmod []stats
	gok  stats
}

func newRow(what string, n int) *row { return &row{what: what, kmod: make([]stats, n)} }

// ratio is kmod's median over gokmod's for peer i: above 1, gokmod is faster.
func (r *row) ratio(i int) float64 { return float64(r.kmod[i].median()) / float64(r.gok.median()) }

// rows keeps every reported row by name, for the summary.
var rows = map[string]*row{}

// run times one command. Peak RSS comes from /usr/bin/time, whose child is forked from
// a small process: a child forked from this one would inherit its high-water mark.
//
// Every command starts after a sync: each depmod leaves megabytes of output for the
// kernel to write back, and that writeback, running beside the next command, cost it
// up to 30 ms of CPU in contended file system locks (measured: gokmod after one module
// was added, 67 ms median alternating with kmod without the sync, 51 ms with it; kmod
// 590 and 521 ms). With it, neither tool pays for the other's writes.
func run(argv []string, args ...string) (sample, error) {
	unix.Sync()
	cmd := exec.Command("/usr/bin/time", append(append([]string{"-f", "%M"}, argv...), args...)...)
	var se bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &se
	t := time.Now()
	err := cmd.Run()
	wall := time.Since(t)
	if err != nil {
		return sample{}, fmt.Errorf("%s %s: %v\n%s", strings.Join(argv, " "), strings.Join(args, " "), err, se.String())
	}
	lines := strings.Split(strings.TrimSpace(se.String()), "\n")
	var rss int64
	fmt.Sscan(lines[len(lines)-1], &rss)
	return sample{wall, rss}, nil
}

// alternate runs tool with args n times for every peer and gokmod, in turn, and
// reports the row.
func alternate(ps []peer, what, tool string, n int, args ...string) *row {
	r := newRow(what, len(ps))
	for range n {
		for i, p := range ps {
			s, err := run(p.cmd(tool), args...)
			must(err)
			r.kmod[i].add(s)
		}
		s, err := run(gokmodCmd(tool), args...)
		must(err)
		r.gok.add(s)
	}
	report(ps, r)
	return r
}

// report prints a row: min / median of each, the ratios and peak RSS.
func report(ps []peer, r *row) {
	f := func(d time.Duration) string { return fmt.Sprintf("%.1f", ms(d)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n ", r.what)
	for i, p := range ps {
		fmt.Fprintf(&b, " %s %s / %s ms,", p.name, f(r.kmod[i].min()), f(r.kmod[i].median()))
	}
	fmt.Fprintf(&b, " gokmod %s / %s ms (min / median);", f(r.gok.min()), f(r.gok.median()))
	for i, p := range ps {
		fmt.Fprintf(&b, " %.2fx %s,", r.ratio(i), p.name)
	}
	fmt.Fprintf(&b, " peak RSS")
	for i, p := range ps {
		fmt.Fprintf(&b, " %s %.1f MB,", p.name, float64(r.kmod[i].rss())/1024)
	}
	fmt.Fprintf(&b, " gokmod %.1f MB\n", float64(r.gok.rss())/1024)
	fmt.Print(b.String())
	rows[r.what] = r
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// wrapperCost times the cache's kmod 34.2 wrapper script against the loader called
// directly, both running modprobe --version: what the wrapper's shell would add to
// every kmod 34.2 run had the bench used it.
func wrapperCost(n int) {
	cache, err := testenv.Cache()
	must(err)
	wrapper := []string{filepath.Join(cache, "kmod34", "bin", "modprobe")}
	direct, err := testenv.Kmod34Direct("modprobe")
	must(err)
	var w, d stats
	for range n {
		s, err := run(wrapper, "--version")
		must(err)
		w.add(s)
		s, err = run(direct, "--version")
		must(err)
		d.add(s)
	}
	fmt.Printf("kmod 34.2's wrapper script (one exec of /bin/sh more) against its loader called directly, modprobe --version, %d runs each:\n", n)
	fmt.Printf("  wrapper %.2f ms, direct %.2f ms (medians): the wrapper costs %.2f ms a run; the rows above and below run kmod 34.2 directly\n",
		ms(w.median()), ms(d.median()), ms(w.median()-d.median()))
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
