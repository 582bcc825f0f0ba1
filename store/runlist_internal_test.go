package store

import (
	"errors"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// runGroups is the group source of groupTrailer: group 3, members 4, 5
// and 6.
func runGroups(id crypt.ID) ([]blobEntry, bool) {
	blobs := groupTrailer().Blobs
	if id != blobs[1].ID {
		return nil, false
	}
	return groupMembers(blobs, 1), true
}

// runItemsSample is a reference, a run of members 1 and 2 (ids 5 and 6),
// a reference, and a run of member 0 (id 4).
func runItemsSample() ([]listItem, []ChunkRef) {
	items := []listItem{
		{ref: ChunkRef{ID: crypt.ID{9}, Len: 100}},
		{group: crypt.ID{3}, first: 1, count: 2},
		{ref: ChunkRef{ID: crypt.ID{5}, Len: 4096}},
		{group: crypt.ID{3}, first: 0, count: 1},
	}
	want := []ChunkRef{{crypt.ID{9}, 100}, {crypt.ID{5}, 4096}, {crypt.ID{6}, 1024}, {crypt.ID{5}, 4096}, {crypt.ID{4}, 4096}}
	return items, want
}

// TestRunListRoundTrip: a run list decodes to exactly the references a
// plain list of the same pages holds, lengths from the member entries,
// and names the groups its runs resolve through.
func TestRunListRoundTrip(t *testing.T) {
	items, want := runItemsSample()
	var seen []crypt.ID
	got, err := decodeRunList(encodeRunList(items), runGroups, func(g crypt.ID) { seen = append(seen, g) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
	if len(seen) != 2 || seen[0] != (crypt.ID{3}) || seen[1] != (crypt.ID{3}) {
		t.Fatalf("runs named groups %v, want group 3 twice", seen)
	}
}

// TestRunListHostile: a run list naming a group no delta holds, members
// past the group's, no members, more references than a list may hold, or
// bytes that are no run list, is malformed: an error, never a panic or a
// list of other pages.
func TestRunListHostile(t *testing.T) {
	run := func(g crypt.ID, first, count uint64) []byte {
		e := &encoder{}
		e.uvarint(1)
		e.byte1(1)
		e.raw(g[:])
		e.uvarint(first)
		e.uvarint(count)
		return e.b
	}
	many := &encoder{}
	many.uvarint(runListChunks + 1)
	for range runListChunks + 1 {
		many.byte1(0)
		many.raw(make([]byte, 32))
		many.uvarint(1)
	}
	// 16 runs of 16 members each reach the limit; one more page passes it.
	big := make([]blobEntry, 16)
	bigSource := func(crypt.ID) ([]blobEntry, bool) { return big, true }
	over := &encoder{}
	over.uvarint(17)
	for range 17 {
		over.byte1(1)
		over.raw(make([]byte, 32))
		over.uvarint(0)
		over.uvarint(16)
	}
	items, _ := runItemsSample()
	good := encodeRunList(items)
	cases := map[string]struct {
		p      []byte
		groups groupSource
	}{
		"a missing group":         {run(crypt.ID{8}, 0, 1), runGroups},
		"a first member past":     {run(crypt.ID{3}, 3, 1), runGroups},
		"far past":                {run(crypt.ID{3}, 1<<63, 1), runGroups},
		"members past":            {run(crypt.ID{3}, 1, 3), runGroups},
		"a count that overflows":  {run(crypt.ID{3}, 2, 1<<64-1), runGroups},
		"a zero count":            {run(crypt.ID{3}, 0, 0), runGroups},
		"too many items":          {many.b, runGroups},
		"too many pages in runs":  {over.b, bigSource},
		"an unknown item":         {[]byte{1, 2}, runGroups},
		"a truncated run":         {good[:len(good)-1], runGroups},
		"trailing bytes":          {append(slices.Clip(good), 0), runGroups},
		"a count past the items":  {append([]byte{9}, good[1:]...), runGroups},
		"a reference too large":   {append([]byte{1, 0}, append(make([]byte, 32), 0xff, 0xff, 0xff, 0xff, 0x0f)...), runGroups},
		"an empty group's run":    {run(crypt.ID{3}, 0, 1), func(crypt.ID) ([]blobEntry, bool) { return nil, true }},
		"no bytes":                {nil, runGroups},
		"a huge count, no items:": {[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, runGroups},
	}
	for name, c := range cases {
		refs, err := decodeRunList(c.p, c.groups, nil)
		if !errors.Is(err, errMalformed) {
			t.Errorf("%s: decoded to %d references, err %v; want malformed", name, len(refs), err)
		}
	}
}

// TestTrailerRunLists: a delta holding a run list is written as trailer
// version 7; a run list in an older trailer is malformed.
func TestTrailerRunLists(t *testing.T) {
	tr := groupTrailer()
	tr.Blobs[5].Type = blobRunList
	plain := tr.encode()
	if plain[0] != 7 {
		t.Fatalf("a delta with a run list is version %d, want 7", plain[0])
	}
	if _, err := decodeTrailer(plain); err != nil {
		t.Fatal(err)
	}
	plain[0] = 6
	if _, err := decodeTrailer(plain); !errors.Is(err, errMalformed) {
		t.Fatalf("a run list in a version 6 trailer: %v, want malformed", err)
	}
}

// TestGroupLiveNamedByRunList: a group a kept run list names is live
// although none of its members is used and read from it (the index may
// read them from another copy after a compaction), but only the copy
// runs resolve to; a group nothing names nor uses is dead.
func TestGroupLiveNamedByRunList(t *testing.T) {
	first := &delta{trailer: groupTrailer()}
	second := &delta{trailer: groupTrailer()}
	x := newBlobIndex()
	x.add(first)
	x.add(second)
	r := &Store{index: x}
	members := func(d *delta) []blobEntry { return groupMembers(d.trailer.Blobs, 1) }
	if r.groupLive(first, members(first), map[crypt.ID]struct{}{}) {
		t.Fatal("a group nothing uses nor names is live")
	}
	named := map[crypt.ID]struct{}{{3}: {}}
	if !r.groupLive(first, members(first), named) {
		t.Fatal("a group a run list names is dead")
	}
	if r.groupLive(second, members(second), named) {
		t.Fatal("the copy of a named group runs do not resolve to is live")
	}
}

// FuzzDecodeRunList: no run list makes the decoder panic or give more
// references than a list holds; what it accepts is plain references and
// whole runs of the group's members.
func FuzzDecodeRunList(f *testing.F) {
	items, _ := runItemsSample()
	f.Add(encodeRunList(items))
	f.Add(encodeRunList(items[1:2]))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, p []byte) {
		refs, err := decodeRunList(p, runGroups, nil)
		if err != nil {
			return
		}
		if len(refs) > runListChunks {
			t.Fatalf("%d references accepted, the limit is %d", len(refs), runListChunks)
		}
	})
}

// A run list holds at most runListChunks references, plain ones counted
// too: runs that fill the list, then plain references past it, then a run
// (whose room would wrap around) are refused, not decoded.
func TestRunListLimitCountsPlainReferences(t *testing.T) {
	var items []listItem
	// Group 3 has 3 members: runs of 3 fill 255 references.
	for len(items)*3 < runListChunks-1 {
		items = append(items, listItem{group: crypt.ID{3}, first: 0, count: 3})
	}
	for len(items) < runListChunks-1 {
		items = append(items, listItem{ref: ChunkRef{ID: crypt.ID{9}, Len: 100}})
	}
	items = append(items, listItem{group: crypt.ID{3}, first: 0, count: 3})
	refs, err := decodeRunList(encodeRunList(items), runGroups, nil)
	if err == nil {
		t.Fatalf("a run list of %d items decoding to %d references was accepted (limit %d)", len(items), len(refs), runListChunks)
	}
}
