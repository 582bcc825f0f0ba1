package store

import (
	"context"
	"sync"

	"github.com/chatsafe/chatsafe/crypt"
)

// Reading pages on a base (basecomp.go): the bases a fetch needs are known
// from the index before any blob is read, so they are fetched first,
// together (neighbours in one ranged read, as any blobs), rather than one
// by one as each page on a base is opened. A fetch whose bases exceed
// baseFetchBudget is cut into windows of ids whose bases fit.

// baseFetchBudget bounds the plaintext of the bases one fetch holds at
// once (a restore runs several fetches at a time); a variable for tests.
var baseFetchBudget = 4 << 20

// basesKey carries a fetch's bases in its context, to openOnBase; its
// presence also tells fetchRanges the pre-pass was done.
type basesKey struct{}

// fetchedBases maps a base's id to its verified plaintext.
type fetchedBases map[crypt.ID][]byte

// fetchWindow is a part of a fetch's ids and the bases they need.
type fetchWindow struct {
	ids   []crypt.ID
	bases []crypt.ID
}

// baseWindows plans the pre-pass for a fetch of ids: nil when none of
// them is on a base (or the pre-pass was done). Only a base that can be
// one (a data blob of at most maxBaseBlob bytes, not itself on a base) is
// fetched: openOnBase reports any other.
func (r *Store) baseWindows(ctx context.Context, ids []crypt.ID) []fetchWindow {
	if ctx.Value(basesKey{}) != nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []fetchWindow
	var cur fetchWindow
	have := map[crypt.ID]bool{}
	seen := map[crypt.ID]bool{}
	held, start, onBase := 0, 0, false
	for i, id := range ids {
		loc, ok := r.index.get(id)
		if !ok || loc.entry.Comp != compZstdBase || have[*loc.entry.Dict] {
			continue
		}
		bl, ok := r.index.get(*loc.entry.Dict)
		if !ok || bl.entry.Type != blobData || bl.entry.Comp == compZstdBase || bl.entry.RawLen > maxBaseBlob {
			continue
		}
		onBase = true
		if held+int(bl.entry.RawLen) > baseFetchBudget && len(cur.bases) > 0 {
			cur.ids = dedupIDs(ids[start:i], seen)
			out = append(out, cur)
			cur, held, start = fetchWindow{}, 0, i
			clear(have)
		}
		have[*loc.entry.Dict] = true
		cur.bases = append(cur.bases, *loc.entry.Dict)
		held += int(bl.entry.RawLen)
	}
	if !onBase {
		return nil
	}
	cur.ids = ids[start:]
	if len(out) > 0 {
		// Cut: an id met in an earlier window is not fetched again.
		cur.ids = dedupIDs(cur.ids, seen)
	}
	return append(out, cur)
}

// dedupIDs returns the ids not in seen, adding them to it.
func dedupIDs(ids []crypt.ID, seen map[crypt.ID]bool) []crypt.ID {
	out := make([]crypt.ID, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// fetchOnBases runs a fetch window by window: each window's bases first,
// then its blobs, with the bases in the context for openOnBase.
func (r *Store) fetchOnBases(ctx context.Context, ws []fetchWindow, fn func(fr *fetchRange, b *Batch) error) error {
	for _, w := range ws {
		bctx, err := r.withBases(ctx, w.bases)
		if err != nil {
			return err
		}
		if err := r.fetchRanges(bctx, w.ids, fn); err != nil {
			return err
		}
	}
	return nil
}

// withBases fetches bases together and returns ctx carrying them for
// openOnBase.
func (r *Store) withBases(ctx context.Context, ids []crypt.ID) (context.Context, error) {
	bases := make(fetchedBases, len(ids))
	var mu sync.Mutex
	// The pre-pass's own fetch carries an empty map: no pre-pass of its
	// own, and any base on a base fails in openOnBase.
	pre := context.WithValue(ctx, basesKey{}, fetchedBases{})
	if _, decided := ctx.Value(smallFetchKey{}).(bool); !decided {
		// Bases of a whole delta's blobs (check, compaction): not a
		// small read's, whatever the window's size (groupcache.go).
		pre = context.WithValue(pre, smallFetchKey{}, false)
	}
	err := r.fetchRanges(pre, ids, func(fr *fetchRange, b *Batch) error {
		mu.Lock()
		defer mu.Unlock()
		for i, id := range b.IDs {
			bases[id] = append([]byte(nil), b.Plain(i)...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, basesKey{}, bases), nil
}

// basesOf returns how many of blobs (at least one) have their bases fit
// baseFetchBudget, and those bases: what forEachBlob fetches together
// before it opens them. Only a base that can be one is listed, as in
// baseWindows.
func (r *Store) basesOf(blobs []blobEntry) (int, []crypt.ID) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var bases []crypt.ID
	have := map[crypt.ID]bool{}
	held := 0
	for i := range blobs {
		e := &blobs[i]
		if e.Comp != compZstdBase || e.Dict == nil || have[*e.Dict] {
			continue
		}
		bl, ok := r.index.get(*e.Dict)
		if !ok || bl.entry.Type != blobData || bl.entry.Comp == compZstdBase || bl.entry.RawLen > maxBaseBlob {
			continue
		}
		if held+int(bl.entry.RawLen) > baseFetchBudget && len(bases) > 0 {
			return i, bases
		}
		have[*e.Dict] = true
		bases = append(bases, *e.Dict)
		held += int(bl.entry.RawLen)
	}
	return len(blobs), bases
}

// fetchedBase returns base id's plaintext if the fetch in ctx read it.
func fetchedBase(ctx context.Context, id crypt.ID) []byte {
	m, _ := ctx.Value(basesKey{}).(fetchedBases)
	return m[id]
}
