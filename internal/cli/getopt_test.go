package cli

import (
	"reflect"
	"testing"
)

func TestGetopt(t *testing.T) {
	opts := []Option{{Short: 'f', Long: "force"}, {Short: 'v', Long: "verbose"}, {Long: "force-vermagic"}, {Short: 'C', Long: "config", HasArg: true}}
	tests := []struct {
		args     []string
		stop     bool
		parsed   []Parsed
		operands []string
		err      string
	}{
		{[]string{"-fv", "a"}, false, []Parsed{{"force", ""}, {"verbose", ""}}, []string{"a"}, ""},
		{[]string{"a", "--force", "b"}, false, []Parsed{{"force", ""}}, []string{"a", "b"}, ""},
		{[]string{"a", "--force", "b"}, true, nil, []string{"a", "--force", "b"}, ""},
		{[]string{"-Cdir", "--config=x", "--config", "y"}, false, []Parsed{{"config", "dir"}, {"config", "x"}, {"config", "y"}}, nil, ""},
		{[]string{"--force-v"}, false, []Parsed{{"force-vermagic", ""}}, nil, ""},
		{[]string{"--forc"}, false, nil, nil, "option '--forc' is ambiguous"},
		{[]string{"-x"}, false, nil, nil, "invalid option -- 'x'"},
		{[]string{"--nope"}, false, nil, nil, "unrecognized option '--nope'"},
		{[]string{"-C"}, false, nil, nil, "option requires an argument -- 'C'"},
		{[]string{"--", "-f"}, false, nil, []string{"-f"}, ""},
		{[]string{"-", "x=1"}, false, nil, []string{"-", "x=1"}, ""},
	}
	for _, tt := range tests {
		p, o, err := Getopt(tt.args, opts, tt.stop)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(p, tt.parsed) || !reflect.DeepEqual(o, tt.operands) {
			t.Errorf("%q: got %v %q %v, want %v %q", tt.args, p, o, err, tt.parsed, tt.operands)
		}
	}
}
