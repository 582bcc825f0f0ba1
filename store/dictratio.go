package store

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// How well the writer's dictionary still compresses what it seals: the
// retrain check (dict.go makes and adopts the dictionaries).

// dictRatio is the per mille of plain size the pages compress to with d
// (1000 when there is nothing to measure or it fails). It measures a
// dictionary being made too: its bulk-level encoder runs one call at a
// time (encoderStates), so its tables are built from the dictionary once
// for the held-out pages, where an encoder of one state a core built them
// once per state as calls took turns among them (2.6–3.1 ms against
// 0.8–1.4 ms, on the goroutine that reads the database while the sealing
// workers wait for its dictionary). A candidate never compresses
// anything else (an adopted one is parsed anew, with its own id): its
// encoder goes with it.
func dictRatio(d *dictionary, pages [][]byte) uint32 {
	// At the bulk level, which most pages of a large backup take: pages
	// at dictLevel compress better, so they never look a quarter behind.
	enc, err := d.encoder(true)
	if err != nil {
		return 1000
	}
	return encodedRatio(enc, pages)
}

// encodedRatio is the per mille of plain size the pages compress to with
// enc, each on its own.
func encodedRatio(enc *zstd.Encoder, pages [][]byte) uint32 {
	var plain, comp int
	var buf []byte
	for _, p := range pages {
		buf = enc.EncodeAll(p, buf[:0])
		plain += len(p)
		comp += min(len(buf), len(p))
	}
	if plain == 0 {
		return 1000
	}
	return uint32(int64(comp) * 1000 / int64(plain))
}

// noteDictRatio counts a page compressed with d; once a window's worth of
// pages fell a quarter behind d's ratio, the next pages make a new one.
func (r *Store) noteDictRatio(d *dictionary, plain, comp int) {
	s := &r.dicts
	s.mu.Lock()
	defer s.mu.Unlock()
	if d != s.cur || s.sampling {
		return
	}
	s.winPlain += int64(plain)
	s.winComp += int64(comp)
	if s.winPlain < dictWindow {
		return
	}
	if s.winComp*1000 > s.winPlain*int64(d.ratio)*5/4 {
		s.sampling = true
	}
	s.winPlain, s.winComp = 0, 0
}

// ratioScratch holds the compressed first pages noteGroupRatio measures.
var ratioScratch = sync.Pool{New: func() any { return new([]byte) }}

// ratioEveryPages: noteGroupRatio measures one page in this many, by
// pages and not by groups, so that the window rests on as many measured
// pages whatever groupPages (one group in four of 16 pages, as before
// groups of 32). Each measurement is an EncodeAll of its own, whose reset
// of the encoder's tables to d's (~0.5 MiB at SpeedFastest) costs far
// more than the 4 KiB page: measuring every group of 16 was 5 % of a
// first backup's CPU (docs/benchmarks.md, "First backup, fifth round").
// A 1 MiB window (dictWindow) of 4 KiB pages holds four measured pages
// (two of 8 KiB pages, one of 16 KiB pages).
const ratioEveryPages = 64

// noteGroupRatio counts group (compressed with d, pages long) for the
// retrain check, like with like: d's ratio is of pages compressed one by
// one, and a group's is not (its pages find each other's repeats in one
// frame: pages twice d's ratio alone came within 6 % of it as a group, so
// they never retrained it). Its first page, first bytes long, compressed
// alone as d's ratio was measured, stands for the group's bytes: one more
// page compressed a group. Only a group that holds the 1st, 65th, 129th
// ... page compressed with d is measured, and stands for the
// ratioEveryPages pages up to the next one measured.
func (r *Store) noteGroupRatio(d *dictionary, group []byte, pages, first int) {
	if pages <= 0 {
		return
	}
	end := d.pages.Add(uint64(pages))
	start := end - uint64(pages)
	// How many multiples of ratioEveryPages lie in [start, end).
	n := (end+ratioEveryPages-1)/ratioEveryPages - (start+ratioEveryPages-1)/ratioEveryPages
	if n == 0 {
		return
	}
	s := &r.dicts
	s.mu.Lock()
	watched := d == s.cur && !s.sampling
	s.mu.Unlock()
	if !watched || first <= 0 || first > len(group) {
		return
	}
	enc, err := d.encoder(true)
	if err != nil {
		return
	}
	buf := ratioScratch.Get().(*[]byte)
	defer ratioScratch.Put(buf)
	*buf = enc.EncodeAll(group[:first], (*buf)[:0])
	comp := min(len(*buf), first)
	// The group's bytes a page, times the pages it stands for.
	plain := int64(n) * ratioEveryPages * int64(len(group)) / int64(pages)
	r.noteDictRatio(d, int(plain), int(plain*int64(comp)/int64(first)))
}
