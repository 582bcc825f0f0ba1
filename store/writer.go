package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
)

// ErrStaleCache means a file cache token refers to blobs the store no
// longer holds (pruned, or a rebuilt repository): the backup rescans
// without the cache.
var ErrStaleCache = errors.New("file cache refers to blobs the repository does not hold")

// Writer adds new blobs to the delta being written and commits snapshots;
// the backup drives it. One Writer (or prune) at a time: NewWriter waits
// for the one before to Close.
//
// Its methods run concurrently (the scanner reads several files at once):
// rot guards which delta is being written (held shared while a blob is
// submitted to it, exclusively to finish it and start the next), and
// hasMu orders the claims: the check that no delta holds a blob and its
// claim in the delta being written (deltaWriter.claims) are one step.
type Writer struct {
	r      *Store
	seal   *sealPipeline
	unlock func()
	ctx    context.Context // of the commit checks (SetContext)

	rot        sync.RWMutex
	w          *deltaWriter                // guarded by rot
	cur        atomic.Pointer[deltaWriter] // w, for readers that hold no lock
	bg         *bgCommit                   // guarded by rot: a full delta being committed
	deltas     int                         // guarded by rot
	addedBytes int64                       // guarded by rot

	hasMu sync.Mutex
	// sealing is bg's delta until the store's index holds its blobs
	// (guarded by hasMu): a blob in it is not stored again meanwhile.
	sealing  *deltaWriter
	newBlobs atomic.Int64

	oneShot bool // set before the backup starts (OneShot)
}

// bgCommit is a full delta committed on a goroutine of its own while the
// next one fills; the Writer owns it and waits for it (waitLocked) before
// it starts another, commits a snapshot, or aborts.
type bgCommit struct {
	w    *deltaWriter
	done chan struct{}
	d    *delta // set with err before done is closed
	err  error
}

// NewWriter starts writing new deltas into the spool. Close it when done.
func (r *Store) NewWriter() (*Writer, error) {
	if !r.Writable() {
		return nil, errors.New("backup needs a writable state directory")
	}
	if to := r.TakenOver(); to != nil {
		return nil, to
	}
	unlock := r.Exclusive()
	r.mu.Lock()
	r.writerDone = make(chan struct{})
	r.mu.Unlock()
	return &Writer{r: r, seal: newSealPipeline(r), unlock: unlock, ctx: context.Background()}, nil
}

// SetContext sets the context of the checks a commit makes on the remote
// (is this device still the writer?); the backup passes its own.
func (b *Writer) SetContext(ctx context.Context) { b.ctx = ctx }

// Close discards a delta that was not committed, stops the sealing
// workers and lets the next writer in.
func (b *Writer) Close() {
	b.Abort()
	b.seal.stop()
	b.r.mu.Lock()
	close(b.r.writerDone)
	b.r.writerDone = nil
	b.r.mu.Unlock()
	b.unlock()
}

// Reset discards everything not committed and starts afresh (a rescan);
// deltas committed past the size cap stay, but are no longer counted.
func (b *Writer) Reset() {
	b.Abort()
	b.seal.stop()
	b.seal = newSealPipeline(b.r)
	b.newBlobs.Store(0)
	b.rot.Lock()
	b.deltas, b.addedBytes = 0, 0
	b.rot.Unlock()
}

// NewBlobs counts the blobs stored since the writer started (or Reset).
func (b *Writer) NewBlobs() int { return int(b.newBlobs.Load()) }

// Written reports the delta objects committed so far and their bytes.
func (b *Writer) Written() (deltas int, bytes int64) {
	b.rot.RLock()
	defer b.rot.RUnlock()
	return b.deltas, b.addedBytes
}

// Err is the first error of the sealing workers.
func (b *Writer) Err() error { return b.seal.Err() }

// Drain waits until every submitted blob is written.
func (b *Writer) Drain() error { return b.seal.drain() }

// Has reports whether the repository (or the delta being written) holds
// the blob id; a backup checks it before reusing a tree its file cache
// remembers.
func (b *Writer) Has(id crypt.ID) bool { return b.has(id) }

func (b *Writer) has(id crypt.ID) bool {
	b.hasMu.Lock()
	defer b.hasMu.Unlock()
	return b.hasLocked(b.cur.Load(), id)
}

// hasLocked looks in w, the delta being written and the one being
// committed in the background: a sealing worker may still claim a blob
// for a full delta after the next one started, and neither may hold a
// blob the other holds.
func (b *Writer) hasLocked(w *deltaWriter, id crypt.ID) bool {
	for _, d := range [...]*deltaWriter{w, b.cur.Load(), b.sealing} {
		if d != nil {
			if d.holds(id) {
				return true
			}
		}
	}
	return b.r.Has(id)
}

// claim reserves id for w unless the repository (or w) already holds it;
// the sealing workers call it for chunks they have just hashed.
func (b *Writer) claim(w *deltaWriter, id crypt.ID) bool {
	b.hasMu.Lock()
	defer b.hasMu.Unlock()
	if b.hasLocked(w, id) {
		return false
	}
	w.claim(id)
	b.newBlobs.Add(1)
	return true
}

// acquire returns the delta being written with rot held shared (the
// caller releases it once its blob is submitted) and a blob of next bytes
// reserved in it (the caller submits the blob or releases the
// reservation). When the blob would take that delta past the size cap it
// first commits the delta as one of its own, committing no snapshot.
func (b *Writer) acquire(next int) (*deltaWriter, error) { return b.acquireN(next, 1) }

// acquireN is acquire for a blob of entries index entries (a group).
func (b *Writer) acquireN(next, entries int) (*deltaWriter, error) {
	for {
		b.rot.RLock()
		if w := b.w; w != nil && w.reserveN(next, entries, b.r.opts.DeltaSizeCap) {
			return w, nil
		}
		b.rot.RUnlock()
		b.rot.Lock()
		var err error
		if b.w != nil && b.w.fullN(next, entries, b.r.opts.DeltaSizeCap) {
			err = b.rotateLocked()
		}
		if err == nil && b.w == nil {
			err = b.startLocked()
		}
		b.rot.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// store adds a blob whose id is known unless the repository already has it.
func (b *Writer) store(id crypt.ID, typ BlobType, plain []byte, incompressible bool) error {
	if len(plain) > maxBlobSize {
		return fmt.Errorf("blob of %d bytes exceeds the format's limit of %d", len(plain), maxBlobSize)
	}
	if len(plain) > bigChunk {
		// Its copy takes a big buffer, and a big buffer is never waited
		// for under the delta's lock (rot): media visitors hold big
		// buffers while their hand-over waits for that lock. A blob the
		// store holds (an unchanged large tree) is not copied to learn
		// it; the claim under the lock stays the check.
		if b.has(id) {
			return nil
		}
		buf := b.ChunkBuffer(len(plain))
		*buf = append(*buf, plain...)
		return b.storeOwned(id, typ, buf, incompressible)
	}
	w, err := b.acquire(len(plain))
	if err != nil {
		return err
	}
	defer b.rot.RUnlock()
	if !b.claim(w, id) {
		w.release(len(plain))
		return nil
	}
	return b.seal.submit(w, id, typ, plain, incompressible, baseHint{})
}

// Chunk hands one chunk of file content to the sealing workers; slot gets
// its reference once it is hashed (pending.Wait says when). inline hashes
// it on the calling goroutine instead, which is cheaper for small files
// than waiting for the workers. A chunk the store already holds is not
// stored again.
func (b *Writer) Chunk(data []byte, incompressible, inline bool, slot *ChunkRef, pending *sync.WaitGroup) error {
	return b.chunk(data, incompressible, inline, slot, pending, baseHint{})
}

// ChunkOn is Chunk for a new version of a SQLite page whose previous
// version is the blob prev: prevPlain, a copy of that version found on
// this machine (the source's Chunk.Prev), lets the page be compressed on
// it, so that a changed page costs about what changed. prevPlain need not
// be right: it is used only when its keyed id is prev and prev is a page
// the repository holds that is not itself on a base (docs/format.md,
// "Pages on their previous version"). Nothing is read from the remote.
func (b *Writer) ChunkOn(data []byte, prev crypt.ID, prevPlain []byte, incompressible, inline bool, slot *ChunkRef, pending *sync.WaitGroup) error {
	var base baseHint
	if len(prevPlain) >= dictMinBlob && len(prevPlain) <= maxBaseBlob && !incompressible {
		base = baseHint{id: prev, plain: prevPlain}
	}
	return b.chunk(data, incompressible, inline, slot, pending, base)
}

func (b *Writer) chunk(data []byte, incompressible, inline bool, slot *ChunkRef, pending *sync.WaitGroup, base baseHint) error {
	if len(data) > maxBlobSize {
		return fmt.Errorf("chunk of %d bytes exceeds the format's limit of %d", len(data), maxBlobSize)
	}
	if len(data)+len(base.plain) > bigChunk {
		// As in store: the copy's big buffer is taken before the lock.
		// A chunk on a base is a SQLite page and its previous version
		// (128 KiB at most); one this large is stored without its base.
		buf := b.ChunkBuffer(len(data))
		*buf = append(*buf, data...)
		return b.ChunkOwned(buf, incompressible, inline, slot, pending)
	}
	w, err := b.acquire(len(data))
	if err != nil {
		return err
	}
	defer b.rot.RUnlock()
	if !inline {
		return b.seal.submitChunk(w, data, incompressible, slot, b.claim, pending, base)
	}
	*slot = ChunkRef{ID: b.r.ids.Sum(data), Len: uint32(len(data))}
	if !b.claim(w, slot.ID) {
		w.release(len(data))
		return nil
	}
	return b.seal.submit(w, slot.ID, blobData, data, incompressible, base)
}

// Room is the largest chunk, stored as is (an incompressible one), that
// still fits in the delta being written, which it starts if none is (-1
// if that fails: the chunk's own hand-over reports why). A delta is cut
// before a blob that would take it past its size cap, and the room left
// is padding (docs/format.md, "Delta objects"): a writer of large chunks (media)
// splits one that would not fit here, so that the delta is filled. It is
// a hint: another goroutine's blob may take the room first.
func (b *Writer) Room() int64 {
	for {
		b.rot.RLock()
		if w := b.w; w != nil {
			defer b.rot.RUnlock()
			return w.room(b.r.opts.DeltaSizeCap)
		}
		b.rot.RUnlock()
		b.rot.Lock()
		var err error
		if b.w == nil {
			err = b.startLocked()
		}
		b.rot.Unlock()
		if err != nil {
			return -1
		}
	}
}

// RoomFor is how much of a chunk of n bytes, stored as is, to hand over
// next so that the delta being written is filled: n if it fits; the room
// left if that is least or more; else, the delta being that full, the
// room of the next one (up to n, at least least), which it starts,
// finishing this one.
// Without that last step a chunk larger than a delta's cap would make a
// delta of its own past the cap (an empty delta takes any blob). Like
// Room, it is a hint.
func (b *Writer) RoomFor(n, least int64) int64 {
	switch room := b.Room(); {
	case room < 0 || room >= n:
		return n
	case room >= least:
		return room
	}
	b.rot.Lock()
	var err error
	if w := b.w; w != nil && w.room(b.r.opts.DeltaSizeCap) < least && !w.empty() {
		err = b.rotateLocked()
	}
	if err == nil && b.w == nil {
		err = b.startLocked()
	}
	b.rot.Unlock()
	if room := b.Room(); err == nil && room >= least && room < n {
		return room
	}
	return n // on an error, the hand-over reports it
}

// RunPages and GroupBytes bound the runs Pages takes. The writer seals a
// run as one group or, in a delta's first groupBulkAfter bytes of groups,
// as groups of at most GroupPages (groupbulk.go).
const (
	RunPages   = bulkGroupPages
	GroupPages = groupPages
	GroupBytes = maxGroupPlain
)

// Pages hands a run of at most RunPages new pages of a database, none
// with a previous version to be compressed on, to the sealing workers:
// data holds them back to back, lens their lengths, and slots[i] gets the
// i-th page's reference once it is hashed (pending.Wait says when). The
// pages the store lacks are sealed together, as one group or more
// (docs/format.md, "Groups"); a page it holds is not stored again.
func (b *Writer) Pages(data []byte, lens []int, slots []*ChunkRef, pending *sync.WaitGroup) error {
	if len(lens) > RunPages || len(lens) != len(slots) || len(data) > GroupBytes {
		return fmt.Errorf("a run of %d pages (%d bytes) exceeds the writer's limit of %d pages, %d bytes", len(lens), len(data), RunPages, GroupBytes)
	}
	// Room for every page and for the entry of each group it may make.
	w, err := b.acquireN(runReservation(len(data), len(lens)), runEntries(len(lens)))
	if err != nil {
		return err
	}
	defer b.rot.RUnlock()
	return b.seal.submitGroup(w, data, lens, slots, b.claim, pending)
}

// Tree stores a directory's entries (in the order given) as a tree blob
// and returns its id.
func (b *Writer) Tree(nodes []Node) (crypt.ID, error) {
	plain := encodeTree(nodes)
	id := b.r.ids.Sum(plain)
	return id, b.store(id, blobTree, plain, false)
}

// Commit finishes the delta being written (starting an empty one if no
// blob was new) with snap as its snapshot, and makes it the head. It
// returns snap as Snapshots lists it: with its sequence number and this
// device's id.
func (b *Writer) Commit(snap Snapshot) (Snapshot, error) {
	b.rot.Lock()
	defer b.rot.Unlock()
	if err := b.waitLocked(); err != nil {
		return snap, err
	}
	if b.w == nil {
		if err := b.startLocked(); err != nil {
			return snap, err
		}
	}
	if !b.w.fits(snapshotsSize([]Snapshot{snap}, 0), b.r.opts.DeltaSizeCap) {
		// No room left for the snapshot's record: the delta is
		// committed without it, and the record goes into the next.
		if err := b.rotateLocked(); err != nil {
			return snap, err
		}
		if err := b.waitLocked(); err != nil {
			return snap, err
		}
		if err := b.startLocked(); err != nil {
			return snap, err
		}
	}
	snap.Seq = b.w.seq
	snap.Device = b.r.opts.DeviceID
	return snap, b.commitLocked([]Snapshot{snap})
}

// startLocked starts the next delta: its sequence number follows the
// one being committed in the background, if any, else the head's.
func (b *Writer) startLocked() error {
	seq := b.r.HeadSeq() + 1
	if b.bg != nil {
		seq = b.bg.w.seq + 1
	}
	w, err := b.r.newDeltaWriter(seq)
	if err != nil {
		return err
	}
	b.w = w
	b.cur.Store(w)
	return nil
}

// rotateLocked hands the full delta being written to a background commit
// (no snapshot), so that the readers and the sealing workers go on filling
// the next one while its last blobs land, its trailer is written and it is
// fsynced. At most one is in flight: the one before is waited for first.
// Deltas are still committed in sequence order, each on the one before.
func (b *Writer) rotateLocked() error {
	if err := b.waitLocked(); err != nil {
		return err
	}
	full, p := b.w, b.seal
	b.hasMu.Lock()
	b.sealing = full
	b.hasMu.Unlock()
	b.w = nil
	b.cur.Store(nil)
	c := &bgCommit{w: full, done: make(chan struct{})}
	b.bg = c
	go func() {
		defer close(c.done)
		if c.err = faults.Point("writer:committing-full"); c.err != nil {
			full.pending.Wait() // its workers still append to it
			full.abort()
		} else if c.d, c.err = b.commitDelta(p, full, nil); c.err == nil {
			c.err = faults.Point("writer:committed-full")
		}
		if c.err != nil {
			p.fail(c.err) // blobs submitted from now on fail at once
		}
	}()
	return nil
}

// waitLocked waits for the background commit, if any, and counts its
// delta; its error discards the delta being written, whose sequence
// number followed it.
func (b *Writer) waitLocked() error {
	c := b.bg
	if c == nil {
		return nil
	}
	<-c.done
	b.bg = nil
	// Its blobs are in the store's index now, or nowhere: either way no
	// longer to be found in it.
	b.hasMu.Lock()
	b.sealing = nil
	b.hasMu.Unlock()
	if c.d != nil { // committed, even if a later step failed
		b.deltas++
		b.addedBytes += c.d.size
	}
	if c.err != nil {
		b.abortLocked()
		return c.err
	}
	return nil
}

func (b *Writer) commitLocked(snaps []Snapshot) error {
	if err := b.seal.drain(); err != nil {
		b.abortLocked()
		return err
	}
	w := b.w
	b.w = nil
	b.cur.Store(nil)
	d, err := b.commitDelta(b.seal, w, snaps)
	if err != nil {
		return err
	}
	b.deltas++
	b.addedBytes += d.size
	return nil
}

// commitDelta waits until every blob handed to p's workers for w
// is written, then finishes w with snaps and makes it the head. w is
// discarded on error.
func (b *Writer) commitDelta(p *sealPipeline, w *deltaWriter, snaps []Snapshot) (*delta, error) {
	r := b.r
	w.pending.Wait()
	if err := p.Err(); err != nil {
		w.abort()
		return nil, err
	}
	if err := r.backupCheck(b.ctx); err != nil {
		w.abort()
		return nil, err
	}
	r.mu.RLock()
	live := r.liveRefs()
	var parent deltaRef
	var forgotten [][16]byte
	if r.head != nil {
		parent = r.head.ref
		forgotten = r.head.trailer.Forgotten
	}
	r.mu.RUnlock()
	d, err := w.finish(parent, live, snaps, forgotten, time.Now().UnixNano(), func(d *delta) error { return r.guardAdvance(b.ctx, d) })
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.deltas[d.ref.ID] = d
	r.addToIndex(d)
	r.head = d
	r.noteWritten(d)
	r.rebuildSnapshots()
	r.mu.Unlock()
	b.hasMu.Lock()
	if b.sealing == w {
		b.sealing = nil // the index has its blobs now
	}
	b.hasMu.Unlock()
	return d, r.noteSeen(d)
}

// Abort discards the delta being written (committed ones stay).
// A full delta being committed in the background is waited for: it is
// committed or discarded on its own.
func (b *Writer) Abort() {
	b.seal.drain()
	b.rot.Lock()
	defer b.rot.Unlock()
	_ = b.waitLocked() // its error was the backup's already, or is moot now
	b.abortLocked()
}

func (b *Writer) abortLocked() {
	b.cur.Store(nil)
	if b.w != nil {
		b.w.abort()
		b.w = nil
	}
}
