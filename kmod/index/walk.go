package index

import (
	"bufio"
	"io"
)

// Walk calls fn for every key that holds values, in libkmod's dump order (a key before
// the keys it prefixes, children in byte order), with the values in file order. It
// stops at the first error fn returns and returns it.
func (ix *Index) Walk(fn func(key string, values []Value) error) error {
	n, ok, err := ix.readNode(ix.root)
	if err != nil || !ok {
		return err
	}
	wk := walker{ix: ix, fn: fn, visited: map[int]bool{}}
	return wk.walk(&n)
}

type walker struct {
	ix      *Index
	fn      func(string, []Value) error
	key     []byte
	visited map[int]bool
}

func (wk *walker) walk(n *node) error {
	if wk.visited[n.off] {
		return wk.ix.corrupt(n.off, "reached twice: the trie has a cycle or shared node")
	}
	wk.visited[n.off] = true
	mark := len(wk.key)
	wk.key = append(wk.key, n.prefix...)
	if len(wk.key) > maxKeyLen {
		return wk.ix.corrupt(n.off, "key longer than %d bytes", maxKeyLen)
	}
	if n.nValues > 0 {
		vals, err := wk.ix.values(n)
		if err != nil {
			return err
		}
		if err := wk.fn(string(wk.key), vals); err != nil {
			return err
		}
	}
	if n.hasKids {
		for ch := int(n.first); ch <= int(n.last); ch++ {
			c, ok, err := wk.ix.readNode(wk.ix.child(n, byte(ch)))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			wk.key = append(wk.key, byte(ch))
			if err := wk.walk(&c); err != nil {
				return err
			}
			wk.key = wk.key[:len(wk.key)-1]
		}
	}
	wk.key = wk.key[:mark]
	return nil
}

// Dump writes, for every value, the prefix, the key, a space, the value and a newline,
// as libkmod's kmod_dump_index does for a loaded (mapped) index: keys in walk order,
// values in file order. `modprobe -c` ends with the alias and symbol indexes dumped
// with the prefix "alias ".
func (ix *Index) Dump(w io.Writer, prefix string) error {
	return ix.dump(w, prefix, false)
}

// DumpUnmapped is Dump as libkmod does it when the index was not loaded beforehand
// (kmod_dump_index falling back to index_file_open, e.g. when another index of the
// module directory is missing): that reader re-inserts each key's values with
// add_value, which reverses every run of equal priorities. In the alias and symbol
// indexes depmod writes, values under one key never share a priority unless they are
// equal, so only other files tell the two apart.
func (ix *Index) DumpUnmapped(w io.Writer, prefix string) error {
	return ix.dump(w, prefix, true)
}

func (ix *Index) dump(w io.Writer, prefix string, resort bool) error {
	bw := bufio.NewWriter(w)
	err := ix.Walk(func(key string, values []Value) error {
		if resort {
			values = insertAll(nil, values)
		}
		for _, v := range values {
			bw.WriteString(prefix)
			bw.WriteString(key)
			bw.WriteByte(' ')
			bw.WriteString(v.Value)
			if err := bw.WriteByte('\n'); err != nil {
				return err
			}
		}
		return nil
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}
