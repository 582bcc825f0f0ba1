package source

import (
	"slices"
	"strings"
)

// scoped is the cache after a complete scoped scan: what it saw, and the
// old entries of what it carried over. An old entry stays when, below the
// deepest directory the scan listed above it, the scan saw the path that
// leads to it (a deleted file or directory drops out with what was under
// it). Only the listed directories' children are looked at, through the
// sorted paths: the cost is per listed child, not per entry. The old map
// is updated in place: one Scan at a time uses the cache, and this one's
// lookups are over. The caller holds s.c.mu.
func (s *scanCache) scoped() map[string]cacheEntry {
	m := s.old
	keys := s.c.sortedKeys()
	var gone []string
	for dir := range s.listed {
		gone = s.goneUnder(keys, dir, gone)
	}
	for _, p := range gone {
		s.c.noteReplaced(p)
		delete(m, p)
	}
	var added []string
	for p, e := range s.next {
		s.c.noteReplaced(p)
		if _, had := m[p]; !had {
			added = append(added, p)
		}
		m[p] = e
	}
	if len(gone) > 0 || len(added) > 0 {
		s.c.keys = mergeKeys(keys, gone, added)
	}
	return m
}

// goneUnder appends to gone the paths below the listed directory dir that
// drop out: those whose path from dir leads through a child the scan did
// not see. A listed child's own subtree is left to that child's turn.
func (s *scanCache) goneUnder(keys []string, dir string, gone []string) []string {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	lo, hi := 0, len(keys)
	if prefix != "" {
		lo, _ = slices.BinarySearch(keys, prefix)
		hi, _ = slices.BinarySearch(keys, dir+"0") // '0' follows '/'
	}
	for i := lo; i < hi; {
		k := keys[i]
		rest := k[len(prefix):]
		j := strings.IndexByte(rest, '/')
		if j < 0 { // a child of dir
			if _, seen := s.next[k]; !seen {
				gone = append(gone, k)
			}
			i++
			continue
		}
		// Below the child: its whole subtree is one run of the sorted paths.
		child := k[:len(prefix)+j]
		end, _ := slices.BinarySearch(keys[i:hi], child+"0")
		end += i
		if !s.listed[child] {
			if _, seen := s.next[child]; !seen {
				gone = append(gone, keys[i:end]...)
			}
		}
		i = end
	}
	return gone
}

// sortedKeys returns the paths of the entries, sorted; built when a full
// scan or an interrupted one replaced them, else kept up to date by
// scoped. The caller holds c.mu.
func (c *FileCache) sortedKeys() []string {
	if !c.keysOK {
		c.keys = make([]string, 0, len(c.entries))
		for p := range c.entries {
			c.keys = append(c.keys, p)
		}
		slices.Sort(c.keys)
		c.keysOK = true
	}
	return c.keys
}

// mergeKeys returns keys without gone and with added (neither sorted; gone
// are in keys, added are not), sorted.
func mergeKeys(keys, gone, added []string) []string {
	drop := make(map[string]bool, len(gone))
	for _, p := range gone {
		drop[p] = true
	}
	slices.Sort(added)
	out := make([]string, 0, len(keys)-len(gone)+len(added))
	for _, k := range keys {
		for len(added) > 0 && added[0] < k {
			out = append(out, added[0])
			added = added[1:]
		}
		if !drop[k] {
			out = append(out, k)
		}
	}
	return append(out, added...)
}
