package store

import (
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

func TestApplyPatch(t *testing.T) {
	ref := func(b byte) ChunkRef { return ChunkRef{ID: crypt.ID{b}, Len: 4096} }
	base := []ChunkRef{ref(1), ref(2), ref(3), ref(4)}
	for _, tc := range []struct {
		name    string
		total   int
		entries []patchEntry
		want    []ChunkRef
		bad     bool
	}{
		{"replace", 4, []patchEntry{{1, ref(9)}, {3, ref(8)}}, []ChunkRef{ref(1), ref(9), ref(3), ref(8)}, false},
		{"grow", 6, []patchEntry{{0, ref(7)}, {4, ref(5)}, {5, ref(6)}}, []ChunkRef{ref(7), ref(2), ref(3), ref(4), ref(5), ref(6)}, false},
		{"shrink", 2, nil, []ChunkRef{ref(1), ref(2)}, false},
		{"hole", 6, []patchEntry{{5, ref(6)}}, nil, true},
	} {
		total, entries, err := decodePatch(encodePatch(tc.total, tc.entries))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := applyPatch(base, total, entries)
		if tc.bad {
			if err == nil {
				t.Fatalf("%s: a patch with a hole was accepted", tc.name)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%s: %v %v", tc.name, got, err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s: chunk %d is %v, want %v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
	// A patch index beyond its total is malformed.
	bad := encodePatch(2, []patchEntry{{3, ref(1)}})
	if _, _, err := decodePatch(bad); err == nil {
		t.Fatal("decodePatch accepted an index beyond the file")
	}
}
