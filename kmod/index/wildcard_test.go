package index_test

import (
	"bufio"
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gokmod/internal/testing/testenv"
	"gokmod/kmod/config"
	"gokmod/kmod/index"
)

// TestResolveLikeModprobe asks kmod's `modprobe -d ROOT -S KVER -R QUERY`, live and in
// the same run, what each of a few hundred queries resolves to, and checks that
// libkmod's lookup chain over our index reader gives the same modules in the same order:
// modules.dep.bin exact, then modules.symbols.bin for "symbol:" names, modules.alias.bin
// wildcards, modules.builtin.bin exact and modules.builtin.alias.bin wildcards; the
// first source with a result wins. The queries are made from the tree's own
// modules.alias (each pattern's wildcards filled in), modules.symbols and module names,
// so they follow whatever kernel build the archive serves; nothing is recorded.
func TestResolveLikeModprobe(t *testing.T) {
	modprobe := testenv.KmodTool(t, "modprobe")
	for _, k := range testenv.RequireKernels(t) {
		t.Run(k.Release, func(t *testing.T) {
			open := func(name string) *index.Index {
				ix, err := index.Open(filepath.Join(k.ModDir(), name))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ix.Close() })
				return ix
			}
			dep, syms, alias := open("modules.dep.bin"), open("modules.symbols.bin"), open("modules.alias.bin")
			builtin, balias := open("modules.builtin.bin"), open("modules.builtin.alias.bin")
			queries := wildQueries(t, k.ModDir())
			want := askModprobe(t, modprobe, k, queries)
			multi, found := 0, 0
			for i, q := range queries {
				name, err := config.AliasNormalize(q)
				if err != nil {
					t.Fatal(err)
				}
				got := strings.Join(resolve(t, name, dep, syms, alias, builtin, balias), " ")
				if got != want[i] {
					t.Errorf("%q: got %q, modprobe -R says %q", q, got, want[i])
				}
				if strings.Contains(want[i], " ") {
					multi++
				}
				if want[i] != "" {
					found++
				}
			}
			// The corpus must exercise what the test is for: many resolved queries,
			// several of them with more than one module (the wildcard search's order).
			if len(queries) < 300 || found < 250 || multi < 10 {
				t.Fatalf("too few telling queries: %d asked, %d resolved, %d with several modules", len(queries), found, multi)
			}
			if !t.Failed() {
				testenv.Report(t, "%d queries beside kmod's modprobe -R: %d resolved, %d to several modules, all in kmod's order", len(queries), found, multi)
			}
		})
	}
}

// wildQueries makes the queries from the tree's text indexes, reproducibly (a fixed
// seed, so a failure can be rerun): concrete strings matching sampled modules.alias
// patterns, twice with different fillings; patterns that several modules share (so the
// answer lists several); symbol: names; module names, some with - for _; and names
// nothing resolves.
func wildQueries(t *testing.T, modDir string) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(0x6b6d6f64, 0x77696c64))
	type line struct{ pattern, module string }
	read := func(name string) []line {
		f, err := os.Open(filepath.Join(modDir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []line
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) == 3 && fs[0] == "alias" {
				out = append(out, line{fs[1], fs[2]})
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			t.Fatalf("%s/%s has no alias", modDir, name)
		}
		return out
	}
	aliases, symbols := read("modules.alias"), read("modules.symbols")
	var qs []string
	for i := 0; i < 200; i++ {
		a := aliases[rng.IntN(len(aliases))]
		qs = append(qs, fillPattern(rng, a.pattern), fillPattern(rng, a.pattern))
	}
	byPattern := map[string]int{}
	for _, a := range aliases {
		byPattern[a.pattern]++
	}
	shared := 0
	for _, a := range aliases {
		if byPattern[a.pattern] > 1 && shared < 40 {
			qs = append(qs, fillPattern(rng, a.pattern))
			byPattern[a.pattern] = 0 // once per pattern
			shared++
		}
	}
	for i := 0; i < 40; i++ {
		qs = append(qs, symbols[rng.IntN(len(symbols))].pattern)
	}
	for i := 0; i < 40; i++ {
		m := aliases[rng.IntN(len(aliases))].module
		if i%2 == 0 {
			m = strings.ReplaceAll(m, "_", "-")
		}
		qs = append(qs, m)
	}
	return append(qs, "gokmod_no_such_module", "symbol:gokmod_no_such_symbol", "pci:v0000FFFFd0000FFFFsv*")
}

// fillPattern returns a string that the fnmatch pattern p matches: each * becomes zero
// to three characters, each ? one, and each [set] one character of the set.
func fillPattern(rng *rand.Rand, p string) string {
	const alphabet = "0123456789ABCDEFZabcdefv"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			for n := rng.IntN(4); n > 0; n-- {
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
		case '?':
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end <= 0 {
				b.WriteByte(c)
				continue
			}
			set := p[i+1 : i+1+end]
			i += 1 + end
			b.WriteByte(pickFromSet(rng, set))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// pickFromSet picks a printable character that the bracket expression [set] matches.
func pickFromSet(rng *rand.Rand, set string) byte {
	negate := set[0] == '!' || set[0] == '^'
	if negate {
		set = set[1:]
	}
	in := func(c byte) bool {
		for j := 0; j < len(set); j++ {
			if j+2 < len(set) && set[j+1] == '-' {
				if set[j] <= c && c <= set[j+2] {
					return true
				}
				j += 2
			} else if set[j] == c {
				return true
			}
		}
		return false
	}
	var members []byte
	for c := byte('!'); c <= '~'; c++ {
		if c != '*' && c != '?' && c != '[' && in(c) != negate {
			members = append(members, c)
		}
	}
	if len(members) == 0 {
		return 'x'
	}
	return members[rng.IntN(len(members))]
}

// askModprobe runs kmod's modprobe -R for every query, four at a time, and returns its
// answers: the resolved module names joined by spaces, "" when it finds none.
func askModprobe(t *testing.T, modprobe string, k testenv.Kernel, queries []string) []string {
	t.Helper()
	answers := make([]string, len(queries))
	errs := make([]error, len(queries))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var stdout, stderr bytes.Buffer
				cmd := exec.Command(modprobe, "-d", k.Root, "-S", k.Release, "-R", queries[i])
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				var exit *exec.ExitError
				switch {
				case err == nil:
					answers[i] = strings.Join(strings.Fields(stdout.String()), " ")
				case errors.As(err, &exit) && exit.ExitCode() == 1 && stdout.Len() == 0 && strings.Contains(stderr.String(), "not found"):
					answers[i] = ""
				default:
					errs[i] = err
					answers[i] = stderr.String()
				}
			}
		}()
	}
	for i := range queries {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s -R %q: %v: %s", modprobe, queries[i], err, answers[i])
		}
	}
	return answers
}

// resolve is libkmod's lookup chain over the indexes, as kmod_module_new_from_lookup
// walks it.
func resolve(t *testing.T, name string, dep, syms, alias, builtin, balias *index.Index) []string {
	t.Helper()
	names := func(vs []index.Value, err error) []string {
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.Value)
		}
		return out
	}
	if !strings.Contains(name, ":") {
		if v := names(dep.Lookup(name)); v != nil {
			return []string{name}
		}
	}
	if strings.HasPrefix(name, "symbol:") {
		if v := names(syms.SearchWildcard(name)); v != nil {
			return v
		}
	}
	if v := names(alias.SearchWildcard(name)); v != nil {
		return v
	}
	if v := names(builtin.Lookup(name)); v != nil {
		return []string{name}
	}
	return names(balias.SearchWildcard(name))
}
