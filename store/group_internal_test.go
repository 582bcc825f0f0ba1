package store

import (
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// groupTrailer is a trailer with a page alone, then a group of three
// pages (4096, 4096 and 1024 bytes), then a list.
func groupTrailer() *trailer {
	dict := crypt.ID{1}
	return &trailer{Dicts: []crypt.ID{dict}, Blobs: []blobEntry{
		{ID: crypt.ID{2}, Type: blobData, Comp: compZstdDict, Ref: 1, SealedLen: 100, RawLen: 4096},
		{ID: crypt.ID{3}, Type: blobGroup, Comp: compZstdDict, Ref: 1, Offset: 100, SealedLen: 3000, RawLen: 9216},
		{ID: crypt.ID{4}, Type: blobData, Comp: compGroup, Ref: 1, RawLen: 4096},
		{ID: crypt.ID{5}, Type: blobData, Comp: compGroup, Ref: 1, Offset: 4096, RawLen: 4096},
		{ID: crypt.ID{6}, Type: blobData, Comp: compGroup, Ref: 1, Offset: 8192, RawLen: 1024},
		{ID: crypt.ID{7}, Type: blobList, Offset: 3100, SealedLen: 80, RawLen: 60},
	}}
}

// TestTrailerGroups: a delta with a group is written as trailer version
// 6, its members as short entries after their group, and read back with
// each member's group and place in it; without a group it stays version
// 5 or older, which chatsafe before groups reads.
func TestTrailerGroups(t *testing.T) {
	tr := groupTrailer()
	plain := tr.encode()
	if plain[0] != 6 {
		t.Fatalf("a delta with a group is version %d, want 6", plain[0])
	}
	got, err := decodeTrailer(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range tr.Blobs {
		g := got.Blobs[i]
		if g.ID != want.ID || g.Type != want.Type || g.Comp != want.Comp || g.Ref != want.Ref || g.Offset != want.Offset ||
			g.SealedLen != want.SealedLen || g.RawLen != want.RawLen {
			t.Fatalf("entry %d decoded as %+v, want %+v", i, g, want)
		}
	}
	if end := got.sealedEnd(); end != 3180 {
		t.Fatalf("sealed blobs end at %d, want 3180", end)
	}
	// A member costs its id, type, compression and length: 36 bytes for
	// a 4 KiB page, where an entry of its own costs about 40.
	alone := *tr
	alone.Blobs = []blobEntry{tr.Blobs[0], tr.Blobs[1], tr.Blobs[5]}
	if n := len(plain) - len(alone.encode()); n != 3*36 {
		t.Fatalf("three members cost %d bytes of trailer, want %d", n, 3*36)
	}
	tr.Blobs = tr.Blobs[:1]
	if v := tr.encode()[0]; v != 4 {
		t.Fatalf("a delta without groups is version %d, want 4", v)
	}
}

// TestHostileGroupTrailers: every way a trailer can misplace a group or
// its members is malformed, never a panic or a read outside the group.
func TestHostileGroupTrailers(t *testing.T) {
	cases := map[string]func(b []blobEntry) []blobEntry{
		"member beyond its group": func(b []blobEntry) []blobEntry { b[4].RawLen = 2048; return b },
		"group not filled":        func(b []blobEntry) []blobEntry { b[4].RawLen = 512; return b },
		"group never filled":      func(b []blobEntry) []blobEntry { return b[:4] },
		"member of no group":      func(b []blobEntry) []blobEntry { return append(b[:1], b[2:]...) },
		"member after a page":     func(b []blobEntry) []blobEntry { return append(b[:1], b[2], b[1], b[3], b[4], b[5]) },
		"group too large": func(b []blobEntry) []blobEntry {
			b[1].RawLen = maxGroupPlain + 1
			b[4].RawLen = maxGroupPlain + 1 - 8192
			return b
		},
		"empty group": func(b []blobEntry) []blobEntry {
			return []blobEntry{b[0], {ID: crypt.ID{9}, Type: blobGroup, Offset: 100, SealedLen: 40}}
		},
		"a group as member":  func(b []blobEntry) []blobEntry { b[3].Type = blobGroup; return b },
		"a list as member":   func(b []blobEntry) []blobEntry { b[3].Type = blobList; return b },
		"zero-length member": func(b []blobEntry) []blobEntry { b[2].RawLen = 0; b[3].RawLen = 8192; return b },
		"group on a base":    func(b []blobEntry) []blobEntry { b[1].Comp = compZstdBase; return b },
	}
	for name, mutate := range cases {
		tr := groupTrailer()
		tr.Blobs = mutate(tr.Blobs)
		if _, err := decodeTrailer(tr.encode()); !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
	// A version 5 trailer holding a group or a member.
	plain := groupTrailer().encode()
	plain[0] = 5
	if _, err := decodeTrailer(plain); !errors.Is(err, errMalformed) {
		t.Fatalf("version 5 trailer with a group: %v, want malformed", err)
	}
}

// A group kept only because a run list names it (its members are read
// from copies elsewhere, as merged forks can leave them) keeps its
// dictionary in use too: prune must not drop what the group needs.
func TestGroupNamedByARunListKeepsItsDictionary(t *testing.T) {
	alone := &delta{trailer: &trailer{Blobs: []blobEntry{
		{ID: crypt.ID{4}, Type: blobData, Comp: compZstd, SealedLen: 100, RawLen: 4096},
		{ID: crypt.ID{5}, Type: blobData, Comp: compZstd, Offset: 100, SealedLen: 100, RawLen: 4096},
		{ID: crypt.ID{6}, Type: blobData, Comp: compZstd, Offset: 200, SealedLen: 100, RawLen: 1024},
	}}}
	grouped := &delta{trailer: groupTrailer()}
	x := newBlobIndex()
	x.add(alone)
	x.add(grouped)
	r := &Store{index: x}
	used := map[crypt.ID]struct{}{{3}: {}, {4}: {}, {5}: {}, {6}: {}}
	if !r.groupLive(grouped, groupMembers(grouped.trailer.Blobs, 1), used) {
		t.Fatal("a group a run list names is not live")
	}
	r.addDictRefs(used)
	if _, ok := used[crypt.ID{1}]; !ok {
		t.Errorf("group 3 is kept (a run list names it) but its dictionary %v is not in use", crypt.ID{1})
	}
}
