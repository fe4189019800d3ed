// Package cli holds what every gokmod tool shares: GNU getopt_long-style option parsing
// (kmod's tools use getopt_long, so "-fv", "--force", "--opt=x" and options after
// operands all work the same way) and kmod's message format.
package cli

import (
	"fmt"
	"strings"
)

// Option describes one option. Short is 0 for long-only options; Long is "" for short-only.
type Option struct {
	Short  byte
	Long   string
	HasArg bool
}

// Parsed is one option found on the command line, named by its Long name when it has one,
// else by its short letter.
type Parsed struct {
	Name string
	Arg  string
}

func (o Option) name() string {
	if o.Long != "" {
		return o.Long
	}
	return string(o.Short)
}

// Getopt parses args (without the program name) as getopt_long does with permutation:
// options may follow operands, "--" ends options, a lone "-" is an operand. When
// stopAtFirst is set, parsing stops at the first operand (as insmod needs, so that module
// parameters are never taken for options).
func Getopt(args []string, opts []Option, stopAtFirst bool) (parsed []Parsed, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return parsed, append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o, err := findLong(opts, name)
			if err != nil {
				return nil, nil, err
			}
			if o.HasArg && !hasVal {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("option '--%s' requires an argument", o.Long)
				}
				i++
				val = args[i]
			} else if !o.HasArg && hasVal {
				return nil, nil, fmt.Errorf("option '--%s' doesn't allow an argument", o.Long)
			}
			parsed = append(parsed, Parsed{o.name(), val})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				o, ok := findShort(opts, a[j])
				if !ok {
					return nil, nil, fmt.Errorf("invalid option -- '%c'", a[j])
				}
				if !o.HasArg {
					parsed = append(parsed, Parsed{o.name(), ""})
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, nil, fmt.Errorf("option requires an argument -- '%c'", a[j])
					}
					i++
					val = args[i]
				}
				parsed = append(parsed, Parsed{o.name(), val})
				break
			}
		default:
			if stopAtFirst {
				return parsed, append(operands, args[i:]...), nil
			}
			operands = append(operands, a)
		}
	}
	return parsed, operands, nil
}

// findShort finds a short option; the last with that letter wins, as a map built from
// the list would have it. A linear search: a tool has a few dozen options and a command
// line a few letters, and a map would be built on every run.
func findShort(opts []Option, c byte) (Option, bool) {
	for i := len(opts) - 1; i >= 0; i-- {
		if opts[i].Short == c && c != 0 {
			return opts[i], true
		}
	}
	return Option{}, false
}

// findLong accepts an unambiguous prefix of a long option, as getopt_long does.
func findLong(opts []Option, name string) (Option, error) {
	var found []Option
	for _, o := range opts {
		if o.Long == "" {
			continue
		}
		if o.Long == name {
			return o, nil
		}
		if strings.HasPrefix(o.Long, name) {
			found = append(found, o)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Option{}, fmt.Errorf("unrecognized option '--%s'", name)
	}
	return Option{}, fmt.Errorf("option '--%s' is ambiguous", name)
}
