package store

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
)

// dictTestStore is a Store with keys and a spool, enough for the writer's
// dictionary code.
func dictTestStore(t *testing.T) *Store {
	t.Helper()
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	aead, err := sealer(key, crypt.PreferredCipher())
	if err != nil {
		t.Fatal(err)
	}
	return &Store{aead: aead, ids: crypt.NewIDHasher(key.Subkey(crypt.PurposeBlobID)),
		log: zap.NewNop(), opts: Options{StateDir: t.TempDir(), DeltaSizeCap: 256 << 20}, index: newBlobIndex()} // the cap Open defaults to
}

// textPages are 4 KiB pages of text drawn from a vocabulary of n random
// words: pages of one vocabulary share what a dictionary holds.
func textPages(seed uint64, vocab, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := make([]string, vocab)
	for i := range words {
		var sb strings.Builder
		for range 6 + r.IntN(8) {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
		words[i] = sb.String()
	}
	pages := make([][]byte, n)
	for i := range pages {
		var b []byte
		for len(b) < 4096 {
			b = append(b, words[r.IntN(vocab)]...)
			b = append(b, ' ')
		}
		pages[i] = b[:4096]
	}
	return pages
}

// TestDictionaryRetrained: the writer makes a dictionary from the first
// pages, keeps it while the pages it compresses stay alike, and makes a
// new generation once their ratio falls a quarter behind; the delta holds
// each dictionary before the first page that uses it.
func TestDictionaryRetrained(t *testing.T) {
	r := dictTestStore(t)
	w, err := r.newDeltaWriter(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.abort()
	seal := func(pages [][]byte) (used int) {
		for _, p := range pages {
			id := r.ids.Sum(p)
			j := sealJob{w: w, id: id, typ: blobData}
			var buf, scratch []byte
			if err := r.sealNew(j, p, &buf, &scratch); err != nil {
				t.Fatal(err)
			}
			if w.blobs[len(w.blobs)-1].Comp == compZstdDict {
				used++
			}
		}
		return used
	}
	a := textPages(1, 300, 400)
	if used := seal(a); used < 300 {
		t.Fatalf("%d of %d pages used the dictionary", used, len(a))
	}
	first := r.dicts.cur
	if first == nil || first.gen != 1 || first.ratio == 0 || first.ratio >= 1000 {
		t.Fatalf("first dictionary: %+v", first)
	}
	// Pages of another vocabulary: a window's worth makes the writer
	// sample, and the sample makes generation 2.
	b := textPages(2, 300, 2*dictWindow/4096)
	seal(b)
	cur := r.dicts.cur
	if cur == first || cur.gen != 2 {
		t.Fatalf("after a window of unlike pages: generation %d, want 2", cur.gen)
	}
	// Every page names a dictionary that precedes it in the delta.
	seen := map[crypt.ID]bool{}
	dicts := 0
	for _, e := range w.blobs {
		if e.Type == blobDict {
			seen[e.ID] = true
			dicts++
		}
		if e.Comp == compZstdDict && (e.Ref == 0 || !seen[w.table[e.Ref-1]]) {
			t.Fatalf("blob %s uses dictionary (Ref %d of %v) before the delta holds it", e.ID, e.Ref, w.table)
		}
	}
	if dicts != 2 {
		t.Fatalf("the delta holds %d dictionaries, want 2", dicts)
	}
	// Alike pages again do not make a third.
	seal(textPages(2, 300, 2*dictWindow/4096))
	if r.dicts.cur.gen != 2 {
		t.Fatalf("generation %d after alike pages, want 2", r.dicts.cur.gen)
	}
}

// TestTrailerDictionaries: index entries name their dictionary through
// the trailer's table (version 4); a delta without dictionary pages is
// still written as version 3, and a table index out of range, or a
// dictionary compression in a version 3 trailer, is malformed.
func TestTrailerDictionaries(t *testing.T) {
	d1, d2 := crypt.ID{1}, crypt.ID{2}
	// The table holds d1 twice, as a writer's may: the encoded one once.
	tr := &trailer{ID: [16]byte{2}, Seq: 1, Dicts: []crypt.ID{d1, d2, d1}, Blobs: []blobEntry{
		{ID: d1, Type: blobDict, Comp: compZstd, SealedLen: 10, RawLen: 20},
		{ID: crypt.ID{3}, Type: blobData, Comp: compZstdDict, Ref: 1, Offset: 10, SealedLen: 10, RawLen: 40},
		{ID: crypt.ID{4}, Type: blobData, Comp: compZstdDict, Ref: 2, Offset: 20, SealedLen: 10, RawLen: 40},
		{ID: crypt.ID{5}, Type: blobData, Comp: compZstdDict, Ref: 3, Offset: 30, SealedLen: 10, RawLen: 40},
	}}
	p := tr.encode()
	if p[0] != 4 {
		t.Fatalf("trailer version %d, want 4", p[0])
	}
	got, err := decodeTrailer(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Dicts) != 2 {
		t.Fatalf("the decoded table is %v, want d1 and d2 once each", got.Dicts)
	}
	for i := range got.Blobs {
		e, want := &got.Blobs[i], &tr.Blobs[i]
		gd, gok := got.dictOf(e)
		wd, wok := tr.dictOf(want)
		if gok != wok || gd != wd || e.Comp != want.Comp {
			t.Fatalf("entry %d read back as %+v (dictionary %s), want %+v (%s)", i, e, gd, want, wd)
		}
	}
	if plain := (&trailer{Blobs: tr.Blobs[:1]}).encode(); plain[0] != 3 {
		t.Fatalf("a trailer without dictionary pages is version %d, want 3", plain[0])
	}
	// An entry is id(32) ‖ type ‖ comp ‖ table index ‖ …
	bad := append([]byte(nil), p...)
	id5 := crypt.ID{5}
	i := strings.Index(string(bad), string(id5[:]))
	bad[i+34] = 7
	if _, err := decodeTrailer(bad); !errors.Is(err, errMalformed) {
		t.Fatalf("table index out of range: %v", err)
	}
	v3 := (&trailer{Blobs: []blobEntry{{ID: crypt.ID{9}, Type: blobData, Comp: compZstd, SealedLen: 1, RawLen: 1}}}).encode()
	id9 := crypt.ID{9}
	j := strings.Index(string(v3), string(id9[:]))
	v3[j+33] = byte(compZstdDict)
	if _, err := decodeTrailer(v3); err == nil {
		t.Fatal("a version 3 trailer with a dictionary compression decoded")
	}
}

// TestDictionaryOverCap: a dictionary entry larger than the format's cap
// is refused before anything is read.
func TestDictionaryOverCap(t *testing.T) {
	r := dictTestStore(t)
	d := &delta{ref: deltaRef{Seq: 1}, spoolPath: "/nonexistent/never-read"}
	_, err := r.readDict(t.Context(), blobLoc{d: d, entry: &blobEntry{ID: crypt.ID{1}, Type: blobDict, SealedLen: 1 << 30, RawLen: 1 << 30}})
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("a 1 GiB dictionary: %v, want an integrity error about the limit", err)
	}
	_, err = r.readDict(t.Context(), blobLoc{d: d, entry: &blobEntry{ID: crypt.ID{1}, Type: blobData, SealedLen: 100, RawLen: 100}})
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a data blob named as a dictionary: %v", err)
	}
}

// TestZstdFormatDictionary: a dictionary of the zstd format (as
// dict.BuildZstdDict trains) is read too.
func TestZstdFormatDictionary(t *testing.T) {
	pages := textPages(3, 200, 64)
	content, err := dict.BuildZstdDict(pages, dict.Options{MaxDictSize: 16 << 10, HashBytes: 6, ZstdLevel: zstd.SpeedFastest})
	if err != nil {
		t.Fatal(err)
	}
	plain := encodeDict(1, 500, dictKindZstd, content)
	d, err := parseDict(crypt.ID{1}, plain)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := d.encoder(false)
	if err != nil {
		t.Fatal(err)
	}
	page := textPages(3, 200, 65)[64]
	out, err := decodeStated(d.dec, enc.EncodeAll(page, nil), nil, uint32(len(page)))
	if err != nil || string(out) != string(page) {
		t.Fatalf("round trip through a zstd-format dictionary: %v", err)
	}
}

// FuzzParseDict: a dictionary blob is authenticated before it is parsed,
// but whatever it holds, parsing and decoding with it must not panic, and
// decoding stays within the blob cap.
func FuzzParseDict(f *testing.F) {
	pages := textPages(4, 50, 10)
	f.Add(encodeDict(1, 400, dictKindRaw, pages[0]), []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0x58, 1, 0, 0})
	f.Add(encodeDict(2, 400, dictKindZstd, pages[1]), []byte{})
	f.Add([]byte{1, 1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{1})
	f.Fuzz(func(t *testing.T, plain, frame []byte) {
		d, err := parseDict(crypt.ID{7}, plain)
		if err != nil {
			return
		}
		if len(d.content) > dictContentMax {
			t.Fatalf("accepted %d bytes of content", len(d.content))
		}
		out, err := decodeStated(d.dec, frame, nil, maxGroupPlain)
		if err == nil && len(out) > maxGroupPlain {
			t.Fatalf("decoded %d bytes", len(out))
		}
	})
}

// TestIncompressibleBlobsSkipZstd: content the source marks as already
// compressed (media) is sealed as it is: no zstd attempt, with or without
// a dictionary, and its pages are not sampled for one.
func TestIncompressibleBlobsSkipZstd(t *testing.T) {
	r := dictTestStore(t)
	w, err := r.newDeltaWriter(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.abort()
	seal := func(p []byte, incompressible bool) blobEntry {
		t.Helper()
		j := sealJob{w: w, id: r.ids.Sum(p), typ: blobData, incompressible: incompressible}
		var buf, scratch []byte
		if err := r.sealNew(j, p, &buf, &scratch); err != nil {
			t.Fatal(err)
		}
		if scratch != nil {
			t.Fatal("an incompressible blob went through the compressor")
		}
		return w.blobs[len(w.blobs)-1]
	}
	// Text compresses well: only the flag keeps it uncompressed.
	pages := textPages(3, 300, 2*dictSample)
	for _, p := range pages[:dictSample] {
		if e := seal(p, true); e.Comp != compNone || int(e.SealedLen) != len(p)+crypt.Overhead {
			t.Fatalf("incompressible page stored with compression %d, %d bytes", e.Comp, e.SealedLen)
		}
	}
	if r.dicts.cur != nil || len(r.dicts.sample) != 0 {
		t.Fatalf("incompressible pages were sampled for a dictionary (%d)", len(r.dicts.sample))
	}
	for _, p := range pages[dictSample:] {
		sealNewPage := sealJob{w: w, id: r.ids.Sum(p), typ: blobData}
		var buf, scratch []byte
		if err := r.sealNew(sealNewPage, p, &buf, &scratch); err != nil {
			t.Fatal(err)
		}
	}
	if r.dicts.cur == nil {
		t.Fatal("no dictionary from compressible pages")
	}
	big := []byte(strings.Repeat("a chunk of a file that compresses ", 4000))
	for _, p := range [][]byte{pages[0], big} {
		if e := seal(p, true); e.Comp != compNone {
			t.Fatalf("incompressible blob of %d bytes stored with compression %d", len(p), e.Comp)
		}
	}
}

// TestDictionaryLevelPerDelta: a delta's first dictBulkAfter pages are
// compressed at dictLevel (a small change costs its bytes), the pages
// after them at the cheaper dictBulkLevel (a first backup costs its CPU).
func TestDictionaryLevelPerDelta(t *testing.T) {
	r := dictTestStore(t)
	w, err := r.newDeltaWriter(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.abort()
	pages := textPages(4, 300, dictSample+dictBulkAfter+200)
	levels := map[bool]int{}
	differ := 0
	for _, p := range pages {
		before := w.dictPages.Load()
		var buf, scratch []byte
		if err := r.sealNew(sealJob{w: w, id: r.ids.Sum(p), typ: blobData}, p, &buf, &scratch); err != nil {
			t.Fatal(err)
		}
		k := w.dictPages.Load()
		if k == before {
			continue // sealed before there was a dictionary
		}
		e := w.blobs[len(w.blobs)-1]
		if e.Comp != compZstdDict {
			t.Fatalf("page %d not compressed with the dictionary", k)
		}
		bulk := k > dictBulkAfter
		want, err := r.dicts.cur.encoder(bulk)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := r.dicts.cur.encoder(!bulk)
		n, m := len(want.EncodeAll(p, nil)), len(other.EncodeAll(p, nil))
		if int(e.SealedLen) != n+crypt.Overhead {
			t.Fatalf("page %d of the delta: %d sealed bytes, want %d (bulk level: %v)", k, e.SealedLen, n+crypt.Overhead, bulk)
		}
		if n != m {
			differ++
		}
		levels[bulk]++
	}
	if levels[false] != dictBulkAfter || levels[true] == 0 {
		t.Fatalf("pages at each level: %v", levels)
	}
	if differ == 0 {
		t.Fatal("the two levels compress every page to the same size: the test tells them apart by nothing")
	}
}
