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
	ids   blobIDs
	bases []crypt.ID
}

// baseWindows plans the pre-pass for a fetch of ids: nil when none of
// them is on a base (or the pre-pass was done). Only a base that can be
// one (a data blob of at most maxBaseBlob bytes, not itself on a base) is
// fetched: openOnBase reports any other.
func (r *Store) baseWindows(ctx context.Context, ids blobIDs) []fetchWindow {
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
	for i := range ids.Len() {
		loc, ok := r.index.get(ids.At(i))
		if !ok || loc.entry.Comp != compZstdBase {
			continue
		}
		base, ok := loc.dict()
		if !ok || have[base] {
			continue
		}
		bl, ok := r.index.get(base)
		if !ok || bl.entry.Type != blobData || bl.entry.Comp == compZstdBase || bl.entry.RawLen > maxBaseBlob {
			continue
		}
		onBase = true
		if held+int(bl.entry.RawLen) > baseFetchBudget && len(cur.bases) > 0 {
			cur.ids = dedupIDs(idSpan{ids, start, i}, seen)
			out = append(out, cur)
			cur, held, start = fetchWindow{}, 0, i
			clear(have)
		}
		have[base] = true
		cur.bases = append(cur.bases, base)
		held += int(bl.entry.RawLen)
	}
	if !onBase {
		return nil
	}
	cur.ids = idSpan{ids, start, ids.Len()}
	if len(out) > 0 {
		// Cut: an id met in an earlier window is not fetched again.
		cur.ids = dedupIDs(cur.ids, seen)
	}
	return append(out, cur)
}

// dedupIDs returns the ids not in seen, adding them to it.
func dedupIDs(ids blobIDs, seen map[crypt.ID]bool) idSlice {
	out := make(idSlice, 0, ids.Len())
	for i := range ids.Len() {
		id := ids.At(i)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// fetchOnBases runs a fetch window by window: each window's bases first,
// with the window's blobs that share a group with one of them (a base is
// most often a page of a group), then the window's other blobs, with the
// bases in the context for openOnBase. A group holding a base is so read
// and opened once, not once for its base and again for its other pages
// (on the bench's --quick corpus 157 of the database's 297 groups were
// opened twice).
func (r *Store) fetchOnBases(ctx context.Context, ws []fetchWindow, fn func(fr *fetchRange, b *Batch) error) error {
	for _, w := range ws {
		mates, rest := r.baseGroupMates(w)
		bctx, err := r.withBases(ctx, w.bases, mates, fn)
		if err != nil {
			return err
		}
		if rest.Len() == 0 {
			continue
		}
		if err := r.fetchRanges(bctx, rest, fn); err != nil {
			return err
		}
	}
	return nil
}

// baseGroupMates splits w's ids into those sealed in the same group as
// one of w's bases and the rest: a view of w's ids that skips the mates'
// places, not a copy of the others (32 bytes a page, 8 MB for a 1 GB
// database, which a restore hands over without a copy: fetchids.go).
func (r *Store) baseGroupMates(w fetchWindow) (mates []crypt.ID, rest blobIDs) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	groups := map[*blobEntry]bool{}
	for _, id := range w.bases {
		if loc, ok := r.index.get(id); ok && loc.entry.isMember() {
			groups[loc.sealedEntry()] = true
		}
	}
	if len(groups) == 0 {
		return nil, w.ids
	}
	var at []int
	for i := range w.ids.Len() {
		id := w.ids.At(i)
		if loc, ok := r.index.get(id); ok && loc.entry.isMember() && groups[loc.sealedEntry()] {
			mates = append(mates, id)
			at = append(at, i)
		}
	}
	return mates, skipIDs{w.ids, at}
}

// withBases fetches bases together, with mates (blobs the caller wants
// that share their groups: handed to fn), and returns ctx carrying the
// bases for openOnBase.
func (r *Store) withBases(ctx context.Context, ids, mates []crypt.ID, fn func(fr *fetchRange, b *Batch) error) (context.Context, error) {
	bases := make(fetchedBases, len(ids))
	isBase := make(map[crypt.ID]bool, len(ids))
	for _, id := range ids {
		isBase[id] = true
	}
	wanted := make(map[crypt.ID]bool, len(mates))
	for _, id := range mates {
		wanted[id] = true
	}
	var mu sync.Mutex
	// The pre-pass's own fetch carries an empty map: no pre-pass of its
	// own, and any base on a base fails in openOnBase. A mate is a
	// group's member, never itself on a base.
	pre := context.WithValue(ctx, basesKey{}, fetchedBases{})
	if _, decided := ctx.Value(smallFetchKey{}).(bool); !decided {
		// Bases of a whole delta's blobs (check, compaction): not a
		// small read's, whatever the window's size (groupcache.go).
		pre = context.WithValue(pre, smallFetchKey{}, false)
	}
	err := r.fetchRanges(pre, append(append(idSlice(nil), ids...), mates...), func(fr *fetchRange, b *Batch) error {
		mu.Lock()
		for i, id := range b.IDs {
			if isBase[id] {
				bases[id] = append([]byte(nil), b.Plain(i)...)
			}
		}
		mu.Unlock()
		if len(wanted) == 0 {
			return nil
		}
		wfr, wb := wantedPart(fr, b, wanted)
		if wb == nil {
			return nil
		}
		if wb != b {
			defer putBatchBuf(wb.Data)
		}
		return fn(wfr, wb)
	})
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, basesKey{}, bases), nil
}

// wantedPart is the part of batch b (of range fr) that wanted names: fr
// and b themselves when all of it is, nil when none is, else a copy in
// a pooled buffer.
func wantedPart(fr *fetchRange, b *Batch, wanted map[crypt.ID]bool) (*fetchRange, *Batch) {
	n, plain := 0, 0
	for i, id := range b.IDs {
		if wanted[id] {
			n++
			plain += len(b.Plain(i))
		}
	}
	switch n {
	case 0:
		return nil, nil
	case len(b.IDs):
		return fr, b
	}
	part := &fetchRange{d: fr.d, lo: fr.lo, hi: fr.hi, plain: plain, locs: make([]blobLoc, 0, n)}
	wb := &Batch{Data: getBatchBuf(plain), IDs: make([]crypt.ID, 0, n), Ends: make([]int, 0, n)}
	for i, id := range b.IDs {
		if wanted[id] {
			wb.Data = append(wb.Data, b.Plain(i)...)
			wb.IDs = append(wb.IDs, id)
			wb.Ends = append(wb.Ends, len(wb.Data))
			part.locs = append(part.locs, fr.locs[i])
		}
	}
	return part, wb
}

// basesOf returns how many of t's Blobs from start to end (at least one)
// have their bases fit baseFetchBudget, and those bases: what forEachBlob
// fetches together before it opens them. Only a base that can be one is
// listed, as in baseWindows.
func (r *Store) basesOf(t *trailer, start, end int) (int, []crypt.ID) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var bases []crypt.ID
	have := map[crypt.ID]bool{}
	held := 0
	for i := start; i < end; i++ {
		e := &t.Blobs[i]
		if e.Comp != compZstdBase {
			continue
		}
		base, ok := t.dictOf(e)
		if !ok || have[base] {
			continue
		}
		bl, ok := r.index.get(base)
		if !ok || bl.entry.Type != blobData || bl.entry.Comp == compZstdBase || bl.entry.RawLen > maxBaseBlob {
			continue
		}
		if held+int(bl.entry.RawLen) > baseFetchBudget && len(bases) > 0 {
			return i - start, bases
		}
		have[base] = true
		bases = append(bases, base)
		held += int(bl.entry.RawLen)
	}
	return end - start, bases
}

// fetchedBase returns base id's plaintext if the fetch in ctx read it.
func fetchedBase(ctx context.Context, id crypt.ID) []byte {
	m, _ := ctx.Value(basesKey{}).(fetchedBases)
	return m[id]
}
