package store

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// sealedGroupRange is a range holding one group of pages, sealed as a
// writer seals one (compressed, under the id of its members' ids), and
// the locations of its members; the member at wrong has an id that is
// not its page's (-1: none), as a writer bug or a wrong decompression
// would leave it.
func sealedGroupRange(t *testing.T, r *Store, pages [][]byte, wrong int) (raw []byte, locs []blobLoc) {
	t.Helper()
	var plain []byte
	blobs := []blobEntry{{Type: blobGroup, Comp: compZstd}}
	for i, p := range pages {
		id := r.ids.Sum(p)
		if i == wrong {
			id[0] ^= 1
		}
		blobs = append(blobs, blobEntry{ID: id, Type: blobData, Comp: compGroup, Ref: 0, Offset: uint64(len(plain)), RawLen: uint32(len(p))})
		plain = append(plain, p...)
	}
	g := &blobs[0]
	g.ID, g.RawLen = r.groupID(blobs[1:]), uint32(len(plain))
	enc, _ := zstdCodecs()
	raw = r.aead.Seal(nil, enc.EncodeAll(plain, nil), crypt.AssociatedData(adBlob, r.cfg.RepoID, g.ID[:]))
	g.SealedLen = uint32(len(raw))
	d := &delta{trailer: &trailer{Blobs: blobs}}
	for i := range pages {
		locs = append(locs, blobLoc{d: d, entry: &d.trailer.Blobs[i+1]})
	}
	return raw, locs
}

// openLocs opens locs, all in the range raw, as a fetch does, and
// returns the batch's data and ends.
func openLocs(t *testing.T, r *Store, raw []byte, locs []blobLoc) ([]byte, []int, error) {
	t.Helper()
	plain := 0
	for _, l := range locs {
		plain += int(l.entry.RawLen)
	}
	var data []byte
	var ends []int
	err := r.openRange(t.Context(), fetchJob{fr: &fetchRange{d: locs[0].d, hi: uint64(len(raw)), plain: plain, locs: locs}, raw: raw},
		&openScratch{}, false, func(_ *fetchRange, b *Batch) error {
			data, ends = bytes.Clone(b.Data), append([]int(nil), b.Ends...)
			return nil
		})
	return data, ends, err
}

// A fetch of every page of a group opens it straight into its batch
// (wholeGroup); a fetch of some of them through the scratch buffer. Both
// give the pages back to back, and both refuse a page that does not
// match its id, naming it, though the group's seal is good.
func TestOpenGroupIntoBatch(t *testing.T) {
	r := dictTestStore(t)
	pages := textPages(1, 200, 3)
	pages[2] = pages[2][:1000]
	raw, locs := sealedGroupRange(t, r, pages, -1)
	if n := wholeGroup(locs); n != 3 {
		t.Fatalf("a whole group's members: wholeGroup %d, want 3", n)
	}
	if n := wholeGroup(locs[1:]); n != 0 {
		t.Fatalf("a group's members but the first: wholeGroup %d, want 0", n)
	}
	for _, tc := range []struct {
		name string
		take []int
	}{{"whole group", []int{0, 1, 2}}, {"part of it", []int{1, 2}}} {
		var want []byte
		var asked []blobLoc
		for _, i := range tc.take {
			want = append(want, pages[i]...)
			asked = append(asked, locs[i])
		}
		data, ends, err := openLocs(t, r, raw, asked)
		if err != nil || !bytes.Equal(data, want) || ends[len(ends)-1] != len(want) || ends[0] != len(pages[tc.take[0]]) {
			t.Fatalf("%s: %d bytes, ends %v, %v; want the pages back to back", tc.name, len(data), ends, err)
		}
	}
	bad := 1
	raw, locs = sealedGroupRange(t, r, pages, bad)
	for _, asked := range [][]blobLoc{locs, locs[1:]} {
		_, _, err := openLocs(t, r, raw, asked)
		if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), locs[bad].entry.ID.String()) {
			t.Fatalf("a group with a page that does not match its id (%d of its pages asked): %v, want an integrity error naming the page", len(asked), err)
		}
	}
}

// sealedGroupsRange is a range holding several groups of pages back to
// back, each sealed as sealedGroupRange seals one, and the locations of
// every member, in order.
func sealedGroupsRange(t *testing.T, r *Store, groups [][][]byte) (raw []byte, locs []blobLoc) {
	t.Helper()
	var blobs []blobEntry
	enc, _ := zstdCodecs()
	for _, pages := range groups {
		gi := len(blobs)
		blobs = append(blobs, blobEntry{Type: blobGroup, Comp: compZstd, Offset: uint64(len(raw))})
		var plain []byte
		for _, p := range pages {
			blobs = append(blobs, blobEntry{ID: r.ids.Sum(p), Type: blobData, Comp: compGroup, Ref: uint32(gi), Offset: uint64(len(plain)), RawLen: uint32(len(p))})
			plain = append(plain, p...)
		}
		g := &blobs[gi]
		g.ID, g.RawLen = r.groupID(blobs[gi+1:]), uint32(len(plain))
		n := len(raw)
		raw = r.aead.Seal(raw, enc.EncodeAll(plain, nil), crypt.AssociatedData(adBlob, r.cfg.RepoID, g.ID[:]))
		g.SealedLen = uint32(len(raw) - n)
	}
	d := &delta{trailer: &trailer{Blobs: blobs}}
	for i := range blobs {
		if blobs[i].isMember() {
			locs = append(locs, blobLoc{d: d, entry: &d.trailer.Blobs[i]})
		}
	}
	return raw, locs
}

// Two whole groups in one range: the second group's pages land after the
// first's, and each page's end counts from the batch's start, not from
// its group's.
func TestTwoGroupsInOneRange(t *testing.T) {
	r := dictTestStore(t)
	first, second := textPages(1, 200, 2), textPages(7, 200, 3)
	second[1] = second[1][:1500]
	raw, locs := sealedGroupsRange(t, r, [][][]byte{first, second})
	if n := wholeGroup(locs); n != 2 {
		t.Fatalf("the first group: wholeGroup %d, want 2", n)
	}
	var want []byte
	var wantEnds []int
	for _, p := range append(append([][]byte(nil), first...), second...) {
		want = append(want, p...)
		wantEnds = append(wantEnds, len(want))
	}
	data, ends, err := openLocs(t, r, raw, locs)
	if err != nil || !bytes.Equal(data, want) || !slices.Equal(ends, wantEnds) {
		t.Fatalf("two groups: %d bytes (want %d), ends %v (want %v), %v", len(data), len(want), ends, wantEnds, err)
	}
}
