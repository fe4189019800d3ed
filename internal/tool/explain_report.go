package tool

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"gokmod/internal/report"
	"gokmod/kernel"
	"gokmod/load"
)

// reportOpts are explain's --html, --svg, -o and -v.
type reportOpts struct {
	html    bool
	svg     string
	file    string
	verbose bool
}

// parse takes one of the report options; false for any other option.
func (o *reportOpts) parse(name, arg string) bool {
	switch name {
	case "html":
		o.html = true
	case "svg":
		o.svg = arg
	case "o":
		o.file = arg
	case "verbose":
		o.verbose = true
	default:
		return false
	}
	return true
}

// picture tells whether a page or a picture is asked for instead of the text.
func (o *reportOpts) picture() bool { return o.html || o.svg != "" }

// write renders the page or the picture to -o FILE or standard output.
func (o *reportOpts) write(e *Env, run *report.Run) error {
	var b bytes.Buffer
	var err error
	if o.svg != "" {
		err = report.SVG(&b, run, o.svg)
	} else {
		err = report.HTML(&b, run)
	}
	if err != nil {
		return err
	}
	if o.file == "" || o.file == "-" {
		_, err = e.Stdout.Write(b.Bytes())
		return err
	}
	if err := os.WriteFile(o.file, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	return nil
}

// newReportRun gathers what the page draws from one explain run.
func newReportRun(k *kernel.Kernel, x *Explanation, r *load.Result, before, after []*load.ModuleState, taintBefore load.Taints) *report.Run {
	run := &report.Run{Kernel: k, File: x.File, Params: x.Params, Preloaded: x.Preloaded, Result: r,
		Before: before, After: after, TaintBefore: taintBefore, Fix: x.Fix, Call: orInsmod(x.Syscall)}
	var t bytes.Buffer
	printTarget(&t, x)
	printSources(&t, x.Sources)
	for _, l := range strings.Split(strings.TrimRight(t.String(), "\n"), "\n") {
		if l != "" {
			run.Target = append(run.Target, l)
		}
	}
	for _, s := range x.Stages {
		run.Stages = append(run.Stages, report.Stage{Stage: s.Stage, Func: s.Func, Note: s.Note, Errno: s.Errno})
	}
	return run
}
