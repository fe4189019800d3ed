// Command gendocs writes gokmod's man pages and shell completion from the tools' own
// --help texts, at install time, so that neither can drift from what the tools say:
//
//	go run ./internal/cmd/gendocs -man DIR -bash DIR -zsh DIR
//
// DIR/NAME.8 is written for gokmod and each tool; the bash directory gets one file per
// command name (bash-completion loads completions by command name) and zsh one _gokmod
// function covering them all.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gokmod/internal/tool"
	"gokmod/kmod"
)

func main() {
	manDir := flag.String("man", "", "write man pages (section 8) into this directory")
	bashDir := flag.String("bash", "", "write bash completions into this directory")
	zshDir := flag.String("zsh", "", "write the zsh completion (_gokmod) into this directory")
	flag.Parse()
	docs := collect()
	for _, w := range []struct {
		dir   string
		write func(string, []toolDoc) error
	}{{*manDir, writeMan}, {*bashDir, writeBash}, {*zshDir, writeZsh}} {
		if w.dir == "" {
			continue
		}
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
		if err := w.write(w.dir, docs); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}

// linked are the tools installed under their own names, in place of kmod's; the model's
// tools (explain, check, sim) are reached only as gokmod subcommands, so their pages are
// gokmod-NAME.8 and they get no completion of their own name.
var linked = []string{"insmod", "rmmod", "lsmod", "modinfo", "modprobe", "depmod", "kmod"}

// pageName is the man page a tool's doc is installed as.
func pageName(tool string) string {
	if slices.Contains(linked, tool) {
		return tool
	}
	return "gokmod-" + tool
}

// toolDoc is what one tool's --help says.
type toolDoc struct {
	name, summary, help string
	options             []string // --long and -s spellings, as the help lists them
}

// optionLine matches an option line of a help text: "\t-a, --all  ..." or
// "\t    --cache ..." or "\t--kernel SPEC ...".
var optionLine = regexp.MustCompile(`^\s+(?:(-[A-Za-z0-9]),\s+)?(--[a-z][a-z0-9-]*)|^\s+(-[A-Za-z0-9])\s`)

// collect runs every tool's -h through the same code the tools run.
func collect() []toolDoc {
	var docs []toolDoc
	for _, t := range tool.Tools {
		var o, e bytes.Buffer
		tool.Main([]string{t.Name, "-h"}, &o, &e, kmod.NewHost())
		d := toolDoc{name: t.Name, summary: t.Summary, help: o.String()}
		for _, l := range strings.Split(d.help, "\n") {
			m := optionLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			for _, s := range m[1:] {
				if s != "" && !slices.Contains(d.options, s) {
					d.options = append(d.options, s)
				}
			}
		}
		docs = append(docs, d)
	}
	return docs
}

// roff escapes text for a man page's no-fill block.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		b.WriteString(strings.ReplaceAll(l, "\t", "        ") + "\n")
	}
	return b.String()
}

func writeMan(dir string, docs []toolDoc) error {
	date := time.Now().UTC().Format("2006-01-02")
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" { // reproducible builds
		var sec int64
		if _, err := fmt.Sscan(e, &sec); err == nil {
			date = time.Unix(sec, 0).UTC().Format("2006-01-02")
		}
	}
	env := ".SH ENVIRONMENT\n.TP\n.B GOKMOD_KMOD\nThe kmod release the tools behave as: 34.2 (the default, as Debian 13 ships) or 30 (Debian 12).\n"
	var names []string
	for _, d := range docs {
		names = append(names, pageName(d.name))
		page := fmt.Sprintf(".TH %s 8 %s \"gokmod %s\" \"gokmod\"\n.SH NAME\n%s \\- %s\n.SH SYNOPSIS AND OPTIONS\nWhat \\fB%s \\-\\-help\\fR prints:\n.PP\n.nf\n%s.fi\n%s.SH SEE ALSO\n\\fBgokmod\\fR(8), \\fBkmod\\fR(8)\n",
			strings.ToUpper(pageName(d.name)), date, tool.Version, pageName(d.name), d.summary, d.name, roff(d.help), env)
		if err := os.WriteFile(filepath.Join(dir, pageName(d.name)+".8"), []byte(page), 0o644); err != nil {
			return err
		}
	}
	var o, e bytes.Buffer
	tool.Main([]string{"gokmod", "--help"}, &o, &e, kmod.NewHost())
	page := fmt.Sprintf(".TH GOKMOD 8 %s \"gokmod %s\" \"gokmod\"\n.SH NAME\ngokmod \\- load, unload and explain Linux kernel modules\n.SH SYNOPSIS\n.nf\n%s.fi\n%s.SH SEE ALSO\n\\fB%s\\fR(8)\n",
		date, tool.Version, roff(o.String()), env, strings.Join(names, `\fR(8), \fB`))
	return os.WriteFile(filepath.Join(dir, "gokmod.8"), []byte(page), 0o644)
}

func writeBash(dir string, docs []toolDoc) error {
	var b strings.Builder
	b.WriteString("# bash completion for gokmod and its tools, generated from their --help (internal/cmd/gendocs).\n")
	b.WriteString("_gokmod_opts() {\n\tcase $1 in\n")
	var names []string
	for _, d := range docs {
		names = append(names, d.name)
		fmt.Fprintf(&b, "\t%s) echo '%s' ;;\n", d.name, strings.Join(d.options, " "))
	}
	b.WriteString("\tesac\n}\n")
	fmt.Fprintf(&b, `_gokmod() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[0]##*/} i=1
	if [ "$cmd" = gokmod ]; then
		if [ "$COMP_CWORD" -eq 1 ]; then
			COMPREPLY=($(compgen -W '%s --help --version' -- "$cur"))
			return
		fi
		cmd=${COMP_WORDS[1]}
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_gokmod_opts "$cmd")" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _gokmod gokmod %s
`, strings.Join(names, " "), strings.Join(linked, " "))
	files := append([]string{"gokmod"}, linked...)
	for _, n := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeZsh(dir string, docs []toolDoc) error {
	var b strings.Builder
	var names []string
	for _, d := range docs {
		names = append(names, d.name)
	}
	fmt.Fprintf(&b, "#compdef gokmod %s\n# zsh completion for gokmod and its tools, generated from their --help (internal/cmd/gendocs).\n", strings.Join(linked, " "))
	b.WriteString("local cmd=${service}\nif [[ $cmd == gokmod ]]; then\n  if (( CURRENT == 2 )); then\n")
	fmt.Fprintf(&b, "    compadd -- %s --help --version\n    return\n  fi\n  cmd=${words[2]}\nfi\ncase $cmd in\n", strings.Join(names, " "))
	for _, d := range docs {
		fmt.Fprintf(&b, "  %s) compadd -- %s ;;\n", d.name, strings.Join(d.options, " "))
	}
	b.WriteString("esac\n_files\n")
	return os.WriteFile(filepath.Join(dir, "_gokmod"), []byte(b.String()), 0o644)
}
