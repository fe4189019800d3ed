package index

import (
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzIndex feeds arbitrary bytes to the reader: it must return errors, never panic or
// hang. Where a file decodes, exact lookups must agree with the walk and a wildcard
// search for a plain key must include the key's own values.
//
//	go test -run='^$' -fuzz=FuzzIndex -fuzztime=60s ./kmod/index/
func FuzzIndex(f *testing.F) {
	for _, p := range fixtureBins(f) {
		if data, err := os.ReadFile(p); err == nil && len(data) <= 4096 {
			f.Add(data, "mod_foo")
		}
	}
	b := NewBuilder()
	for _, e := range [][2]string{
		{"usb:v*p*", "a"}, {"usb:v1234p[0-9]?", "b"}, {"pci:v0000", "c"}, {"pci:v0000", "d"}, {"", "root"},
	} {
		b.Insert(e[0], e[1], uint32(len(e[1])))
	}
	for _, o := range []Order{PostOrder, PreOrder} {
		data, err := b.Bytes(o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "usb:v1234p56")
		f.Add(data, "pci:v0000")
	}
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		done := make(chan bool)
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic("FuzzIndex: one input ran for 10 s: a hang")
			}
		}()
		ix, err := Parse(data)
		if err != nil {
			return
		}
		ix.Lookup(key)
		ix.SearchWildcard(key)
		ix.Dump(io.Discard, "alias ")
		var keys []string
		vals := map[string][]Value{}
		if ix.Walk(func(k string, v []Value) error {
			keys = append(keys, k)
			vals[k] = v
			return nil
		}) != nil {
			return
		}
		for i, k := range keys {
			if i == 32 {
				break
			}
			if strings.IndexByte(k, 0) >= 0 {
				continue // a child slot for byte 0: dumpable, but no C string reaches it
			}
			got, err := ix.Lookup(k)
			if err != nil || !reflect.DeepEqual(got, vals[k]) {
				t.Fatalf("Lookup(%q) = %v, %v; Walk saw %v", k, got, err, vals[k])
			}
			if strings.ContainsAny(k, "*?[") {
				continue
			}
			wild, err := ix.SearchWildcard(k)
			if err != nil {
				t.Fatalf("SearchWildcard(%q): %v after a clean walk", k, err)
			}
			for _, v := range vals[k] {
				if !containsValue(wild, v) {
					t.Fatalf("SearchWildcard(%q) = %v lacks %v", k, wild, v)
				}
			}
		}
	})
}

func containsValue(vs []Value, v Value) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}
