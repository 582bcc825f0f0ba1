package store

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chatsafe/chatsafe/crypt"
)

// sealPipeline compresses and seals new blobs on every core while the
// scanner goes on reading and hashing. Workers append finished blobs to
// the delta writer under its lock, in completion order: a delta's index
// records where each blob landed, so order does not matter. The pipeline
// is owned by one Writer, which starts it, drains it before a delta is
// finished, and stops it.
type sealPipeline struct {
	jobs chan sealJob
	big  *bigBufs // copies of chunks over bigChunk
	// smallRun counts the jobs in a row sealed without a big buffer
	// (leftoverAfter).
	smallRun atomic.Int64
	workers  sync.WaitGroup
	pending  sync.WaitGroup // jobs submitted and not yet written

	mu  sync.Mutex
	err error
}

type sealJob struct {
	w              *deltaWriter
	id             crypt.ID
	typ            BlobType
	buf            *[]byte // pooled copy of the plaintext
	big            bool    // buf is from the pipeline's big buffers
	incompressible bool

	// For a data chunk the worker computes the id, stores it in slot, and
	// seals the chunk only if claim says the repository lacks it.
	slot   *ChunkRef
	claim  func(w *deltaWriter, id crypt.ID) bool
	fileWG *sync.WaitGroup

	// base, when not zero, is the blob of this page's previous version,
	// and the last baseLen bytes of buf are what may be its plaintext:
	// the worker compresses on it when it is and that pays (basecomp.go).
	base    crypt.ID
	baseLen int
	// reserved: the blob holds a reservation in w (reserve) for its
	// plaintext, released when it is appended.
	reserved bool

	// lens, for a run of pages (Writer.Pages), are their lengths in buf
	// and slots where their references go; the worker seals the ones the
	// repository lacks as a group (group.go).
	lens  []int
	slots []*ChunkRef
}

// reservation is what the job's blob of plaintext plain reserved, for
// appendSealed: -1 for none.
func (j *sealJob) reservation(plain []byte) int {
	if j.reserved {
		return len(plain)
	}
	return -1
}

var plainPool = sync.Pool{New: func() any { b := make([]byte, 0, 256<<10); return &b }}

func newSealPipeline(r *Store) *sealPipeline {
	n := runtime.GOMAXPROCS(0)
	p := &sealPipeline{jobs: make(chan sealJob, 2*n), big: newBigBufs(bigBudget)}
	for range n {
		p.workers.Add(1)
		go p.work(r)
	}
	return p
}

func (p *sealPipeline) work(r *Store) {
	defer p.workers.Done()
	var bufs workerBufs
	for j := range p.jobs {
		p.sealOne(r, j, &bufs.seal, &bufs.scratch)
		// Counted before the job is done: whoever waits for it sees what
		// the count let go.
		bufs.after(j.big)
		p.after(j.big)
		p.done(j)
	}
}

// sealOne seals job j with a worker's buffers; the caller marks it done.
func (p *sealPipeline) sealOne(r *Store, j sealJob, sealBuf, scratch *[]byte) {
	if j.lens != nil {
		// What landed took its share of the run's reservation with it
		// (appendEntries); the rest is released here.
		restPlain, restEntries, err := r.sealRun(j, sealBuf, scratch)
		if err != nil {
			p.fail(err)
		}
		j.w.releaseN(restPlain, restEntries)
		return
	}
	plain := (*j.buf)[:len(*j.buf)-j.baseLen]
	store := true
	if j.slot != nil {
		j.id = r.ids.Sum(plain)
		*j.slot = ChunkRef{ID: j.id, Len: uint32(len(plain))}
		store = j.claim(j.w, j.id)
	}
	if store {
		// The blob's reservation goes with it into the delta
		// (appendLocked); on an error, the delta is discarded.
		if err := r.sealNew(j, plain, sealBuf, scratch); err != nil {
			p.fail(err)
		}
	} else {
		j.w.release(len(plain))
	}
}

// after counts a job sealed by any worker: leftoverAfter jobs in a row
// without a big buffer let the kept big buffers go.
func (p *sealPipeline) after(big bool) {
	if big {
		p.smallRun.Store(0)
	} else if p.smallRun.Add(1) == leftoverAfter {
		p.big.dropKept()
	}
}

// done returns j's buffer and counts it written.
func (p *sealPipeline) done(j sealJob) {
	if j.big {
		p.big.put(j.buf)
	} else {
		plainPool.Put(j.buf)
	}
	if j.fileWG != nil {
		j.fileWG.Done()
	}
	j.w.pending.Done()
	p.pending.Done()
}

// submitGroup queues a copy of a run of pages (Writer.Pages); w holds a
// reservation for all of them and the entries of the groups they may
// become (runEntries).
func (p *sealPipeline) submitGroup(w *deltaWriter, data []byte, lens []int, slots []*ChunkRef, claim func(*deltaWriter, crypt.ID) bool, fileWG *sync.WaitGroup) error {
	if err := p.Err(); err != nil {
		w.releaseN(runReservation(len(data), len(lens)), runEntries(len(lens)))
		return err
	}
	buf := plainPool.Get().(*[]byte)
	*buf = append((*buf)[:0], data...)
	p.pending.Add(1)
	w.pending.Add(1)
	fileWG.Add(1)
	p.jobs <- sealJob{w: w, typ: blobData, buf: buf, claim: claim, fileWG: fileWG,
		lens: slices.Clone(lens), slots: slices.Clone(slots)}
	return nil
}

func (p *sealPipeline) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// Err reports the first failure of any worker.
func (p *sealPipeline) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// baseHint is a page's previous version: its blob id and a local copy
// of what may be its plaintext (unverified).
type baseHint struct {
	id    crypt.ID
	plain []byte
}

// buffer returns an empty buffer of capacity n or more: a pooled one, or
// one of p's big buffers (big) when n is larger than bigChunk.
func (p *sealPipeline) buffer(n int) (buf *[]byte, big bool) {
	if big = n > bigChunk; big {
		// Some come back without a job (a chunk found stored, a file
		// that shrank): a run of small jobs counts from here too.
		p.smallRun.Store(0)
		return p.big.get(n), true
	}
	buf = plainPool.Get().(*[]byte)
	*buf = (*buf)[:0]
	return buf, false
}

// bufferMore is buffer for a caller that holds a big buffer already
// (bigBufs.getMore).
func (p *sealPipeline) bufferMore(n int) *[]byte {
	if n > bigChunk {
		p.smallRun.Store(0)
		return p.big.getMore(n)
	}
	buf, _ := p.buffer(n)
	return buf
}

// putBuffer gives back a buffer from buffer: by its capacity, a big one
// is anything over a pooled buffer's (bigChunk).
func (p *sealPipeline) putBuffer(buf *[]byte) {
	if cap(*buf) > bigChunk {
		p.big.put(buf)
	} else {
		plainPool.Put(buf)
	}
}

// fill copies plain, then the base's plaintext, into a buffer from buffer.
func (p *sealPipeline) fill(plain []byte, h baseHint) (buf *[]byte, big bool) {
	buf, big = p.buffer(len(plain) + len(h.plain))
	*buf = append(append(*buf, plain...), h.plain...)
	return buf, big
}

// submit queues a copy of plain for sealing into w, which holds a
// reservation for it (deltaWriter.reserve); the worker releases it.
func (p *sealPipeline) submit(w *deltaWriter, id crypt.ID, typ BlobType, plain []byte, incompressible bool, base baseHint) error {
	if err := p.Err(); err != nil {
		w.release(len(plain))
		return err
	}
	buf, big := p.fill(plain, base)
	p.pending.Add(1)
	w.pending.Add(1)
	p.jobs <- sealJob{w: w, id: id, typ: typ, buf: buf, big: big, incompressible: incompressible, base: base.id, baseLen: len(base.plain), reserved: true}
	return nil
}

// submitChunk queues a data chunk whose id the worker computes into slot;
// w holds a reservation for it, as for submit.
func (p *sealPipeline) submitChunk(w *deltaWriter, plain []byte, incompressible bool, slot *ChunkRef, claim func(*deltaWriter, crypt.ID) bool, fileWG *sync.WaitGroup, base baseHint) error {
	if err := p.Err(); err != nil {
		w.release(len(plain))
		return err
	}
	buf, big := p.fill(plain, base)
	p.pending.Add(1)
	w.pending.Add(1)
	fileWG.Add(1)
	p.jobs <- sealJob{w: w, typ: blobData, buf: buf, big: big, incompressible: incompressible, slot: slot, claim: claim, fileWG: fileWG, base: base.id, baseLen: len(base.plain), reserved: true}
	return nil
}

// submitOwned queues a data chunk in buf, a buffer from buffer that the
// job takes over (no copy); w holds a reservation for it. With a slot the
// worker computes its id into it, as for submitChunk; without, it is id,
// hashed and claimed already.
func (p *sealPipeline) submitOwned(w *deltaWriter, id crypt.ID, typ BlobType, buf *[]byte, incompressible bool, slot *ChunkRef, claim func(*deltaWriter, crypt.ID) bool, fileWG *sync.WaitGroup) error {
	if err := p.Err(); err != nil {
		w.release(len(*buf))
		p.putBuffer(buf)
		return err
	}
	j := sealJob{w: w, id: id, typ: typ, buf: buf, big: cap(*buf) > bigChunk, incompressible: incompressible, reserved: true}
	if slot != nil {
		j.slot, j.claim, j.fileWG = slot, claim, fileWG
		fileWG.Add(1)
	}
	p.pending.Add(1)
	w.pending.Add(1)
	p.jobs <- j
	return nil
}

// drain waits until every submitted blob is written.
func (p *sealPipeline) drain() error {
	p.pending.Wait()
	return p.Err()
}

// stop drains and ends the workers.
func (p *sealPipeline) stop() {
	p.pending.Wait()
	close(p.jobs)
	p.workers.Wait()
}
