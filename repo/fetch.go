package repo

import (
	"context"
	"sort"

	"github.com/chatsafe/chatsafe/crypt"
)

// Reading many blobs: requests are grouped per delta and neighbouring blobs
// are fetched in one ranged read, so restoring a database whose pages sit
// together costs a few requests rather than one per page.
const (
	mergeGap   = 64 << 10
	mergeLimit = 16 << 20
)

// fetchBlobs reads, authenticates and verifies every blob in ids, calling
// fn for each (in storage order, once per distinct id). plain is only
// valid during the call.
func (r *Repository) fetchBlobs(ctx context.Context, ids []crypt.ID, fn func(id crypt.ID, plain []byte) error) error {
	r.mu.RLock()
	seen := make(map[crypt.ID]struct{}, len(ids))
	byDelta := map[*delta][]blobLoc{}
	for _, id := range ids {
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = struct{}{}
		loc, ok := r.index[id]
		if !ok {
			r.mu.RUnlock()
			return integrityErr("index", "blob "+id.String()+" is referenced but stored nowhere", nil)
		}
		byDelta[loc.d] = append(byDelta[loc.d], loc)
	}
	r.mu.RUnlock()

	deltas := make([]*delta, 0, len(byDelta))
	for d := range byDelta {
		deltas = append(deltas, d)
	}
	sort.Slice(deltas, func(i, j int) bool { return deltas[i].ref.Seq < deltas[j].ref.Seq })
	var buf []byte
	for _, d := range deltas {
		locs := byDelta[d]
		sort.Slice(locs, func(i, j int) bool { return locs[i].entry.Offset < locs[j].entry.Offset })
		for start := 0; start < len(locs); {
			end := start + 1
			lo := locs[start].entry.Offset
			hi := lo + uint64(locs[start].entry.SealedLen)
			for end < len(locs) {
				e := locs[end].entry
				if e.Offset > hi+mergeGap || e.Offset+uint64(e.SealedLen)-lo > mergeLimit {
					break
				}
				hi = max(hi, e.Offset+uint64(e.SealedLen))
				end++
			}
			raw, err := r.readRange(ctx, d, int64(lo), int64(hi-lo))
			if err != nil {
				return err
			}
			for _, loc := range locs[start:end] {
				off := loc.entry.Offset - lo
				plain, err := r.openBlob(loc, raw[off:off+uint64(loc.entry.SealedLen)], buf)
				if err != nil {
					return err
				}
				if err := fn(loc.entry.ID, plain); err != nil {
					return err
				}
				if loc.entry.Comp == compNone {
					buf = plain[:0]
				}
			}
			start = end
		}
	}
	return nil
}
