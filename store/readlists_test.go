package store_test

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A file's lists are decoded into one slice, each at the place this
// writer's cut (64 references a list) gives it. Lists cut otherwise (by
// another writer, or a hostile one) are joined in order all the same,
// and a list met twice is placed at both of its places.
func TestChunkRefsJoinsListsOfAnyLength(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := 0
	refsOf := func(n int) []store.ChunkRef {
		refs := make([]store.ChunkRef, n)
		for i := range refs {
			binary.LittleEndian.PutUint32(refs[i].ID[:], uint32(next))
			refs[i].Len = uint32(100 + next)
			next++
		}
		return refs
	}
	cases := []struct {
		name  string
		sizes []int // list lengths; a negative one repeats the list at that position
	}{
		{"the writer's cut", []int{64, 64, 64, 20}},
		{"a repeated list", []int{64, 64, -0, 64, 1}},
		{"one full list", []int{64}},
		{"a long list", []int{64, 100, 64, 3}},
		{"a short list inside", []int{64, 10, 64, 64}},
		{"a long last list", []int{64, 65}},
		{"short lists repeated", []int{5, 7, -0, -1, 2}},
	}
	for k, tc := range cases {
		var lists []crypt.ID
		var want []store.ChunkRef
		var made [][]store.ChunkRef
		for _, n := range tc.sizes {
			var l []store.ChunkRef
			if n <= 0 && len(made) > 0 {
				l = made[-n]
			} else {
				l = refsOf(n)
			}
			made = append(made, l)
			id, err := store.StoreList(w, l)
			if err != nil {
				t.Fatal(err)
			}
			lists = append(lists, id)
			want = append(want, l...)
		}
		c := store.Content{Lists: lists}
		commitContent(t, w, byte(k+1), fmt.Sprint("f", k), c, want)
		got, err := r.ChunkRefs(t.Context(), c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d references, want %d in the lists' order", tc.name, len(got), len(want))
		}
	}
}

// commitContent commits, as snapshot id, a tree of one file, name, whose
// content is c (refs resolved).
func commitContent(t *testing.T, w *store.Writer, id byte, name string, c store.Content, refs []store.ChunkRef) {
	t.Helper()
	var size uint64
	for _, ref := range refs {
		size += uint64(ref.Len)
	}
	now := time.Now()
	root, err := w.Tree([]store.Node{{Name: name, Kind: store.KindFile, Mode: 0o600, ModTime: now.UnixNano(), Size: size, Content: c}})
	if err != nil {
		t.Fatal(err)
	}
	snap := store.Snapshot{ID: [16]byte{id}, Time: now.UTC(), Tree: root, Hostname: "test", Source: "/test", Files: 1, Bytes: size,
		RootMode: fs.ModeDir | 0o700, RootModTime: now.UnixNano()}
	if _, err := w.Commit(snap); err != nil {
		t.Fatal(err)
	}
}
