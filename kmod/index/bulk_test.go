package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestBuildMatchesBuilder feeds random entry streams (shared prefixes, keys that are
// prefixes of others, duplicate keys and values, equal priorities, the empty key) to both
// Build and Builder and requires the same bytes, in both node orders, and the same
// duplicate reports.
func TestBuildMatchesBuilder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alpha := "ab-_:*?[]0123456789xyz"
	word := func() string {
		n := r.IntN(12)
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	for iter := 0; iter < 2000; iter++ {
		var entries []Entry
		pool := []string{""}
		for i := 0; i < 1+r.IntN(60); i++ {
			k := word()
			if r.IntN(3) == 0 {
				k = pool[r.IntN(len(pool))] + word()
			}
			pool = append(pool, k)
		}
		for i := 0; i < r.IntN(120); i++ {
			entries = append(entries, Entry{Key: pool[r.IntN(len(pool))], Value: fmt.Sprint("v", r.IntN(4)), Priority: uint32(r.IntN(5))})
		}
		b := NewBuilder()
		var wantDups []bool
		for _, e := range entries {
			d, err := b.Insert(e.Key, e.Value, e.Priority)
			if err != nil {
				t.Fatal(err)
			}
			wantDups = append(wantDups, d)
		}
		for _, order := range []Order{PostOrder, PreOrder} {
			want, err := b.Bytes(order)
			if err != nil {
				t.Fatal(err)
			}
			got, dups, err := Build(entries, order)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("iteration %d, order %d: bytes differ (%d vs %d) for %v", iter, order, len(got), len(want), entries)
			}
			for i := range dups {
				if dups[i] != wantDups[i] {
					t.Fatalf("iteration %d: duplicate report %d differs", iter, i)
				}
			}
		}
	}
}

func TestBuildPostOrderRejectsNonASCII(t *testing.T) {
	if _, _, err := BuildPostOrder([]Entry{{Key: "caf\xe9", Value: "x"}}); err == nil {
		t.Fatal("no error for a non-ASCII key")
	}
}
