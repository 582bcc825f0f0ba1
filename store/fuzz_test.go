package store

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// The decoders see bytes that passed authentication, so only a holder of
// the key could craft them; still, no input may make them panic or
// allocate without bound, and what they accept must round-trip.

func FuzzDecodeTrailer(f *testing.F) {
	t := &trailer{ID: [16]byte{1}, Seq: 3, Time: 42, Parent: deltaRef{ID: [16]byte{2}, Seq: 2},
		Live:      []deltaRef{{ID: [16]byte{2}, Seq: 2}},
		Blobs:     []blobEntry{{ID: crypt.ID{9}, Type: blobData, Comp: compZstd, Offset: 0, SealedLen: 100, RawLen: 200}, {ID: crypt.ID{8}, Type: blobTree, Offset: 100, SealedLen: 50, RawLen: 10}},
		Snapshots: []Snapshot{{ID: [16]byte{7}, Seq: 3, Hostname: "h", Source: "/s", Files: 2, Bytes: 9}},
		Forgotten: [][16]byte{{5}},
	}
	f.Add(t.encode())
	dict := crypt.ID{6}
	t.Dicts = []crypt.ID{dict}
	t.Blobs = append(t.Blobs, blobEntry{ID: dict, Type: blobDict, Comp: compZstd, Offset: 150, SealedLen: 60, RawLen: 80},
		blobEntry{ID: crypt.ID{5}, Type: blobData, Comp: compZstdDict, Ref: 1, Offset: 210, SealedLen: 30, RawLen: 90})
	f.Add(t.encode())              // version 4: with a dictionary table
	f.Add(groupTrailer().encode()) // version 6: a group and its members
	short := groupTrailer()
	short.Blobs[4].RawLen = 2048 // a member beyond its group
	f.Add(short.encode())
	f.Add(deviceTrailer().encode()) // version 8: a record another device took
	f.Add((&trailer{}).encode())
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		tr, err := decodeTrailer(p)
		if err != nil {
			return
		}
		again, err := decodeTrailer(tr.encode())
		if err != nil {
			t.Fatalf("re-encoded trailer does not decode: %v", err)
		}
		if len(again.Blobs) != len(tr.Blobs) || len(again.Live) != len(tr.Live) || len(again.Snapshots) != len(tr.Snapshots) {
			t.Fatal("trailer does not round-trip")
		}
		for i := range tr.Snapshots {
			if again.Snapshots[i].Device != tr.Snapshots[i].Device {
				t.Fatalf("snapshot %d's device does not round-trip", i)
			}
		}
		// Every member lies within a group that came before it.
		for i, e := range tr.Blobs {
			if !e.isMember() {
				continue
			}
			if int(e.Ref) >= i || tr.Blobs[e.Ref].Type != blobGroup || e.Offset+uint64(e.RawLen) > uint64(tr.Blobs[e.Ref].RawLen) {
				t.Fatalf("member %d: group %d, %d bytes at %d, accepted", i, e.Ref, e.RawLen, e.Offset)
			}
		}
	})
}

func FuzzDecodeTree(f *testing.F) {
	f.Add(encodeTree([]Node{
		{Name: "a.txt", Kind: KindFile, Mode: 0o644, Size: 3, Content: Content{Chunks: []ChunkRef{{ID: crypt.ID{1}, Len: 3}}}},
		{Name: "db", Kind: KindSQLite, Mode: 0o600, Size: 8192, PageSize: 4096, Content: Content{Lists: []crypt.ID{{2}}}},
		{Name: "d", Kind: KindDir, Mode: 0o755 | 1<<31, Subtree: crypt.ID{3}},
		{Name: "l", Kind: KindSymlink, Target: "a.txt"},
	}))
	f.Add(encodeList([]ChunkRef{{ID: crypt.ID{4}, Len: 4096}}))
	f.Add(encodePatch(3, []patchEntry{{Index: 0, Ref: ChunkRef{ID: crypt.ID{5}, Len: 4096}}, {Index: 2, Ref: ChunkRef{ID: crypt.ID{6}, Len: 10}}}))
	f.Add(encodeTree([]Node{{Name: "p.db", Kind: KindSQLite, Size: 8192, PageSize: 4096, Content: Content{Lists: []crypt.ID{{2}}, Patches: []crypt.ID{{7}}}}}))
	f.Add(encodeTree([]Node{{Name: "q.db", Kind: KindSQLite, Size: 8192, PageSize: 4096, Content: Content{Index: crypt.ID{3}, Patches: []crypt.ID{{7}, {8}}}}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		if nodes, err := decodeTree(p); err == nil {
			for _, n := range nodes {
				if !validName(n.Name) {
					t.Fatalf("accepted unsafe name %q", n.Name)
				}
			}
			if _, err := decodeTree(encodeTree(nodes)); err != nil {
				t.Fatalf("re-encoded tree does not decode: %v", err)
			}
		}
		if refs, err := decodeList(p); err == nil {
			if _, err := decodeList(encodeList(refs)); err != nil {
				t.Fatalf("re-encoded list does not decode: %v", err)
			}
		}
		if total, entries, err := decodePatch(p); err == nil {
			if _, _, err := decodePatch(encodePatch(total, entries)); err != nil {
				t.Fatalf("re-encoded patch does not decode: %v", err)
			}
			applyPatch(nil, total, entries)
		}
		decodeFooter(p)
	})
}

// FuzzDecodeToken: a file cache token is local state, but a damaged cache
// file must give ErrStaleCache, never a panic or a view past its bytes. A
// token decodes alike aligned (views) and not (copies), and round-trips.
func FuzzDecodeToken(f *testing.F) {
	refs := make([]ChunkRef, 20) // small: the fuzzer slows down on large inputs
	for i := range refs {
		refs[i] = ChunkRef{ID: crypt.ID{byte(i)}, Len: 4096}
	}
	tok := &fileToken{size: 20 << 12, content: Content{Lists: []crypt.ID{{1}, {2}}}, refs: RefsOf(refs), patched: 1}
	next := slices.Clone(refs)
	next[7] = ChunkRef{ID: crypt.ID{9}, Len: 100}
	next = append(next, ChunkRef{ID: crypt.ID{8}, Len: 1 << 31})
	nt := &fileToken{size: 1, content: Content{Lists: tok.content.Lists, Patches: []crypt.ID{{3}}}, refs: RefsOf(next), patched: 3}
	diff := diffOf(refs, next)
	f.Add(tok.encode())
	f.Add(nt.amend(tok.encode(), diff))
	f.Add(encodeVarintToken(tok))
	f.Add(nt.amend(encodeVarintToken(tok), diff))
	f.Add((&fileToken{size: 3, content: Content{Chunks: refs[:2]}}).encode())
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := decodeToken(p)
		odd, oddErr := decodeToken(append(make([]byte, 1, len(p)+1), p...)[1:])
		if (err == nil) != (oddErr == nil) {
			t.Fatalf("aligned: %v; misaligned: %v", err, oddErr)
		}
		if err != nil {
			if !errors.Is(err, ErrStaleCache) {
				t.Fatalf("%v, want ErrStaleCache", err)
			}
			return
		}
		if !slices.Equal(got.refs.Slice(), odd.refs.Slice()) {
			t.Fatal("aligned and misaligned decode to other references")
		}
		again, err := decodeToken(got.encode())
		if err != nil || again.size != got.size || again.patched != got.patched || !slices.Equal(again.refs.Slice(), got.refs.Slice()) {
			t.Fatalf("re-encoded token does not decode alike: %v", err)
		}
		if !bytes.Equal(again.encode(), got.encode()) {
			t.Fatal("token does not round-trip")
		}
	})
}
