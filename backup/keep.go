package backup

import (
	"slices"
	"strings"
	"sync"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
	"go.uber.org/zap"
)

// What a snapshot keeps of a path it cannot read now: the previous
// snapshot's version of an unreadable directory, or of an unreadable file
// the file cache does not know.

// keepDir puts the previous snapshot's tree of the directory p, which
// cannot be listed now, into its parent, and reports whether there was
// one. The scanner calls Warn before the parent's Dir, so the node lands
// in time.
func (b *run) keepDir(p string) bool {
	found, ok := b.prevNode(p, true)
	if !ok {
		return false
	}
	files, bytes, err := b.count(found.Subtree)
	if err != nil {
		b.log.Warn("cannot read the previous version of an unreadable directory", zap.String("path", p), zap.Error(err))
		return false
	}
	parent := parentOf(p)
	b.mu.Lock()
	b.dirs[parent] = append(b.dirs[parent], found)
	b.subtotals[found.Subtree] = totals{files, bytes}
	b.files += files
	b.bytes += bytes
	b.mu.Unlock()
	return true
}

// keepFile puts the previous snapshot's version of the file p, which
// cannot be read now and which the file cache did not know (it was lost,
// or written before the file was backed up), into its parent, and reports
// whether there was one: as keepDir does for a directory, so an unreadable
// file keeps its stored version whatever the cache holds.
func (b *run) keepFile(p string) bool {
	found, ok := b.prevNode(p, false)
	if !ok {
		return false
	}
	parent := parentOf(p)
	b.mu.Lock()
	b.dirs[parent] = append(b.dirs[parent], found)
	b.files++
	b.bytes += found.Size
	b.mu.Unlock()
	return true
}

// prevNode finds the node at path p in the previous snapshot's tree: a
// directory (dir) or a file (a plain file or a database).
func (b *run) prevNode(p string, dir bool) (store.Node, bool) {
	if !b.havePrev {
		return store.Node{}, false
	}
	id, parts := b.prevRoot, strings.Split(p, "/")
	for i, name := range parts {
		nodes, err := b.prevTree(id)
		if err != nil {
			b.log.Warn("cannot read the previous version of an unreadable path", zap.String("path", p), zap.Error(err))
			return store.Node{}, false
		}
		last := i == len(parts)-1
		k := slices.IndexFunc(nodes, func(n store.Node) bool {
			if n.Name != name {
				return false
			}
			if !last || dir {
				return n.Kind == store.KindDir
			}
			return n.Kind == store.KindFile || n.Kind == store.KindSQLite
		})
		if k < 0 {
			return store.Node{}, false
		}
		if last {
			return nodes[k], true
		}
		id = nodes[k].Subtree
	}
	return store.Node{}, false
}

// prevTrees keeps the trees of the previous snapshot that prevNode read,
// by id: the unreadable paths of one backup (often many files of one
// directory) share their parents, each read once.
type prevTrees struct {
	mu    sync.Mutex
	reads map[crypt.ID]*prevTreeRead
}

// prevTreeRead is one tree's read, done once; a failure is kept too, so
// that a remote out of reach costs one read's retries a tree, not one a
// path.
type prevTreeRead struct {
	once  sync.Once
	nodes []store.Node
	err   error
}

// prevTree reads the previous snapshot's tree id, once a backup. The
// scanner's goroutines may ask for it at once: one reads each tree, the
// others asking for that tree wait, reads of other trees go on.
func (b *run) prevTree(id crypt.ID) ([]store.Node, error) {
	b.prev.mu.Lock()
	if b.prev.reads == nil {
		b.prev.reads = map[crypt.ID]*prevTreeRead{}
	}
	r, ok := b.prev.reads[id]
	if !ok {
		r = &prevTreeRead{}
		b.prev.reads[id] = r
	}
	b.prev.mu.Unlock()
	r.once.Do(func() { r.nodes, r.err = b.trees.Tree(b.ctx, id) })
	return r.nodes, r.err
}

// count adds up the files of a stored tree, for the snapshot's totals.
func (b *run) count(id crypt.ID) (files, bytes uint64, err error) {
	nodes, err := b.trees.Tree(b.ctx, id)
	if err != nil {
		return 0, 0, err
	}
	for _, n := range nodes {
		switch n.Kind {
		case store.KindDir:
			f, s, err := b.count(n.Subtree)
			if err != nil {
				return 0, 0, err
			}
			files, bytes = files+f, bytes+s
		case store.KindFile, store.KindSQLite:
			files, bytes = files+1, bytes+n.Size
		}
	}
	return files, bytes, nil
}
