package tool

import (
	"encoding/json"
	"errors"
	"strings"

	"gokmod/kmod"
	"gokmod/kmod/compat"
)

// ModinfoJSON is one module in `gokmod modinfo --json` (kmod issue #434): the schema is
// documented in the README. Keys that a module may repeat are always arrays.
type ModinfoJSON struct {
	Name       string         `json:"name"`
	Filename   string         `json:"filename"` // "(builtin)" for built-in modules
	Builtin    bool           `json:"builtin"`
	Vermagic   string         `json:"vermagic,omitempty"`
	Depends    []string       `json:"depends"`
	Modinfo    map[string]any `json:"modinfo"` // every .modinfo key: a string, or an array when repeatable
	Parameters []ParamJSON    `json:"parameters"`
	Signature  *SignatureJSON `json:"signature,omitempty"`
}

// ParamJSON is one module parameter.
type ParamJSON struct {
	Name        string `json:"name"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

// SignatureJSON is the appended signature as modinfo shows it.
type SignatureJSON struct {
	ID        string `json:"id"`
	Signer    string `json:"signer"`
	Key       string `json:"key"`
	HashAlgo  string `json:"hash_algo"`
	Signature string `json:"signature"` // hex, colon-separated, on one line
}

// repeatable keys are arrays in JSON even when a module has one.
var repeatable = map[string]bool{"alias": true, "parm": true, "parmtype": true, "firmware": true,
	"softdep": true, "weakdep": true, "import_ns": true, "author": true}

func modinfoJSON(e *Env, o *modinfoOpts, tree *kmod.Tree, names []string, byName bool) int {
	enc := json.NewEncoder(o.w)
	enc.SetEscapeHTML(false)
	failed := false
	for _, arg := range names {
		var mods []kmod.Module
		switch {
		case byName:
			if m, _ := tree.LookupName(arg); m != nil {
				mods = []kmod.Module{*m}
			}
		case isModuleFilename(arg):
			mods = []kmod.Module{{Name: kmod.NameFromPath(arg), Path: absCwd(arg)}}
		default:
			mods, _ = tree.Lookup(arg)
		}
		if len(mods) == 0 {
			e.Errorf("Module %s not found.\n", arg)
			e.noteBadIndexes(tree)
			failed = true
			continue
		}
		for _, m := range mods {
			j, err := moduleJSON(tree, m, e.Kmod)
			if err != nil {
				e.Errorf("could not get modinfo from '%s': %s\n", m.Name, kmodErrText(err, e.Kmod))
				failed = true
				continue
			}
			enc.Encode(j)
		}
	}
	if failed {
		return 1
	}
	return 0
}

func moduleJSON(tree *kmod.Tree, m kmod.Module, k compat.Kmod) (*ModinfoJSON, error) {
	kvs, err := moduleInfo(tree, m, k)
	if err != nil {
		return nil, err
	}
	j := &ModinfoJSON{Name: m.Name, Filename: m.Path, Builtin: m.Path == "", Depends: []string{},
		Modinfo: map[string]any{}, Parameters: []ParamJSON{}}
	if j.Builtin {
		j.Filename = "(builtin)"
	}
	sig := &SignatureJSON{}
	for _, kv := range kvs {
		switch kv.Key {
		case "sig_id":
			sig.ID = kv.Value
			continue
		case "signer":
			sig.Signer = kv.Value
			continue
		case "sig_key":
			sig.Key = oneLine(kv.Value)
			continue
		case "sig_hashalgo":
			sig.HashAlgo = kv.Value
			continue
		case "signature":
			sig.Signature = oneLine(kv.Value)
			continue
		case "vermagic":
			j.Vermagic = kv.Value
		case "depends":
			for _, d := range strings.Split(kv.Value, ",") {
				if d != "" {
					j.Depends = append(j.Depends, d)
				}
			}
		}
		prev, seen := j.Modinfo[kv.Key]
		switch {
		case repeatable[kv.Key] && !seen:
			j.Modinfo[kv.Key] = []string{kv.Value}
		case !seen:
			j.Modinfo[kv.Key] = kv.Value
		default:
			if list, ok := prev.([]string); ok {
				j.Modinfo[kv.Key] = append(list, kv.Value)
			} else {
				j.Modinfo[kv.Key] = []string{prev.(string), kv.Value}
			}
		}
	}
	if sig.ID != "" {
		j.Signature = sig
	}
	for _, p := range params(kvs) {
		j.Parameters = append(j.Parameters, ParamJSON{Name: p.name, Type: p.typ, Description: p.desc})
	}
	return j, nil
}

func oneLine(hex string) string { return strings.ReplaceAll(hex, "\n\t\t", "") }

// kmodErrText is the strerror text kmod prints for a failed module open.
func kmodErrText(err error, k compat.Kmod) string {
	var d *detailed
	if errors.As(err, &d) {
		return strerror(d.forKmod(k))
	}
	return strerror(unwrapPath(err))
}
