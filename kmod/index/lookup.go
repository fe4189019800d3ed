package index

// keyAt is key[i] of a C string: 0 at and past its end.
func keyAt(key string, i int) byte {
	if i < len(key) {
		return key[i]
	}
	return 0
}

// Lookup returns the values stored under exactly key, in file order (ascending
// priority), or nil when the key is absent. libkmod's index_mm_search walks the same
// way and uses the first of them (modules.dep.bin and modules.builtin.bin lookups).
// Stored wildcards are not interpreted.
func (ix *Index) Lookup(key string) ([]Value, error) {
	key = cstring(key)
	ref := ix.root
	i := 0
	// Every step consumes at least one key byte, so this ends even on a cyclic file.
	for {
		n, ok, err := ix.readNode(ref)
		if err != nil || !ok {
			return nil, err
		}
		for j := 0; j < len(n.prefix); j++ {
			if n.prefix[j] != keyAt(key, i+j) {
				return nil, nil
			}
		}
		i += len(n.prefix)
		if i == len(key) {
			return ix.values(&n)
		}
		ref = ix.child(&n, key[i])
		i++
	}
}

// SearchWildcard returns the values of every stored key that, read as an fnmatch
// pattern, matches key — libkmod's index_mm_searchwild, used for modules.alias.bin and
// modules.symbols.bin. Results are ordered by priority; among equal priorities the
// order is libkmod's (the later-found value first), so callers that take "the first
// module" agree with modprobe.
func (ix *Index) SearchWildcard(key string) ([]Value, error) {
	key = cstring(key)
	w := &wild{ix: ix}
	ref := ix.root
	i := 0
	// Every step consumes at least one key byte, so this ends even on a cyclic file.
	for {
		n, ok, err := ix.readNode(ref)
		if err != nil || !ok {
			return w.out, err
		}
		for j := 0; j < len(n.prefix); j++ {
			ch := n.prefix[j]
			if ch == '*' || ch == '?' || ch == '[' {
				if err := w.start(&n, j, "", key[i+j:]); err != nil {
					return nil, err
				}
				return w.out, nil
			}
			if ch != keyAt(key, i+j) {
				return w.out, nil
			}
		}
		i += len(n.prefix)
		for _, wc := range [...]byte{'*', '?', '['} {
			c, ok, err := ix.readNode(ix.child(&n, wc))
			if err != nil {
				return nil, err
			}
			if ok {
				if err := w.start(&c, 0, string(wc), key[i:]); err != nil {
					return nil, err
				}
			}
		}
		if i == len(key) {
			vals, err := ix.values(&n)
			if err != nil {
				return nil, err
			}
			w.out = insertAll(w.out, vals)
			return w.out, nil
		}
		ref = ix.child(&n, key[i])
		i++
	}
}

// insertAll adds values one by one, in order, as libkmod's add_value loop does.
func insertAll(out, vals []Value) []Value {
	for _, v := range vals {
		out = insertValue(out, v)
	}
	return out
}

// wild holds a wildcard search's state. Each enumeration of a sub-keyspace that starts
// with a wildcard (index_mm_searchwild_all) may enter every node once: a second visit
// means the file is not a tree. All matches go through one list, as in libkmod, because
// insertion order decides the order among equal priorities.
type wild struct {
	ix      *Index
	subkey  string
	buf     []byte // the pattern so far, from the first wildcard on
	out     []Value
	visited map[int]bool
}

// start enumerates the subtree at n (from prefix byte j on) with the pattern starting
// as lead, matching against subkey. Matches join the search's single result list.
func (w *wild) start(n *node, j int, lead, subkey string) error {
	w.subkey = subkey
	w.buf = append(w.buf[:0], lead...)
	w.visited = map[int]bool{}
	return w.all(n, j)
}

// all pushes the node's prefix from j on, enumerates the children in byte order, then
// matches the node's own values against the pattern assembled so far.
func (w *wild) all(n *node, j int) error {
	if w.visited[n.off] {
		return w.ix.corrupt(n.off, "reached twice: the trie has a cycle or shared node")
	}
	w.visited[n.off] = true
	mark := len(w.buf)
	w.buf = append(w.buf, n.prefix[j:]...)
	if len(w.buf) > maxKeyLen {
		return w.ix.corrupt(n.off, "key longer than %d bytes", maxKeyLen)
	}
	if n.hasKids {
		for ch := int(n.first); ch <= int(n.last); ch++ {
			cref := w.ix.child(n, byte(ch))
			c, ok, err := w.ix.readNode(cref)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			w.buf = append(w.buf, byte(ch))
			if err := w.all(&c, 0); err != nil {
				return err
			}
			w.buf = w.buf[:len(w.buf)-1]
		}
	}
	if n.nValues > 0 && Fnmatch(string(w.buf), w.subkey) {
		vals, err := w.ix.values(n)
		if err != nil {
			return err
		}
		w.out = insertAll(w.out, vals)
	}
	w.buf = w.buf[:mark]
	return nil
}
