package store

import (
	"context"
	"runtime"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/chatsafe/chatsafe/crypt"
)

// Reading many blobs: requests are grouped per delta and neighbouring blobs
// are fetched in one ranged read, so restoring a database whose pages sit
// together costs a few requests rather than one per page. One goroutine
// reads ranges while the others authenticate, decompress and verify.
const (
	mergeGap   = 64 << 10
	mergeLimit = 1 << 20
)

type fetchRange struct {
	d    *delta
	lo   uint64
	hi   uint64
	locs []blobLoc
}

// fetchBlobs reads, authenticates and verifies every blob in ids, calling
// fn once per distinct id, concurrently from several goroutines and in no
// particular order. plain is only valid during the call.
func (r *Store) fetchBlobs(ctx context.Context, ids []crypt.ID, fn func(id crypt.ID, plain []byte) error) error {
	return r.fetchLocs(ctx, ids, func(loc blobLoc, plain []byte) error { return fn(loc.entry.ID, plain) })
}

// openScratches keeps the fetch workers' buffers between calls: a
// restore makes one call per file, and growing fresh buffers in each
// was most of what it allocated (and so of its collector's work).
var openScratches = newFreeList[*openScratch](2 * runtime.GOMAXPROCS(0))

func getOpenScratch() *openScratch {
	if s, ok := openScratches.get(); ok {
		return s
	}
	return new(openScratch)
}

// putOpenScratch keeps s unless a large blob (a big tree) grew it: that
// memory is not kept for the next call.
func putOpenScratch(s *openScratch) {
	if cap(s.payload) <= mergeLimit && cap(s.plain) <= mergeLimit {
		openScratches.put(s)
	}
}

// fetchLocs is fetchBlobs for callers inside the store, which also need
// to know where each blob was found (its type, its delta).
func (r *Store) fetchLocs(ctx context.Context, ids []crypt.ID, fn func(loc blobLoc, plain []byte) error) error {
	ranges, err := r.planRanges(ids)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	type job struct {
		fr  fetchRange
		raw []byte
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan job, workers)
	g.Go(func() error {
		defer close(jobs)
		for _, fr := range ranges {
			raw, err := r.readRange(ctx, fr.d, int64(fr.lo), int64(fr.hi-fr.lo))
			if err != nil {
				return err
			}
			select {
			case jobs <- job{fr, raw}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			scratch := getOpenScratch()
			defer putOpenScratch(scratch)
			for j := range jobs {
				for _, loc := range j.fr.locs {
					off := loc.entry.Offset - j.fr.lo
					plain, err := r.openBlob(ctx, loc, j.raw[off:off+uint64(loc.entry.SealedLen)], scratch)
					if err != nil {
						return err
					}
					if err := fn(loc, plain); err != nil {
						return err
					}
				}
				putRangeBuf(j.raw)
			}
			return nil
		})
	}
	return g.Wait()
}

// planRanges groups the blobs by delta and merges neighbours into ranges.
func (r *Store) planRanges(ids []crypt.ID) ([]fetchRange, error) {
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
			return nil, integrityErr("index", "blob "+id.String()+" is referenced but stored nowhere", nil)
		}
		byDelta[loc.d] = append(byDelta[loc.d], loc)
	}
	r.mu.RUnlock()

	deltas := make([]*delta, 0, len(byDelta))
	for d := range byDelta {
		deltas = append(deltas, d)
	}
	sort.Slice(deltas, func(i, j int) bool { return deltas[i].ref.Seq < deltas[j].ref.Seq })
	var out []fetchRange
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
			out = append(out, fetchRange{d: d, lo: lo, hi: hi, locs: locs[start:end]})
			start = end
		}
	}
	return out, nil
}
