package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/zprefix"
)

// Compression dictionaries for SQLite pages (docs/format.md,
// "Dictionaries"). A 4 KiB page compressed on its own finds few repeats;
// with a dictionary made of the database's own pages (their headers,
// schema, recurring text) it compresses like a page in the middle of the
// file. Pages stay separate blobs, so a small change still costs a few
// pages.
//
// A dictionary is a blob of its own type (blobDict), sealed and named like
// any blob, so it travels with the deltas: every remote, the spool, prune
// and key rotation handle it as they handle blobs. The index entry of a
// page compressed with it names it (compZstdDict).
//
// The writer builds the first dictionary from dictSample pages a source
// offers before a database (spread over it: dictsample.go) or else from
// the first dictSample pages it seals (it keeps no more than those: 320
// KiB of 4 KiB pages, 5 MiB at most), and builds a new one the same way
// when the ratio the recent pages achieve falls a quarter behind the one
// measured when the dictionary was made (a group counts as its first
// page alone: noteGroupRatio).

const (
	dictFormat = 1 // of the dictionary blob's plaintext

	// Dictionary kinds. Raw content is what the writer makes: measured on
	// the bench's database it compresses pages as well as a dictionary
	// trained with dict.BuildZstdDict (0.44 against 0.45 of plain size)
	// and costs nothing to make, where training took 0.6–3 s of a loaded
	// core. A zstd-format dictionary is read too.
	dictKindRaw  = 1
	dictKindZstd = 2

	// dictSample pages are kept to make a dictionary: every fifth is held
	// out to measure the ratio, the others are its content.
	dictSample = 80
	// dictMinBlob and dictMaxBlob bound the data blobs compressed with
	// a dictionary: SQLite pages (512 B – 64 KiB), small files and the
	// smaller chunks of larger ones (content-defined chunks average
	// 64 KiB; larger blobs find their repeats in themselves).
	dictMinBlob = 256
	dictMaxBlob = 64 << 10
	// dictWindow is how many plaintext bytes of pages compressed with the
	// current dictionary are counted before their ratio is compared with
	// the dictionary's.
	dictWindow = 1 << 20
	// dictWindowSize is the zstd window of blobs compressed with a
	// dictionary: a power of two that holds the largest dictionary and
	// the largest such blob, so every match zstd's default 8 MiB window
	// would find is still found, and each encoder state (encoderStates)
	// keeps a 512 KiB history instead of an 8 MiB one.
	dictWindowSize = 512 << 10
	// maxDictDecoders bounds the dictionaries a reader keeps loaded.
	maxDictDecoders = 8
	// dictLevel and dictBulkLevel: every page is one EncodeAll, and with
	// a dictionary each call first restores the encoder's match tables to
	// the dictionary's state: ~1.5 MiB of tables a 4 KiB page at
	// SpeedDefault, ~0.5 MiB at SpeedFastest. On the bench's --quick
	// database (4,728 pages, 256 KiB dictionary, one core) SpeedDefault
	// took 72 µs a page for 0.416 of plain size, SpeedFastest 39 µs for
	// 0.436 (SpeedBetterCompression 157 µs for 0.397). So the first
	// dictBulkAfter pages of a delta (a daemon cycle's small change, where
	// bytes are the cost) take SpeedDefault, and the pages after them (a
	// first backup, where they are a third of its CPU) SpeedFastest. A
	// zstd-format dictionary with entropy tables (zstd.BuildDict) gained
	// nothing at either level, nor did the window size or
	// WithLowerEncoderMem.
	dictLevel     = zstd.SpeedDefault
	dictBulkLevel = zstd.SpeedFastest
	dictBulkAfter = 512
)

// dictionary is one dictionary blob, parsed.
type dictionary struct {
	id      crypt.ID
	gen     uint64
	ratio   uint32 // per mille of plain size, measured when it was made
	kind    byte
	content []byte
	plain   []byte // the blob's plaintext

	// encs are its encoders by level (encoderAt): pages and groups at
	// the same level share one, since an encoder's tables and history
	// are per level, not per use.
	encs [zstd.SpeedBestCompression + 1]lazyEncoder
	dec  *zstd.Decoder
	// pre decodes a raw dictionary's frames on the assembly path
	// (decodeStated); nil for a zstd-format one.
	pre *zprefix.Dict

	// pages counts the pages compressed with d in groups, for
	// noteGroupRatio's sample.
	pages atomic.Uint64
}

func encodeDict(gen uint64, ratio uint32, kind byte, content []byte) []byte {
	e := &encoder{}
	e.byte1(dictFormat)
	e.uvarint(gen)
	e.uvarint(uint64(ratio))
	e.byte1(kind)
	e.uvarint(uint64(len(content)))
	e.raw(content)
	return e.b
}

// parseDict decodes an authenticated dictionary blob and prepares its
// decoder; anything malformed is an error, never a panic.
func parseDict(id crypt.ID, plain []byte) (*dictionary, error) {
	d := &decoder{b: plain}
	if v := d.byte1(); d.err == nil && v != dictFormat {
		return nil, fmt.Errorf("unsupported dictionary format %d (upgrade chatsafe)", v)
	}
	dict := &dictionary{id: id, gen: d.uvarint(), plain: plain}
	ratio := d.uvarint()
	dict.kind = d.byte1()
	dict.content = d.bytes()
	if err := d.done(); err != nil {
		return nil, err
	}
	if ratio > 1000 || len(dict.content) == 0 || len(dict.content) > dictContentMax {
		return nil, fmt.Errorf("%w: bad ratio or content length", errMalformed)
	}
	dict.ratio = uint32(ratio)
	// DecodeAll stops at its destination's capacity: decompress.
	opts := []zstd.DOption{zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBlobSize + 1<<20), zstd.WithDecodeAllCapLimit(true)}
	switch dict.kind {
	case dictKindRaw:
		opts = append(opts, zstd.WithDecoderDictRaw(dict.zstdID(), dict.content))
	case dictKindZstd:
		opts = append(opts, zstd.WithDecoderDicts(dict.content))
	default:
		return nil, fmt.Errorf("%w: unknown dictionary kind %d", errMalformed, dict.kind)
	}
	dec, err := zstd.NewReader(nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	dict.dec = dec
	if dict.kind == dictKindRaw {
		dict.pre = zprefix.New(dict.zstdID(), dict.content)
	}
	return dict, nil
}

// zstdID is the id zstd frames carry for a raw dictionary (never 0,
// which means "none").
func (d *dictionary) zstdID() uint32 {
	return max(binary.LittleEndian.Uint32(d.id[:4]), 1)
}

// lazyEncoder is an encoder made on first use, which can be let go
// (dropEncoder) and is then made again on the next.
type lazyEncoder struct {
	mu  sync.Mutex
	enc atomic.Pointer[zstd.Encoder]
}

// encoder returns d's encoder at dictBulkLevel if bulk, else at dictLevel.
func (d *dictionary) encoder(bulk bool) (*zstd.Encoder, error) {
	if bulk {
		return d.encoderAt(dictBulkLevel)
	}
	return d.encoderAt(dictLevel)
}

// encoderAt returns d's encoder at level, made on first use. Each holds
// a set of match tables per state (encoderStates: ~2.5 MiB at SpeedDefault
// with a dictionary, ~0.5 MiB at SpeedFastest) and a history, for as long as d
// is the writer's dictionary (or until dropEncoder): one per level,
// whoever asks.
func (d *dictionary) encoderAt(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	if level < zstd.SpeedFastest || int(level) >= len(d.encs) {
		return nil, fmt.Errorf("no zstd level %d", level)
	}
	e := &d.encs[level]
	if enc := e.enc.Load(); enc != nil {
		return enc, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if enc := e.enc.Load(); enc != nil {
		return enc, nil
	}
	enc, err := zstd.NewWriter(nil, d.encoderOptions(level)...)
	if err != nil {
		return nil, err
	}
	e.enc.Store(enc)
	return enc, nil
}

// dropEncoder lets d's encoder at level go, and its tables with it, once
// the calls using it return (EncodeAll runs no goroutine, so it needs no
// Close); the next encoderAt makes a new one.
func (d *dictionary) dropEncoder(level zstd.EncoderLevel) {
	d.encs[level].enc.Store(nil)
}

// encoderStates is how many calls d's encoder at level runs at once: one
// a core, except at dictBulkLevel. That encoder compresses what a delta
// seals alone with the dictionary past its first dictBulkAfter (pages
// not in a group, small data blobs, pages while a new dictionary is
// sampled: fewer than 1,000 in the bench's --full first backup, where
// pages go in groups) and the retrain check's one page in
// ratioEveryPages. A second state (match tables, their copy at the
// dictionary's state, and a history) was ~1.2 MiB of that backup's peak
// heap (docs/benchmarks.md, "The peak RSS: one state for the lone
// pages' encoder").
func encoderStates(level zstd.EncoderLevel) int {
	if level == dictBulkLevel {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// encoderOptions are the options of d's encoder at level.
func (d *dictionary) encoderOptions(level zstd.EncoderLevel) []zstd.EOption {
	// No zstd checksum: the seal's tag and the blob's keyed hash verify
	// every page already (4 bytes a page).
	opts := []zstd.EOption{zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(encoderStates(level)),
		zstd.WithWindowSize(dictWindowSize), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false)}
	if d.kind == dictKindRaw {
		return append(opts, zstd.WithEncoderDictRaw(d.zstdID(), d.content))
	}
	return append(opts, zstd.WithEncoderDict(d.content))
}

// dictState is what a Store knows of dictionaries: the writer's current
// one, the pages it samples, and the loaded ones readers use.
type dictState struct {
	mu       sync.Mutex
	cur      *dictionary // nil: none yet
	sampling bool        // collecting pages for a (new) dictionary
	sample   [][]byte
	winPlain int64 // pages compressed with cur since the last check
	winComp  int64

	loadMu sync.Mutex
	loaded map[crypt.ID]*dictionary
}

// pageDict returns the dictionary to compress a page of new content
// with, or nil; it samples the page when a dictionary is being made.
func (r *Store) pageDict(plain []byte) *dictionary {
	s := &r.dicts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.sampling {
		s.sample = append(s.sample, append([]byte(nil), plain...))
		if len(s.sample) >= dictSample {
			r.makeDictLocked()
		}
	}
	return s.cur
}

// makeDictLocked makes a dictionary of the sampled pages and adopts it
// unless the current one compresses the held-out pages as well.
func (r *Store) makeDictLocked() {
	s := &r.dicts
	var content []byte
	var held [][]byte
	for i, p := range s.sample {
		if i%5 == 4 {
			held = append(held, p)
		} else if len(content)+len(p) <= dictContentMax {
			content = append(content, p...)
		}
	}
	s.sample, s.sampling = nil, false
	gen := uint64(1)
	if s.cur != nil {
		gen = s.cur.gen + 1
	}
	cand := &dictionary{gen: gen, kind: dictKindRaw, content: content}
	ratio := dictRatio(cand, held)
	if s.cur != nil {
		if old := dictRatio(s.cur, held); old <= ratio+ratio/20 {
			// Not 5 % better: keep the current one, and measure it
			// against what it does on today's pages from now on.
			s.cur.ratio = old
			return
		}
	}
	plain := encodeDict(gen, ratio, dictKindRaw, content)
	d, err := parseDict(r.ids.Sum(plain), plain)
	if err != nil {
		r.log.Warn("making a compression dictionary failed; pages are compressed without one", zap.Error(err))
		return
	}
	d.ratio = ratio
	s.cur = d
	r.log.Debug("new compression dictionary", zap.Stringer("dict", d.id), zap.Uint64("generation", gen), zap.Uint32("ratio_permille", ratio))
}

// sealPage seals a data blob of new content for w, compressed with the
// current dictionary when that pays; ok is false when the page is not one
// for a dictionary (the caller seals it as any blob).
func (r *Store) sealPage(w *deltaWriter, id crypt.ID, plain []byte, dst, scratch []byte) (out []byte, comp compression, dict *crypt.ID, scratchOut []byte, ok bool, err error) {
	d := r.pageDict(plain)
	if d == nil {
		return dst, 0, nil, scratch, false, nil
	}
	// A delta whose groups went bulk (groupbulk.go) let go of the
	// dictLevel encoder: its lone pages take the bulk level too.
	enc, err := d.encoder(w.dictPages.Add(1) > dictBulkAfter || w.groupPlain.Load() > groupBulkAfter)
	if err != nil {
		return dst, 0, nil, scratch, false, nil
	}
	scratch = encodeAll(enc, plain, scratch[:0])
	r.noteDictRatio(d, len(plain), min(len(scratch), len(plain)))
	if len(scratch) >= len(plain)-len(plain)/8 {
		return dst, 0, nil, scratch, false, nil
	}
	if !d.decodesTo(r, scratch, plain, nil) {
		r.spoiledFrame(id, "zstd with a dictionary")
		return dst, 0, nil, scratch, false, nil
	}
	// The dictionary goes into the delta before the first page that
	// needs it, unless a committed delta holds it already; in a delta
	// without room for it, the page goes without.
	if room, err := w.ensureDict(d); err != nil || !room {
		return dst, 0, nil, scratch, false, err
	}
	out = r.aead.Seal(dst, scratch, crypt.AssociatedData(adBlob, r.cfg.RepoID, id[:]))
	return out, compZstdDict, &d.id, scratch, true, nil
}

// ensureDict appends dictionary d to the delta unless the repository or
// the delta holds it already. The page that needs it reserved room for
// itself only (full): room is false when the delta cannot take the
// dictionary too, and the page is then compressed without it.
func (w *deltaWriter) ensureDict(d *dictionary) (room bool, err error) {
	if w.r.Has(d.id) {
		return true, nil
	}
	w.mu.Lock()
	_, done := w.dicts[d.id]
	w.mu.Unlock()
	if done {
		return true, nil
	}
	sealed, comp, _ := w.r.sealBlob(nil, d.id, d.plain, false, nil)
	reserved := len(sealed) - crypt.Overhead
	if !w.reserveN(reserved, 1, w.r.opts.DeltaSizeCap) {
		return false, nil
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	_, done = w.dicts[d.id]
	if !done {
		if w.dicts == nil {
			w.dicts = map[crypt.ID]struct{}{}
		}
		w.dicts[d.id] = struct{}{}
	}
	w.mu.Unlock()
	if done {
		w.release(reserved)
		return true, nil
	}
	return true, w.appendLocked(&blobEntry{ID: d.id, Type: blobDict, Comp: comp, RawLen: uint32(len(d.plain))}, nil, sealed, false, reserved)
}

// loadDict returns the dictionary blob id, read from the repository,
// authenticated and parsed. user names the blob that needs it, for the
// error: a dictionary that is missing, damaged or malformed makes exactly
// the blobs compressed with it unreadable, each an integrity error naming
// the dictionary and the delta that should hold it.
func (r *Store) loadDict(ctx context.Context, id crypt.ID, user blobLoc) (*dictionary, error) {
	s := &r.dicts
	s.loadMu.Lock()
	d := s.loaded[id]
	s.loadMu.Unlock()
	if d != nil {
		return d, nil
	}
	r.mu.RLock()
	loc, ok := r.index.get(id)
	r.mu.RUnlock()
	if !ok {
		return nil, integrityErr(user.d.ref.name(), fmt.Sprintf("blob %s was compressed with dictionary %s, which the repository does not hold", user.entry.ID, id), nil)
	}
	d, err := r.readDict(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("blob %s in %s needs dictionary %s: %w", user.entry.ID, user.d.ref.name(), id, err)
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded == nil {
		s.loaded = map[crypt.ID]*dictionary{}
	}
	if len(s.loaded) >= maxDictDecoders {
		// Memory stays bounded whatever a trailer names: drop one (a
		// decoder in use by another goroutine stays valid until it is done).
		for k := range s.loaded {
			delete(s.loaded, k)
			break
		}
	}
	s.loaded[id] = d
	return d, nil
}

// readDict reads and parses the dictionary blob at loc without taking
// r.mu (load holds it). Its length is capped before anything is read.
func (r *Store) readDict(ctx context.Context, loc blobLoc) (*dictionary, error) {
	e, name := loc.entry, loc.d.ref.name()
	if e.Type != blobDict {
		return nil, integrityErr(name, fmt.Sprintf("blob %s is named as a dictionary but is not one", e.ID), nil)
	}
	if e.RawLen > maxDictBlob || e.SealedLen > maxDictBlob+crypt.Overhead {
		return nil, integrityErr(name, fmt.Sprintf("dictionary %s is larger than the format's limit of %d bytes", e.ID, maxDictBlob), nil)
	}
	plain, err := r.readDictBlob(ctx, loc)
	if err != nil {
		return nil, err
	}
	d, err := parseDict(e.ID, plain)
	if err != nil {
		return nil, integrityErr(name, fmt.Sprintf("dictionary %s is malformed", e.ID), err)
	}
	return d, nil
}

// adoptNewestDict makes the repository's newest dictionary (the highest
// generation) the writer's: a device that joins, or the next backup of a
// CLI, continues with it. Compaction moves dictionaries into newer deltas,
// so the newest delta does not say which is newest: up to maxDictDecoders
// of them, from the newest deltas, are read. One that cannot be read is
// logged and left to check; the writer then makes a new one.
func (r *Store) adoptNewestDict(ctx context.Context) {
	var locs []blobLoc
	for _, d := range r.deltas {
		for i := range d.trailer.Blobs {
			if e := &d.trailer.Blobs[i]; e.Type == blobDict && r.index.at(e.ID) == e {
				locs = append(locs, blobLoc{d: d, entry: e})
			}
		}
	}
	s := &r.dicts
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	for _, l := range locs {
		if cur != nil && l.entry.ID == cur.id {
			return // this process made or adopted it: nothing newer was written by others
		}
	}
	sort.Slice(locs, func(i, j int) bool { return locs[i].d.ref.Seq > locs[j].d.ref.Seq })
	var newest *dictionary
	for _, l := range locs[:min(len(locs), maxDictDecoders)] {
		d, err := r.readDict(ctx, l)
		if err != nil {
			r.log.Warn("a compression dictionary cannot be read; run "+r.cmd("check --read-data"), zap.Error(err))
			continue
		}
		if newest == nil || d.gen > newest.gen {
			newest = d
		}
	}
	if newest == nil {
		return
	}
	s.mu.Lock()
	s.cur, s.sampling, s.sample = newest, false, nil
	s.winPlain, s.winComp = 0, 0
	s.mu.Unlock()
}

// verifyDictRefs checks that every blob of d compressed with a
// dictionary names a dictionary blob the repository holds.
func (r *Store) verifyDictRefs(d *delta) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i := range d.trailer.Blobs {
		e := &d.trailer.Blobs[i]
		dict, named := d.trailer.dictOf(e)
		switch {
		case e.namesDict() && !named:
			return integrityErr(d.ref.name(), fmt.Sprintf("blob %s is compressed with a dictionary or on a base its trailer does not name", e.ID), nil)
		case e.Comp == compZstdBase:
			// A base is a page held here, never itself on a base.
			if bl, ok := r.index.get(dict); !ok || bl.entry.Type != blobData || bl.entry.Comp == compZstdBase {
				return integrityErr(d.ref.name(), fmt.Sprintf("blob %s was compressed on blob %s, which the repository does not hold as a base", e.ID, dict), nil)
			}
		case named:
			if dl, ok := r.index.get(dict); !ok || dl.entry.Type != blobDict {
				return integrityErr(d.ref.name(), fmt.Sprintf("blob %s was compressed with dictionary %s, which the repository does not hold", e.ID, dict), nil)
			}
		}
	}
	return nil
}

// addDictRefs adds to used the dictionaries and bases its blobs were
// compressed with, so that prune keeps each exactly as long as a blob it
// keeps needs it.
func (r *Store) addDictRefs(used map[crypt.ID]struct{}) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var dicts, bases []crypt.ID
	for id := range used {
		// A group a run list names is kept whole (groupLive) even where
		// its members are read from other copies: so is its dictionary.
		if g, _, ok := r.index.group(id); ok {
			if dict, ok := g.dict(); ok {
				dicts = append(dicts, dict)
			}
		}
		// A member's dictionary is its group's.
		loc, ok := r.index.get(id)
		if !ok {
			continue
		}
		if dict, ok := loc.dict(); ok && loc.sealedEntry().Comp == compZstdBase {
			bases = append(bases, dict)
		} else if ok {
			dicts = append(dicts, dict)
		}
	}
	// A base page is in use with the pages on it, and so is the
	// dictionary it was compressed with (a base is never on a base).
	for _, id := range bases {
		used[id] = struct{}{}
		if loc, ok := r.index.get(id); ok && loc.sealedEntry().Comp == compZstdDict {
			if dict, ok := loc.dict(); ok {
				dicts = append(dicts, dict)
			}
		}
	}
	for _, id := range dicts {
		used[id] = struct{}{}
	}
}

// resealWithDict compresses plain (the blob at loc) with the dictionary
// it was compressed with (a member: its group's) and seals it for ns (key
// rotation keeps blob ids, so the dictionary keeps its id too). ok is
// false when the frame did not decode back to plain: the caller seals the
// blob without the dictionary.
func (r *Store) resealWithDict(ctx context.Context, ns *Store, loc blobLoc, plain []byte) (sealed []byte, ok bool, err error) {
	id, named := loc.dict()
	if !named {
		return nil, false, integrityErr(loc.d.ref.name(), fmt.Sprintf("blob %s is compressed with a dictionary its trailer does not name", loc.entry.ID), nil)
	}
	d, err := r.loadDict(ctx, id, loc)
	if err != nil {
		return nil, false, err
	}
	enc, err := d.encoder(false)
	if err != nil {
		return nil, false, fmt.Errorf("rotating the key: dictionary %s: %w", d.id, err)
	}
	payload := encodeAll(enc, plain, nil)
	if !d.decodesTo(r, payload, plain, nil) {
		r.spoiledFrame(loc.entry.ID, "zstd with a dictionary")
		return nil, false, nil
	}
	return ns.aead.Seal(nil, payload, crypt.AssociatedData(adBlob, ns.cfg.RepoID, loc.entry.ID[:])), true, nil
}
