package browse

import (
	"context"
	"path"
	"slices"

	"github.com/chatsafe/chatsafe/store"
)

// Change is one difference between two snapshots.
type Change struct {
	Path string
	What string // "added", "removed" or "changed"
	Kind store.Kind
	// OldSize and NewSize are the sizes before and after (0 when absent).
	OldSize, NewSize uint64
	// Pages is, for a database present on both sides, how many pages
	// differ (including pages added or dropped at its end); -1 otherwise.
	Pages int
}

// Diff compares two directory nodes and calls fn for every added, removed
// and changed path, in tree order. Identical subtrees are skipped by id,
// and a file's chunk lists are read only when its content differs.
func Diff(ctx context.Context, r Reader, a, b *store.Node, fn func(Change) error) error {
	d := &differ{ctx: ctx, r: r, fn: fn}
	return d.dirs("", a, b)
}

type differ struct {
	ctx context.Context
	r   Reader
	fn  func(Change) error
}

func (d *differ) dirs(p string, a, b *store.Node) error {
	if a.Subtree == b.Subtree {
		return nil
	}
	an, err := d.r.Tree(d.ctx, a.Subtree)
	if err != nil {
		return err
	}
	bn, err := d.r.Tree(d.ctx, b.Subtree)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	var order []string
	for _, list := range [][]store.Node{an, bn} {
		for _, n := range list {
			if !names[n.Name] {
				names[n.Name] = true
				order = append(order, n.Name)
			}
		}
	}
	slices.Sort(order)
	for _, name := range order {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		ia, ib := find(an, name), find(bn, name)
		q := path.Join(p, name)
		switch {
		case ia < 0:
			err = d.side(q, &bn[ib], "added")
		case ib < 0:
			err = d.side(q, &an[ia], "removed")
		default:
			err = d.entry(q, &an[ia], &bn[ib])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// side reports a path present on one side only, with everything below it.
func (d *differ) side(p string, n *store.Node, what string) error {
	return Walk(d.ctx, d.r, p, n, func(q string, e *store.Node) error {
		c := Change{Path: q, What: what, Kind: e.Kind, Pages: -1}
		if what == "added" {
			c.NewSize = e.Size
		} else {
			c.OldSize = e.Size
		}
		return d.fn(c)
	})
}

func (d *differ) entry(p string, a, b *store.Node) error {
	if a.Kind != b.Kind {
		if err := d.side(p, a, "removed"); err != nil {
			return err
		}
		return d.side(p, b, "added")
	}
	c := Change{Path: p, What: "changed", Kind: a.Kind, OldSize: a.Size, NewSize: b.Size, Pages: -1}
	switch a.Kind {
	case store.KindDir:
		return d.dirs(p, a, b)
	case store.KindSymlink:
		if a.Target != b.Target {
			return d.fn(c)
		}
		return nil
	}
	if sameContent(&a.Content, &b.Content) && a.Size == b.Size {
		return nil
	}
	ar, err := d.r.ChunkRefs(d.ctx, a.Content)
	if err != nil {
		return err
	}
	br, err := d.r.ChunkRefs(d.ctx, b.Content)
	if err != nil {
		return err
	}
	changed := 0
	for i := range max(len(ar), len(br)) {
		if i >= len(ar) || i >= len(br) || ar[i] != br[i] {
			changed++
		}
	}
	if changed == 0 {
		return nil
	}
	if a.Kind == store.KindSQLite {
		c.Pages = changed
	}
	return d.fn(c)
}

// sameContent compares two contents by their references, without reading.
func sameContent(a, b *store.Content) bool {
	return slices.Equal(a.Chunks, b.Chunks) && slices.Equal(a.Lists, b.Lists) &&
		slices.Equal(a.Patches, b.Patches) && a.Index == b.Index
}
