// Package browse reads single things out of snapshots without restoring
// them: it picks a snapshot (by id prefix, "latest" or a time), looks a
// path up, walks a tree, reads a file's byte ranges and compares two
// snapshots. It reads the store only through Reader, the narrow read
// interface restore also uses, and it costs what it shows: looking at a
// directory reads its tree blobs, and reading a file fetches only the
// chunks under the requested range (after its chunk lists).
package browse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// ErrPathNotFound means a path is not in the snapshot.
var ErrPathNotFound = errors.New("path not found in snapshot")

// ErrBadTime means a --time value could not be parsed.
var ErrBadTime = errors.New("bad time")

// Reader is what browsing reads from the store (store.Store implements it).
type Reader interface {
	Snapshots() []store.Snapshot
	FindSnapshot(id string) (store.Snapshot, error)
	Tree(ctx context.Context, id crypt.ID) ([]store.Node, error)
	ChunkRefs(ctx context.Context, c store.Content) ([]store.ChunkRef, error)
	FetchBlobs(ctx context.Context, ids []crypt.ID, fn func(id crypt.ID, plain []byte) error) error
	Locate(id crypt.ID) string
}

// timeLayouts are the local forms ParseTime accepts besides RFC 3339.
var timeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// ParseTime reads an RFC 3339 time or a local "2006-01-02 15:04" (seconds
// and the time of day are optional).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w %q: give an RFC 3339 time (2026-11-30T18:00:00Z) or a local \"2006-01-02 15:04\"", ErrBadTime, s)
}

// Select picks a snapshot: with a non-zero at, the newest at or before it
// (spec must then be "" or "latest"); otherwise by id prefix or "latest".
func Select(r Reader, spec string, at time.Time) (store.Snapshot, error) {
	if at.IsZero() {
		return r.FindSnapshot(spec)
	}
	if spec != "" && spec != "latest" {
		return store.Snapshot{}, fmt.Errorf("%w: give either a snapshot id or a time, not both", store.ErrSnapshotNotFound)
	}
	snaps := r.Snapshots()
	var found *store.Snapshot
	for i := range snaps {
		if !snaps[i].Time.After(at) && (found == nil || !snaps[i].Time.Before(found.Time)) {
			found = &snaps[i]
		}
	}
	if found == nil {
		first := "the repository has no snapshots yet"
		if len(snaps) > 0 {
			first = "the first is from " + snaps[0].Time.Local().Format("2006-01-02 15:04:05 MST")
		}
		return store.Snapshot{}, fmt.Errorf("%w: no snapshot at or before %s (%s)", store.ErrSnapshotNotFound, at.Local().Format("2006-01-02 15:04:05 MST"), first)
	}
	return *found, nil
}

// Root is the snapshot's top directory as a node.
func Root(s store.Snapshot) store.Node {
	mode := s.RootMode
	if mode == 0 {
		mode = 0o755
	}
	return store.Node{Name: "/", Kind: store.KindDir, Mode: mode | fs.ModeDir, ModTime: s.RootModTime, Subtree: s.Tree}
}

// Clean turns a user's path into the slash form used here: no leading
// or trailing slash, "" for the root.
func Clean(p string) string {
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	return strings.TrimPrefix(p, "/")
}

// Lookup finds p (see Clean) in the snapshot, reading one tree per
// directory on the way.
func Lookup(ctx context.Context, r Reader, s store.Snapshot, p string) (store.Node, error) {
	n := Root(s)
	p = Clean(p)
	if p == "" {
		return n, nil
	}
	for _, name := range strings.Split(p, "/") {
		if n.Kind != store.KindDir {
			return store.Node{}, fmt.Errorf("%w: %s (%s is not a directory in snapshot %s)", ErrPathNotFound, p, n.Name, s.ShortID())
		}
		nodes, err := r.Tree(ctx, n.Subtree)
		if err != nil {
			return store.Node{}, err
		}
		i := find(nodes, name)
		if i < 0 {
			return store.Node{}, fmt.Errorf("%w: %s is not in snapshot %s (list it with `chatsafe ls %s`)", ErrPathNotFound, p, s.ShortID(), s.ShortID())
		}
		n = nodes[i]
	}
	return n, nil
}

func find(nodes []store.Node, name string) int {
	for i := range nodes {
		if nodes[i].Name == name {
			return i
		}
	}
	return -1
}

// SkipDir, returned by a Walk callback for a directory, skips its contents.
var SkipDir = fs.SkipDir

// Walk calls fn for n (at path p) and, when n is a directory, for every
// entry below it, in tree order, parents first.
func Walk(ctx context.Context, r Reader, p string, n *store.Node, fn func(p string, n *store.Node) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := fn(p, n)
	if errors.Is(err, SkipDir) {
		return nil
	}
	if err != nil || n.Kind != store.KindDir {
		return err
	}
	nodes, err := r.Tree(ctx, n.Subtree)
	if err != nil {
		return err
	}
	for i := range nodes {
		if err := Walk(ctx, r, path.Join(p, nodes[i].Name), &nodes[i], fn); err != nil {
			return err
		}
	}
	return nil
}

// Match reports whether a glob pattern (path.Match syntax) matches the
// slash path p (see Clean): the whole path, or, for a pattern without a
// slash, its base name.
func Match(pattern, p string) bool {
	pattern = strings.TrimPrefix(pattern, "/")
	if ok, _ := path.Match(pattern, p); ok {
		return true
	}
	if !strings.Contains(pattern, "/") {
		ok, _ := path.Match(pattern, path.Base(p))
		return ok
	}
	return false
}

// MatchAny reports whether any pattern matches p or one of its parent
// directories (a matched directory takes everything below it).
func MatchAny(patterns []string, p string) bool {
	for q := p; q != "" && q != "."; q = path.Dir(q) {
		for _, pat := range patterns {
			if Match(pat, q) {
				return true
			}
		}
		if !strings.Contains(q, "/") {
			break
		}
	}
	return false
}

// ValidPatterns checks glob patterns before any work starts.
func ValidPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad pattern %q: %w (use *, ? and [...])", p, err)
		}
	}
	return nil
}

// Cached returns r with every tree it reads kept in memory, for walks
// over many snapshots that share most of their directories.
func Cached(r Reader) Reader { return &cachedReader{Reader: r, trees: map[crypt.ID][]store.Node{}} }

type cachedReader struct {
	Reader
	mu    sync.Mutex
	trees map[crypt.ID][]store.Node
}

func (c *cachedReader) Tree(ctx context.Context, id crypt.ID) ([]store.Node, error) {
	c.mu.Lock()
	nodes, ok := c.trees[id]
	c.mu.Unlock()
	if ok {
		return nodes, nil
	}
	nodes, err := c.Reader.Tree(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.trees[id] = nodes
	c.mu.Unlock()
	return nodes, nil
}
