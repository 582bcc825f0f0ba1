package store

import (
	"bytes"
	"cmp"
	"context"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/chatsafe/chatsafe/crypt"
)

// Reading many blobs: requests are grouped per delta and neighbouring blobs
// are fetched in one ranged read, so restoring a database whose pages sit
// together costs a few requests rather than one per page. One goroutine
// reads ranges while the others authenticate, decompress and verify each
// range's blobs into one buffer, back to back in the order they are
// stored: a file backed up in order comes back as a few large slices a
// writer can place with one write each.
const (
	mergeGap   = 64 << 10
	mergeLimit = 1 << 20
	// batchPlainLimit caps the plaintext of one range (pages compress to
	// under half their size, so a 1 MiB range of them would open to over
	// 2 MiB); a single larger blob is a range of its own.
	batchPlainLimit = 1 << 20
	// fetchBudget bounds the bytes every fetch of the process holds at
	// once, ranges read and their plaintext together, however many files
	// a restore (or a mount's readers) fetch at the same time. It keeps
	// about six full ranges in flight: enough to keep two cores opening.
	fetchBudget = 12 << 20
)

// fetchMem is the process's share of fetchBudget; a range's bytes are
// acquired before it is read and released once its blobs were handed on.
var fetchMem = semaphore.NewWeighted(fetchBudget)

type fetchRange struct {
	d     *delta
	lo    uint64
	hi    uint64
	plain int // the blobs' plaintext bytes, from the index
	locs  []blobLoc
}

// Batch is the blobs of one ranged read, authenticated and verified. Their
// plaintexts lie back to back in Data in the order they are stored: the
// i-th is Data[Ends[i-1]:Ends[i]] (from 0 for the first).
type Batch struct {
	Data []byte
	IDs  []crypt.ID
	Ends []int
}

// Plain is the i-th blob's plaintext.
func (b *Batch) Plain(i int) []byte {
	lo := 0
	if i > 0 {
		lo = b.Ends[i-1]
	}
	return b.Data[lo:b.Ends[i]]
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
	if cap(s.payload) <= mergeLimit && cap(s.plain) <= mergeLimit && cap(s.group) <= mergeLimit {
		openScratches.put(s)
	}
}

// fetchLocs is fetchBlobs for callers inside the store, which also need
// to know where each blob was found (its type, its delta).
func (r *Store) fetchLocs(ctx context.Context, ids []crypt.ID, fn func(loc blobLoc, plain []byte) error) error {
	return r.fetchRanges(ctx, idSlice(ids), func(fr *fetchRange, b *Batch) error {
		for i, loc := range fr.locs {
			if err := fn(loc, b.Plain(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// fetchBatches is FetchBatches and FetchChunks.
func (r *Store) fetchBatches(ctx context.Context, ids blobIDs, fn func(b *Batch) error) error {
	return r.fetchRanges(ctx, ids, func(_ *fetchRange, b *Batch) error { return fn(b) })
}

// fetchJob is one range read, waiting to be opened; need is what it holds
// of fetchMem.
type fetchJob struct {
	fr   *fetchRange
	raw  []byte
	need int64
}

// fetchRanges reads the ranges covering ids on one goroutine and opens
// each into a Batch on every core, calling fn once per range.
func (r *Store) fetchRanges(ctx context.Context, ids blobIDs, fn func(fr *fetchRange, b *Batch) error) error {
	// A small read (a mount's) takes the pages of groups it or another
	// read opened lately from the cache (groupcache.go), and keeps the
	// groups it opens there; so do the fetches of its bases (which the
	// context carries), never those of a large read.
	small, decided := ctx.Value(smallFetchKey{}).(bool)
	if !decided {
		small = ids.Len() <= smallFetch
		ctx = context.WithValue(ctx, smallFetchKey{}, small)
	}
	if small {
		rest, err := r.fetchCached(ids, fn)
		if err != nil || len(rest) == 0 {
			return err
		}
		ids = rest
	}
	if ws := r.baseWindows(ctx, ids); ws != nil {
		return r.fetchOnBases(ctx, ws, fn) // basefetch.go
	}
	ranges, err := r.planRanges(ids)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan fetchJob, workers)
	g.Go(func() error {
		defer close(jobs)
		rr := r.newRangeReader(ctx)
		defer rr.close()
		for i := range ranges {
			fr := &ranges[i]
			// What the range's two buffers pin, not what they hold.
			need := min(pinnedBytes(int64(fr.hi-fr.lo))+pinnedBytes(int64(fr.plain)), fetchBudget)
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fetchMem.Acquire(ctx, need); err != nil {
				return err
			}
			raw, err := rr.read(ctx, fr.d, int64(fr.lo), int64(fr.hi-fr.lo))
			if err != nil {
				fetchMem.Release(need)
				return err
			}
			select {
			case jobs <- fetchJob{fr, raw, need}:
			case <-ctx.Done():
				putRangeBuf(raw)
				fetchMem.Release(need)
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
				err := ctx.Err() // a cancelled fetch stops between ranges
				if err == nil {
					err = r.openRange(ctx, j, scratch, small, fn)
				}
				putRangeBuf(j.raw)
				fetchMem.Release(j.need)
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	err = g.Wait()
	// Jobs left queued when an opener failed give their share back.
	for j := range jobs {
		putRangeBuf(j.raw)
		fetchMem.Release(j.need)
	}
	return err
}

// openRange opens every blob of j into one pooled buffer and hands the
// batch to fn; with keep, it keeps a copy of each group it opens in the
// cache of groups.
func (r *Store) openRange(ctx context.Context, j fetchJob, scratch *openScratch, keep bool, fn func(fr *fetchRange, b *Batch) error) error {
	fr := j.fr
	data := getBatchBuf(fr.plain)
	defer func() { putBatchBuf(data) }()
	b := &Batch{IDs: make([]crypt.ID, len(fr.locs)), Ends: make([]int, len(fr.locs))}
	var group *blobEntry // whose plaintext scratch.group holds
	for i := 0; i < len(fr.locs); i++ {
		loc := fr.locs[i]
		se := loc.sealedEntry()
		off := se.Offset - fr.lo
		sealed := j.raw[off : off+uint64(se.SealedLen)]
		var out []byte
		var err error
		if n := wholeGroup(fr.locs[i:]); n > 0 && !keep {
			// Every page of the group, in order (a restore's): opened
			// straight into the batch, each page checked where it lies.
			start := len(data)
			if out, err = r.openGroupInto(ctx, fr.locs[i:i+n], sealed, scratch, data); err != nil {
				return err
			}
			data = out
			for k, m := range fr.locs[i : i+n] {
				b.IDs[i+k], b.Ends[i+k] = m.entry.ID, start+int(m.entry.Offset)+int(m.entry.RawLen)
			}
			i += n - 1
			continue
		}
		if loc.entry.isMember() {
			// A group's members are planned together: it is opened once.
			if group != se {
				if scratch.group, err = r.openGroup(ctx, blobLoc{d: loc.d, entry: se}, sealed, scratch, scratch.group[:0], nil); err != nil {
					return err
				}
				group = se
				if keep {
					r.cacheGroup(se.ID, scratch.group)
				}
			}
			out, err = r.memberAppend(loc, scratch.group, data)
		} else {
			out, err = r.openBlobAppend(ctx, loc, sealed, scratch, data)
		}
		if err != nil {
			return err
		}
		data = out
		b.IDs[i], b.Ends[i] = loc.entry.ID, len(data)
	}
	b.Data = data
	return fn(fr, b)
}

// Batch buffers come from the range buffers' pools; a range of one
// blob larger than batchPlainLimit gets its own.
func getBatchBuf(n int) []byte { return getRangeBuf(int64(n))[:0] }

func putBatchBuf(b []byte) { putRangeBuf(b) }

// planRanges groups the blobs by delta and merges neighbours into ranges.
// The plan is one slice of locations, 16 bytes a distinct blob, that the
// ranges share: ids asked for twice (runs of equal pages) meet once
// sorted, so no set of seen ids is built (a map of 32-byte ids cost over
// 40 bytes a page of a restored database, on top of its references).
func (r *Store) planRanges(ids blobIDs) ([]fetchRange, error) {
	locs := make([]blobLoc, 0, ids.Len())
	r.mu.RLock()
	for i := range ids.Len() {
		id := ids.At(i)
		loc, ok := r.index.get(id)
		if !ok {
			r.mu.RUnlock()
			return nil, integrityErr("index", "blob "+id.String()+" is referenced but stored nowhere", nil)
		}
		locs = append(locs, loc)
	}
	r.mu.RUnlock()
	slices.SortFunc(locs, compareLocs)
	locs = slices.CompactFunc(locs, func(a, b blobLoc) bool { return a.entry == b.entry })
	var out []fetchRange
	for start := 0; start < len(locs); {
		end := start + 1
		d := locs[start].d
		first := locs[start].sealedEntry()
		lo := first.Offset
		hi := lo + uint64(first.SealedLen)
		plain := int(locs[start].entry.RawLen)
		for end < len(locs) && locs[end].d == d {
			e, el := locs[end].sealedEntry(), locs[end].entry
			// A group is never split between ranges.
			sameGroup := e == locs[end-1].sealedEntry()
			if !sameGroup && (e.Offset > hi+mergeGap || e.Offset+uint64(e.SealedLen)-lo > mergeLimit || plain+int(el.RawLen) > batchPlainLimit) {
				break
			}
			hi = max(hi, e.Offset+uint64(e.SealedLen))
			plain += int(el.RawLen)
			end++
		}
		out = append(out, fetchRange{d: d, lo: lo, hi: hi, plain: plain, locs: locs[start:end:end]})
		start = end
	}
	return out, nil
}

// compareLocs orders a plan: by delta, then where they are sealed; a
// group's members by their place in it. The ids come last: they keep an
// entry's copies together where entries share an offset (empty members
// of a group). Written out rather than with cmp.Or, which would compare
// every key of every pair.
func compareLocs(a, b blobLoc) int {
	if a.entry == b.entry {
		return 0
	}
	if a.d != b.d {
		if c := cmp.Compare(a.d.ref.Seq, b.d.ref.Seq); c != 0 {
			return c
		}
		return bytes.Compare(a.d.ref.ID[:], b.d.ref.ID[:]) // deltas of two devices after a fork
	}
	if c := cmp.Compare(a.sealedEntry().Offset, b.sealedEntry().Offset); c != 0 {
		return c
	}
	if c := cmp.Compare(a.entry.Offset, b.entry.Offset); c != 0 {
		return c
	}
	return bytes.Compare(a.entry.ID[:], b.entry.ID[:])
}
