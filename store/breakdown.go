package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/chatsafe/chatsafe/crypt"
)

// What a repository's bytes are spent on, delta by delta: the bench's
// breakdown tool (bench/breakdown) prints it, so that a change to the
// format is judged by where the bytes go.

// ByteClass counts one class of sealed pieces: how many, their plaintext
// and their payload as stored (sealed length minus the seal's overhead).
type ByteClass struct {
	Count  int
	Plain  int64
	Stored int64
}

func (c *ByteClass) add(plain, stored int64) {
	c.Count++
	c.Plain += plain
	c.Stored += stored
}

// DeltaBytes is one delta's bytes by what they hold. The classes add up
// to Size.
type DeltaBytes struct {
	Name string
	Size int64
	// Payloads (after compression) by blob type; Pages and Files split the
	// data blobs by whether a snapshot's SQLite database references them.
	Pages, Files, Lists, Patches, ListIndexes, Trees, Dicts ByteClass
	// Seals is the seal overhead (nonce and tag) of every sealed piece:
	// the blobs, the padding and the trailer.
	Seals int64
	// Index is the trailer's blob entries (and dictionary table); Trailer
	// the rest of its plaintext (live delta references, snapshot records,
	// the device); Footer the fixed footer.
	Index, Trailer, Footer int64
	// Padding is the padding piece's plaintext (zeros).
	Padding int64
}

// Bytes breaks down every live delta, ascending by sequence.
func (r *Store) Bytes(ctx context.Context) ([]DeltaBytes, error) {
	pages, err := r.pageIDs(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	ds := make([]*delta, 0, len(r.deltas))
	for _, d := range r.deltas {
		ds = append(ds, d)
	}
	r.mu.RUnlock()
	sort.Slice(ds, func(i, j int) bool { return ds[i].ref.Seq < ds[j].ref.Seq })
	out := make([]DeltaBytes, 0, len(ds))
	for _, d := range ds {
		out = append(out, deltaBytes(d, pages))
	}
	return out, nil
}

func deltaBytes(d *delta, pages map[crypt.ID]bool) DeltaBytes {
	t := d.trailer
	b := DeltaBytes{Name: d.ref.name(), Size: d.size, Footer: int64(footerSize)}
	for i := range t.Blobs {
		e := &t.Blobs[i]
		switch {
		case e.isMember():
			// Its group's bytes are counted once, below, as its members'
			// class; a member adds only its plaintext.
			b.class(e, pages).add(int64(e.RawLen), 0)
		case e.Type == blobGroup:
			b.Seals += crypt.Overhead
			c := &b.Pages
			if ms := groupMembers(t.Blobs, i); len(ms) > 0 && !pages[ms[0].ID] {
				c = &b.Files
			}
			c.Stored += int64(e.SealedLen) - crypt.Overhead
		default:
			b.Seals += crypt.Overhead
			b.class(e, pages).add(int64(e.RawLen), int64(e.SealedLen)-crypt.Overhead)
		}
	}
	full := len(t.encode())
	bare := *t
	bare.Blobs = nil
	rest := len(bare.encode())
	b.Index, b.Trailer = int64(full-rest), int64(rest)
	b.Seals += crypt.Overhead // the trailer's
	if t.Padding > 0 {
		b.Seals += crypt.Overhead
		b.Padding = int64(t.Padding) - crypt.Overhead
	}
	return b
}

func (b *DeltaBytes) class(e *blobEntry, pages map[crypt.ID]bool) *ByteClass {
	switch e.Type {
	case blobData:
		if pages[e.ID] {
			return &b.Pages
		}
		return &b.Files
	case blobList, blobRunList:
		return &b.Lists
	case blobPatch:
		return &b.Patches
	case blobListIndex:
		return &b.ListIndexes
	case blobTree:
		return &b.Trees
	default:
		return &b.Dicts
	}
}

// pageIDs returns the chunks of every SQLite database in every snapshot.
func (r *Store) pageIDs(ctx context.Context) (map[crypt.ID]bool, error) {
	snaps := r.Snapshots()
	roots := make([]crypt.ID, len(snaps))
	for i, s := range snaps {
		roots[i] = s.Tree
	}
	pages := map[crypt.ID]bool{}
	_, err := r.WalkFiles(ctx, roots, func(_ crypt.ID, n *Node, refs []ChunkRef) error {
		if n.Kind == KindSQLite {
			for _, c := range refs {
				pages[c.ID] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the snapshots' databases: %w", err)
	}
	return pages, nil
}
