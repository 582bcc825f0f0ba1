package source

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// TreeVisitor is a Visitor that can take a whole directory unchanged, so a
// scan limited to a scope (Options.Scope) need not look into the rest of
// the tree. The scanner calls DirToken instead of Dir and keeps the token
// in the file cache; a later scoped scan hands it back to UnchangedDir for
// a directory outside its scope, instead of visiting what is under it.
type TreeVisitor interface {
	Visitor
	// DirToken is Dir, returning a token that stands for the directory and
	// everything under it as visited (kept as it is, like File's token).
	DirToken(info FileInfo) ([]byte, error)
	// UnchangedDir is called for a directory outside the scope, with the
	// token DirToken gave for it; nothing under it is visited.
	UnchangedDir(info FileInfo, token []byte) error
}

// scope is the set of paths a scoped scan must look at. Everything else is
// taken from the file cache when it holds it (nothing is stat'ed), and
// looked at normally when it does not.
type scope struct {
	paths []string // sorted, cleaned, relative slash paths
}

func newScope(paths []string, cache *scanCache) *scope {
	s := &scope{}
	for _, p := range paths {
		p = path.Clean(strings.Trim(p, "/"))
		if p == "." || p == "" {
			return nil // the whole tree
		}
		s.paths = append(s.paths, p)
	}
	// Files kept from an earlier version because they could not be read
	// consistently (or whose stat cannot be trusted) are looked at again
	// whether or not anything reported them.
	s.paths = append(s.paths, cache.rereads()...)
	slices.Sort(s.paths)
	s.paths = slices.Compact(s.paths)
	return s
}

// covers reports whether p is a scope path or lies under one: it is
// scanned as in a full scan.
func (s *scope) covers(p string) bool {
	for d := p; d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := slices.BinarySearch(s.paths, d); ok {
			return true
		}
	}
	return false
}

// leadsTo reports whether a scope path lies under the directory p: p is
// listed, and its children are looked at one by one.
func (s *scope) leadsTo(p string) bool {
	prefix := p + "/"
	i, _ := slices.BinarySearch(s.paths, prefix)
	return i < len(s.paths) && strings.HasPrefix(s.paths[i], prefix)
}

// carry takes the child crel of a listed directory from the cache when the
// scope does not reach it: a file as unchanged, a directory as a whole.
// It reports false when the child must be looked at.
func (w *walker) carry(crel string, e fs.DirEntry, dbs *dbHeaders) (bool, error) {
	if w.scope == nil || w.scope.covers(crel) || w.scope.leadsTo(crel) {
		return false, nil
	}
	prev, ok := w.cache.lookup(crel)
	if !ok || prev.Reread || prev.Token == nil {
		return false, nil
	}
	switch {
	case e.IsDir() && prev.Kind == KindDir && w.tv != nil:
		w.cache.put(crel, prev) // what is under it stays as cached (see commit)
		info := FileInfo{Path: crel, Kind: KindDir, Mode: prev.Mode, ModTime: time.Unix(0, prev.ID.MtimeNs)}
		if err := w.tv.UnchangedDir(info, prev.Token); err != nil {
			return true, visitErr("unchanged directory", crel, err)
		}
		return true, nil
	case e.Type().IsRegular() && (prev.Kind == KindFile || prev.Kind == KindSQLite):
		w.cache.put(crel, prev)
		dbs.set(path.Base(crel), prev.DBHeader)
		if err := w.v.Unchanged(prev.info(crel), prev.Token); err != nil {
			return true, visitErr("unchanged file", crel, err)
		}
		return true, nil
	}
	return false, nil
}

// warnCounter counts the warnings of a scan, so that a directory in which
// something was left out is not cached as a whole (a later scoped scan
// would carry the omission over).
type warnCounter struct {
	Visitor
	n atomic.Int64
}

func (c *warnCounter) Warn(path string, err error) {
	c.n.Add(1)
	c.Visitor.Warn(path, err)
}

// dirDone visits the directory rel after its children, caching its token
// when the visitor gives one and nothing under it was left out.
func (w *walker) dirDone(info FileInfo, fi fs.FileInfo, warnsBefore int64) error {
	if w.tv == nil {
		return w.v.Dir(info)
	}
	token, err := w.tv.DirToken(info)
	if err != nil {
		return err
	}
	if info.Path != "" && w.warns.n.Load() == warnsBefore {
		w.cache.put(info.Path, cacheEntry{Kind: KindDir, ID: idOf(fi), Mode: fi.Mode(), Token: keepToken(token)})
	}
	return nil
}
