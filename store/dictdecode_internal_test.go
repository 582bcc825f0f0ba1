package store

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/zprefix"
)

// countRewritten counts the frames decoded through zprefix until the
// test ends.
func countRewritten(t *testing.T) *int {
	n := new(int)
	rewrittenFrame = func() { *n++ }
	t.Cleanup(func() { rewrittenFrame = nil })
	return n
}

// A group made with the repository's dictionary decodes through zprefix
// to the group's pages; one the rewrite leaves (a checksum, which the
// writer never adds) still decodes, with the dictionary's decoder. The
// check before sealing passes the group, and fails it for other bytes.
func TestDictionaryFramesDecodeRewritten(t *testing.T) {
	r, _ := withFirstDict(t)
	d := r.dicts.cur
	if d == nil || d.pre == nil {
		t.Fatal("no raw dictionary")
	}
	rewritten := countRewritten(t)
	plain := bytes.Join(textPages(1, 300, groupPages), nil)
	enc, err := d.groupEncoder()
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(plain, nil)
	got, err := d.decodeStated(nil, frame, []byte("x"), uint32(len(plain)))
	if err != nil || !bytes.Equal(got, append([]byte("x"), plain...)) {
		t.Fatalf("group: %v", err)
	}
	if *rewritten != 1 {
		t.Fatalf("%d of 1 frame decoded through zprefix", *rewritten)
	}
	if !d.decodesTo(nil, frame, plain, new([]byte)) {
		t.Fatal("the check before sealing failed a good group")
	}
	if d.decodesTo(nil, frame, plain[1:], nil) || d.decodesTo(nil, frame, append([]byte{0}, plain[1:]...), new([]byte)) {
		t.Fatal("the check passed a frame for other bytes")
	}
	withCRC, err := zstd.NewWriter(nil, append(d.encoderOptions(zstd.SpeedDefault), zstd.WithEncoderCRC(true))...)
	if err != nil {
		t.Fatal(err)
	}
	before := *rewritten
	got, err = d.decodeStated(nil, withCRC.EncodeAll(plain, nil), nil, uint32(len(plain)))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("a frame zprefix leaves: %v", err)
	}
	if *rewritten != before {
		t.Fatal("a frame with a checksum went through zprefix")
	}
}

// A page on its previous version decodes through zprefix; one the
// rewrite leaves decodes with the pooled decoder.
func TestPagesOnBaseDecodeRewritten(t *testing.T) {
	r := dictTestStore(t)
	pages := textPages(3, 300, 2)
	base, plain := pages[0], append(bytes.Clone(pages[0][:3000]), pages[1][:1096]...)
	baseID := r.ids.Sum(base)
	rewritten := countRewritten(t)
	payload, err := compressOnBase(baseID, base, plain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.decompressOnBase(baseID, base, payload, nil, uint32(len(plain)))
	if err != nil || !bytes.Equal(got, plain) || *rewritten != 1 {
		t.Fatalf("page on a base: %v, %d rewritten", err, *rewritten)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true), zstd.WithEncoderDictRaw(baseZstdID(baseID), base))
	if err != nil {
		t.Fatal(err)
	}
	got, err = r.decompressOnBase(baseID, base, enc.EncodeAll(plain, nil), nil, uint32(len(plain)))
	if err != nil || !bytes.Equal(got, plain) || *rewritten != 1 {
		t.Fatalf("a frame zprefix leaves: %v, %d rewritten", err, *rewritten)
	}
}

// The store's reads (decompress, as restores and checks call it) take
// a group through zprefix, and a lone page with the dictionary, much
// smaller than it, through the dictionary's decoder.
func TestStoreReadsGroupsRewritten(t *testing.T) {
	r, _ := withFirstDict(t)
	d := r.dicts.cur
	r.dicts.loaded = map[crypt.ID]*dictionary{d.id: d}
	rewritten := countRewritten(t)
	read := func(plain, frame []byte) {
		t.Helper()
		tr := &trailer{Dicts: []crypt.ID{d.id}}
		loc := blobLoc{d: &delta{trailer: tr}, entry: &blobEntry{ID: crypt.ID{9}, Comp: compZstdDict, Ref: 1, RawLen: uint32(len(plain))}}
		got, err := r.decompress(context.Background(), loc, frame, nil)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: %v", len(plain), err)
		}
	}
	group := bytes.Join(textPages(1, 300, groupPages), nil)
	enc, err := d.groupEncoder()
	if err != nil {
		t.Fatal(err)
	}
	read(group, enc.EncodeAll(group, nil))
	if *rewritten != 1 {
		t.Fatalf("the group: %d frames rewritten, want 1", *rewritten)
	}
	if len(d.content) <= 4*4096 {
		t.Fatalf("the test needs a dictionary over four pages (%d bytes)", len(d.content))
	}
	page := textPages(2, 300, 1)[0]
	read(page, enc.EncodeAll(page, nil))
	if *rewritten != 1 {
		t.Fatal("a lone page went through zprefix")
	}
}

// A frame zprefix fails on (here: its dictionary cut short, as a bug in
// the rewrite would) is decoded with the dictionary's decoder, and the
// failure is warned about, once; a frame zprefix only declines is not.
func TestRewriteFailureWarned(t *testing.T) {
	r, logs, d, enc, plain, frame := loggedGroupFrame(t)
	d.pre = zprefix.New(d.zstdID(), d.content[len(d.content)/2:])
	for range 2 {
		got, err := d.decodeStated(r, frame, nil, uint32(len(plain)))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("after the rewrite failed: %v", err)
		}
	}
	if warned := logs.FilterLevelExact(zap.WarnLevel).Len(); warned != 1 || r.rewriteFailed.Load() != 2 {
		t.Fatalf("%d warnings for %d failures, want 1 for 2", warned, r.rewriteFailed.Load())
	}
	page := textPages(2, 300, 1)[0]
	if _, err := d.decodeStated(r, enc.EncodeAll(page, nil), nil, uint32(len(page))); err != nil || r.rewriteFailed.Load() != 2 {
		t.Fatalf("a declined frame: %v, %d failures", err, r.rewriteFailed.Load())
	}
}

// The check before sealing decodes a group through zprefix in the room
// it is given (or a pooled buffer), as readers will: a frame zprefix
// gets wrong fails it even where the dictionary's decoder gets it right,
// one zprefix fails on passes (readers fall back to that decoder), and
// both are warned of; a spoiled frame fails it without a warning about
// zprefix.
func TestCheckBeforeSealingThroughRewrite(t *testing.T) {
	r, logs, d, _, plain, frame := loggedGroupFrame(t)
	rewritten := countRewritten(t)
	room := new([]byte)
	if !d.decodesTo(r, frame, plain, room) || *rewritten != 1 {
		t.Fatalf("a good group: %d frames rewritten", *rewritten)
	}
	if cap(*room) != d.pre.Room(len(plain)) {
		t.Fatalf("room grown to %d bytes, want %d", cap(*room), d.pre.Room(len(plain)))
	}
	kept := &(*room)[:1][0]
	if !d.decodesTo(r, frame, plain, room) || &(*room)[:1][0] != kept {
		t.Fatal("the room was not reused")
	}
	spoiled := bytes.Clone(frame)
	spoiled[len(spoiled)/2] ^= 0x55
	if d.decodesTo(r, spoiled, plain, room) || r.rewriteFailed.Load() != 0 {
		t.Fatalf("a spoiled frame: %d rewrite failures", r.rewriteFailed.Load())
	}

	good := d.pre
	d.pre = zprefix.New(d.zstdID(), d.content[len(d.content)/2:]) // half the history
	if err := rewrittenDecodesTo(d.pre, frame, plain, room); err == nil || errors.Is(err, errRewriteMismatch) {
		t.Fatalf("the test needs zprefix to fail on the frame: %v", err)
	}
	passed := d.decodesTo(r, frame, plain, room)
	d.pre = good
	if !passed || r.rewriteFailed.Load() != 1 {
		t.Fatalf("a frame zprefix fails on: passed %v, %d rewrite failures", passed, r.rewriteFailed.Load())
	}

	SpoilRewrites(t)
	for _, room := range []*[]byte{room, nil} {
		before := r.rewriteFailed.Load()
		if d.decodesTo(r, frame, plain, room) || r.rewriteFailed.Load() != before+1 {
			t.Fatalf("a frame zprefix gets wrong (room %v): passed, or %d rewrite failures", room != nil, r.rewriteFailed.Load())
		}
	}
	if warned := logs.FilterLevelExact(zap.WarnLevel).Len(); warned != 1 {
		t.Fatalf("%d warnings, want 1 (then at most one an hour)", warned)
	}
}

// loggedGroupFrame is a store with its first dictionary d, logging into
// logs, and a group of pages, plain, compressed by d's group encoder enc
// into frame.
func loggedGroupFrame(t *testing.T) (r *Store, logs *observer.ObservedLogs, d *dictionary, enc *zstd.Encoder, plain, frame []byte) {
	t.Helper()
	r, _ = withFirstDict(t)
	var core zapcore.Core
	core, logs = observer.New(zap.DebugLevel)
	r.log = zap.New(core)
	d = r.dicts.cur
	plain = bytes.Join(textPages(1, 300, groupPages), nil)
	enc, err := d.groupEncoder()
	if err != nil {
		t.Fatal(err)
	}
	return r, logs, d, enc, plain, enc.EncodeAll(plain, nil)
}
