package store

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chatsafe/chatsafe/crypt"
)

// deltaWriter builds one delta object in the spool: blobs are appended as
// they come, the trailer is written last, and only a complete, fsynced file
// is renamed to its final name. A crash leaves a .partial file that the
// next run removes.
type deltaWriter struct {
	r *Store
	// wmu orders appends (the sealing workers append concurrently) and
	// guards w; mu guards the accounting below it and claims. Lock
	// order: the Writer's hasMu, wmu, mu.
	wmu sync.Mutex
	w   *bufio.Writer
	mu  sync.Mutex

	// claims is the set of blobs this delta holds or will hold (claims.go).
	claims claimSet

	f       *os.File
	partial string
	id      [16]byte
	seq     uint64
	off     uint64
	blobs   []blobEntry
	dicts   map[crypt.ID]struct{} // dictionaries appended (ensureDict)
	// table is the trailer's Dicts: the dictionaries and bases blobs name
	// (blobEntry.Ref), each dictionary once (tableAt), each base as named.
	table   []crypt.ID
	tableAt map[crypt.ID]uint32
	// trailer counts what the trailer will take (trailercost.go).
	trailer trailerCost

	// inflight is the most the blobs handed to the sealing workers and not
	// yet appended can add (their plaintext plus the seal), inflightN how
	// many they are: fullN counts them before they land.
	inflight  int64
	inflightN int
	// pending counts the blobs handed to the sealing workers and not yet
	// appended (or found stored): a commit waits for it.
	pending sync.WaitGroup

	// dictPages counts the pages handed to a dictionary encoder: past
	// dictBulkAfter they take dictBulkLevel (dict.go).
	dictPages atomic.Int64
	// groupPlain counts the plaintext of the groups compressed for this
	// delta; past groupBulkAfter they take bulk's level (groupbulk.go).
	groupPlain atomic.Int64
	bulkMu     sync.Mutex
	bulk       groupBulk
}

func (r *Store) newDeltaWriter(seq uint64) (*deltaWriter, error) {
	w := &deltaWriter{r: r, seq: seq, claims: newClaimSet()}
	r.mu.RLock()
	live, forgotten := len(r.deltas), 0
	if r.head != nil {
		forgotten = len(r.head.trailer.Forgotten)
	}
	r.mu.RUnlock()
	w.trailer = newTrailerCost(live, forgotten, r.opts.Hostname)
	if _, err := rand.Read(w.id[:]); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.spoolDir(), 0o700); err != nil {
		return nil, fmt.Errorf("creating the spool: %w", err)
	}
	w.partial = filepath.Join(r.spoolDir(), filepath.Base(deltaName(seq, w.id))+".partial")
	f, err := os.OpenFile(w.partial, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating a delta in the spool: %w", err)
	}
	w.f = f
	w.w = spoolWriter(&writebackWriter{f: f})
	return w, nil
}

// spoolWriter is the chain every byte of a delta goes through on its way
// to the file dst: pieces smaller than the buffer's free room (pages,
// small groups, a small trailer) are gathered into writes of
// spoolBufferSize; a larger one (a media chunk, a bulk group of ~100 KiB,
// a large trailer or padding) fills and writes the buffer if it holds
// anything, and its rest goes straight from its own memory in writes of
// at most spoolWriteMax.
func spoolWriter(dst io.Writer) *bufio.Writer {
	return bufio.NewWriterSize(cappedWriter{dst, spoolWriteMax}, spoolBufferSize)
}

// A new page-cache folio is as large as the write that creates it (Linux
// 6.16 on, ext4), so these sizes are the folios of the spool's files.
//
// spoolWriteMax caps every write to the spool, the trailer and the padding
// included. In a VM whose balloon reports free memory to the host, large
// free blocks cost a host fault per page when touched again where small
// fragments do not (restore.maxWrite): on the Intel VM of sessions 14-21,
// 1 MiB writes cost several times the system time of 64 KiB ones (a first
// backup of a 516 MB corpus: 2.6-3.1 s against 0.4 s). On the AMD VM of
// session 24, the first backup of the bench's corpus took 0.92x the time
// with this cap at 256 KiB and the buffer at 64 KiB (paired median of 5
// rounds; 0.93-0.94x with the buffer at 256 KiB too), and a 512 KiB cap
// gained nothing more (docs/benchmarks.md, "Twenty-fourth session: the
// spool's writes").
const spoolWriteMax = 256 << 10

// spoolBufferSize is what the spool's writer gathers small pieces into.
// It stays at 64 KiB, as before session 24: the peak RSS target has
// little room, and the gain above came from the larger pieces' writes.
const spoolBufferSize = 64 << 10

// writebackEvery: after this many bytes are written to a delta, the
// kernel is asked to start writing them out (startWriteback).
const writebackEvery = 8 << 20

// writebackWriter writes to a delta file and starts the writeback of
// every writebackEvery bytes written.
type writebackWriter struct {
	f                *os.File
	written, started int64
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.started >= writebackEvery {
		startWriteback(w.f, w.started, w.written-w.started)
		w.started = w.written
	}
	return n, err
}

// cappedWriter passes writes on in pieces of at most max bytes.
type cappedWriter struct {
	w   io.Writer
	max int
}

func (c cappedWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k, err := c.w.Write(p[:min(len(p), c.max)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// holds reports whether the delta holds id or a sealing worker claimed it.
func (w *deltaWriter) holds(id crypt.ID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.claims.has(w.blobs, &id)
}

// claim records that a sealing worker will append id; the caller (the
// Writer, under hasMu) checked that no delta holds it.
func (w *deltaWriter) claim(id crypt.ID) {
	w.mu.Lock()
	w.claims.claim(id)
	w.mu.Unlock()
}

// appendSealed appends one sealed blob (compressed with dictionary dict,
// if not nil) that reserved reserved plain bytes (reserve; -1: none);
// safe for concurrent use.
func (w *deltaWriter) appendSealed(reserved int, id crypt.ID, typ BlobType, comp compression, dict *crypt.ID, rawLen int, sealed []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.appendLocked(&blobEntry{ID: id, Type: typ, Comp: comp, RawLen: uint32(rawLen)}, dict, sealed, false, reserved)
}

// appendLocked records e at the delta's end and writes its sealed bytes
// (has: e joins the claims even if it was not claimed first);
// the caller holds wmu, which orders the writes as the offsets. The spool
// write (a system call every 64 KiB) happens outside w.mu, so that
// goroutines reserving room (reserve, fullN) never wait for the disk.
// reserved, unless -1, is the blob's reservation, released in the same
// step: counted both in the delta and in flight, even for a moment, the
// blob made full cut deltas early (by up to a blob per seal worker).
func (w *deltaWriter) appendLocked(e *blobEntry, dict *crypt.ID, sealed []byte, has bool, reserved int) error {
	return w.appendEntries(e, dict, nil, sealed, has, reserved)
}

// appendEntries is appendLocked for e and, if e is a group, its members
// after it, each naming it (has then applies to the members: nobody asks
// for a group by its id); reserved covers an entry for e and each member.
// dict is the dictionary or base e was compressed with (e's own Ref, an
// index into the trailer it came from, is not kept).
func (w *deltaWriter) appendEntries(e *blobEntry, dict *crypt.ID, members []blobEntry, sealed []byte, has bool, reserved int) error {
	w.mu.Lock()
	if reserved >= 0 {
		w.releaseLocked(reserved, 1+len(members))
	}
	if e.namesDict() != (dict != nil) {
		// A trailer that names no dictionary for such a blob would not
		// decode: refuse it here, where the bug is.
		w.mu.Unlock()
		return fmt.Errorf("blob %s: compression %d and a dictionary given %v do not go together", e.ID, e.Comp, dict != nil)
	}
	at := uint32(len(w.blobs))
	ne := *e
	ne.Offset = w.off
	ne.SealedLen = uint32(len(sealed))
	ne.Ref = 0
	newInTable := false
	if dict != nil {
		ne.Ref, newInTable = w.tableRefLocked(*dict, ne.Comp)
	}
	w.blobs = append(w.blobs, ne)
	w.trailer.add(&ne, newInTable, len(w.table))
	w.claims.appended(w.blobs, int(at), has && len(members) == 0)
	var off uint64
	for _, m := range members {
		m.Comp, m.Ref, m.Offset, m.SealedLen = compGroup, at, off, 0
		off += uint64(m.RawLen)
		w.blobs = append(w.blobs, m)
		w.trailer.add(&w.blobs[len(w.blobs)-1], false, 0)
		w.claims.appended(w.blobs, len(w.blobs)-1, has)
	}
	w.off += uint64(len(sealed))
	w.mu.Unlock()
	if _, err := w.w.Write(sealed); err != nil {
		return fmt.Errorf("writing to the spool: %w", err)
	}
	return nil
}

// tableRefLocked returns the Ref of an entry compressed (comp) with
// dictionary or base id, adding id to the table (added) unless it is a
// dictionary already there; the caller holds w.mu.
func (w *deltaWriter) tableRefLocked(id crypt.ID, comp compression) (ref uint32, added bool) {
	if comp == compZstdDict {
		if ref, ok := w.tableAt[id]; ok {
			return ref, false
		}
	}
	w.table = append(w.table, id)
	ref = uint32(len(w.table))
	if comp == compZstdDict {
		if w.tableAt == nil {
			w.tableAt = map[crypt.ID]uint32{}
		}
		w.tableAt[id] = ref
	}
	return ref, true
}

// addSealed appends a blob of trailer from that is already sealed
// (compaction copies verified blobs without re-encrypting them: their
// associated data binds them to their id and repository, not to a delta).
func (w *deltaWriter) addSealed(e *blobEntry, from *trailer, sealed []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.appendLocked(e, dictIn(from, e), sealed, true, -1)
}

// dictIn returns the dictionary or base of e, one of t's Blobs; nil if
// none.
func dictIn(t *trailer, e *blobEntry) *crypt.ID {
	if id, ok := t.dictOf(e); ok {
		return &id
	}
	return nil
}

// trailerSlack bounds what a trailer holds besides its index entries and
// its table (the live delta references, snapshot records): fullN keeps it
// free below the readers' cap on trailers.
const trailerSlack = 1 << 20

// fullN reports whether a blob of next plaintext bytes and entries index
// entries (a group: one for it, one per member) would take the delta past
// capBytes once the blobs in flight, its own index entries, the trailer
// (as counted so far, trailerCost) and the least padding are written.
// Deltas are cut before the cap, not after it: the default cap is a Padmé
// size, so a full delta's padding stays within the cap, where crossing it
// by one blob would pad by a whole Padmé step (3 % of the delta). A delta
// holding maxDeltaBlobs blobs, or whose index and table of bases would
// near the readers' cap on trailers, is full whatever its bytes; an empty
// one takes any blob.
func (w *deltaWriter) fullN(next, entries int, capBytes int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fullLockedN(next, entries, capBytes)
}

// fullLockedN is fullN with w.mu held.
func (w *deltaWriter) fullLockedN(next, entries int, capBytes int64) bool {
	n := len(w.blobs) + w.inflightN
	if n+entries > maxDeltaBlobs && n > 0 {
		return true
	}
	// The trailer's index, counting every blob in flight as a page on a
	// base, stays under the readers' cap with room for the rest.
	table := int64(len(w.table)+w.inflightN+entries) * tableEntry
	if int64(n+entries)*maxIndexEntry+table+trailerSlack+crypt.Overhead > maxTrailerSize {
		return true
	}
	if n == 0 {
		return false
	}
	return w.needLocked(int64(next)+crypt.Overhead, entries) > capBytes
}

// needLocked is the delta's size at most once the blobs in flight and
// blobs more sealed bytes in n more entries are written, with the trailer,
// the least padding (its seal) and the footer; hold mu.
func (w *deltaWriter) needLocked(blobs int64, n int) int64 {
	return int64(w.off) + w.inflight + blobs + w.trailer.sealed(w.inflightN+n) + crypt.Overhead + int64(footerSize)
}

// room is the largest plaintext one more blob, stored uncompressed, may
// have without making the delta full (an empty delta takes its first
// blob whatever its size: a larger one is its own delta, past the cap).
func (w *deltaWriter) room(capBytes int64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(0, capBytes-w.needLocked(crypt.Overhead, 1))
}

// empty reports whether the delta holds no blob, nor one in flight.
func (w *deltaWriter) empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.blobs)+w.inflightN == 0
}

// fits reports whether the trailer can take extra bytes more (snapshot
// records, forgotten ids) without the delta passing capBytes; a writer
// that would put them in a full delta puts them in the next one.
func (w *deltaWriter) fits(extra, capBytes int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.blobs)+w.inflightN == 0 || w.needLocked(extra, 0) <= capBytes
}

// reserveN counts a blob of plain bytes, of entries index entries (a
// group has one and one per member), that is about to be handed to the
// sealing workers, unless it would make the delta full (then it reports
// false). Checking and counting are one step under w.mu: were they two,
// goroutines submitting at once could all see the same room and together
// overshoot the cap. release uncounts the blob once it was appended, found
// stored already, or not submitted after all.
func (w *deltaWriter) reserveN(plain, entries int, capBytes int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fullLockedN(plain, entries, capBytes) {
		return false
	}
	w.inflight += int64(plain) + crypt.Overhead
	w.inflightN += entries
	return true
}

func (w *deltaWriter) release(plain int) { w.releaseN(plain, 1) }

func (w *deltaWriter) releaseN(plain, entries int) {
	w.mu.Lock()
	w.releaseLocked(plain, entries)
	w.mu.Unlock()
}

func (w *deltaWriter) releaseLocked(plain, entries int) {
	w.inflight -= int64(plain) + crypt.Overhead
	w.inflightN -= entries
}

// finish writes the trailer and footer, makes the delta durable and moves
// it to its final name in the spool. commit, if set, runs just before
// that move (the commit point); its error leaves nothing in the spool.
func (w *deltaWriter) finish(parent deltaRef, live []deltaRef, snaps []Snapshot, forgotten [][16]byte, now int64, commit func(*delta) error) (*delta, error) {
	w.dropGroupBulk()
	// The index keeps a delta's entries as long as the delta is live: a
	// copy at their length drops what append reserved beyond it (up to as
	// much again), ~30 bytes an entry on average.
	// Under mu: the writer may still look up claims (holds) in it.
	w.mu.Lock()
	if cap(w.blobs)-len(w.blobs) > len(w.blobs)/8 {
		w.blobs = slices.Clone(w.blobs)
	}
	w.mu.Unlock()
	t := &trailer{ID: w.id, Seq: w.seq, Time: now, Parent: parent, Live: live, Blobs: w.blobs, Dicts: slices.Clone(w.table), Snapshots: snaps, Forgotten: forgotten,
		Device: w.r.opts.DeviceID, Hostname: w.r.opts.Hostname}
	plain := t.encode()
	// The padding length is the trailer's last field and has a fixed
	// width, so the trailer's length is known before the padding is.
	t.Padding = paddingFor(int64(w.off) + int64(len(plain)+crypt.Overhead+footerSize))
	binary.LittleEndian.PutUint32(plain[len(plain)-4:], t.Padding)
	if err := w.writePadding(t.Padding); err != nil {
		return nil, w.fail(err)
	}
	sealed := w.r.aead.Seal(nil, plain, crypt.AssociatedData(adTrailer, w.r.cfg.RepoID, w.id[:]))
	if len(sealed) > maxTrailerSize {
		return nil, w.fail(fmt.Errorf("its index is %d bytes, more than the format's limit of %d (too many live deltas or snapshots: run `chatsafe prune`)", len(sealed), maxTrailerSize))
	}
	if _, err := w.w.Write(sealed); err != nil {
		return nil, w.fail(err)
	}
	if _, err := w.w.Write(encodeFooter(len(sealed))); err != nil {
		return nil, w.fail(err)
	}
	if err := w.w.Flush(); err != nil {
		return nil, w.fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return nil, w.fail(err)
	}
	if err := w.f.Close(); err != nil {
		return nil, w.fail(err)
	}
	final := filepath.Join(w.r.spoolDir(), filepath.Base(deltaName(w.seq, w.id)))
	size := int64(w.off) + int64(t.Padding) + int64(len(sealed)) + int64(footerSize)
	d := &delta{
		ref:       deltaRef{ID: w.id, Seq: w.seq, TrailerHash: trailerHash(plain)},
		size:      size,
		spoolPath: final,
		trailer:   t,
	}
	if commit != nil {
		if err := commit(d); err != nil {
			w.abort()
			return nil, err
		}
	}
	if err := os.Rename(w.partial, final); err != nil {
		return nil, w.fail(err)
	}
	if err := syncDir(w.r.spoolDir()); err != nil {
		return nil, fmt.Errorf("syncing the spool: %w", err)
	}
	return d, nil
}

func (w *deltaWriter) fail(err error) error {
	w.abort()
	return fmt.Errorf("writing a delta to the spool: %w", err)
}

// abort discards an unfinished delta.
func (w *deltaWriter) abort() {
	w.dropGroupBulk()
	if w.f != nil {
		w.f.Close()
	}
	os.Remove(w.partial)
}
