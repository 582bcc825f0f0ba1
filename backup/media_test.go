package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// mediaChunk is where an already-compressed file is cut: every 2 MiB from
// its start (docs/format.md, "Chunk sizes").
const mediaChunk = 2 << 20

// fileRefs returns the chunk references the newest snapshot stores for
// the file at the root named name.
func fileRefs(t *testing.T, e *storetest.Env, name string) []store.ChunkRef {
	t.Helper()
	snaps := e.Store.Snapshots()
	nodes, err := e.Store.Tree(e.Ctx, snaps[len(snaps)-1].Tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == name {
			refs, err := e.Store.ChunkRefs(e.Ctx, n.Content)
			if err != nil {
				t.Fatal(err)
			}
			return refs
		}
	}
	t.Fatalf("%s is not in the snapshot", name)
	return nil
}

// restoredEqual restores the newest snapshot and compares it with the source.
func restoredEqual(t *testing.T, e *storetest.Env) {
	t.Helper()
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	want, got := storetest.DirDigest(t, e.Src, nil), storetest.DirDigest(t, dst, nil)
	if len(got) != len(want) {
		t.Fatalf("restored %d entries, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: restored %q, want %q", k, got[k], v)
		}
	}
}

// TestMediaCutAtFixedOffsets: an already-compressed file is cut every
// 2 MiB from its start, the last chunk shorter, and a photo under 2 MiB
// is one chunk; a text file is still cut by content, in small chunks.
func TestMediaCutAtFixedOffsets(t *testing.T) {
	e := storetest.NewEnv(t)
	video := storetest.RandBytes(11, 3*mediaChunk+12345)
	storetest.WriteFile(t, filepath.Join(e.Src, "clip.mp4"), video)
	storetest.WriteFile(t, filepath.Join(e.Src, "photo.jpg"), storetest.RandBytes(12, 1900<<10))
	storetest.WriteFile(t, filepath.Join(e.Src, "notes.txt"), storetest.RandBytes(13, 1<<20))
	e.Backup()

	want := []uint32{mediaChunk, mediaChunk, mediaChunk, 12345}
	var got []uint32
	for _, r := range fileRefs(t, e, "clip.mp4") {
		got = append(got, r.Len)
	}
	if !equalLens(got, want) {
		t.Fatalf("clip.mp4 cut into %v, want %v", got, want)
	}
	if refs := fileRefs(t, e, "photo.jpg"); len(refs) != 1 || refs[0].Len != 1900<<10 {
		t.Fatalf("photo.jpg cut into %d chunks, want one", len(refs))
	}
	for _, r := range fileRefs(t, e, "notes.txt") {
		if r.Len > 256<<10 {
			t.Fatalf("notes.txt has a chunk of %d bytes, want content-defined ones of at most 256 KiB", r.Len)
		}
	}
	restoredEqual(t, e)
}

func equalLens(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAppendedMediaStoresItsTail: a video that grows (a download resumed,
// a recording going on) keeps its whole chunks: the next backup stores
// what was appended and at most the one chunk the old end was inside of.
// An identical copy stores nothing. Both restore byte for byte.
func TestAppendedMediaStoresItsTail(t *testing.T) {
	e := storetest.NewEnv(t)
	p := filepath.Join(e.Src, "rec.webm")
	old := storetest.RandBytes(21, 5*mediaChunk+777)
	storetest.WriteFile(t, p, old)
	e.Backup()
	before := refSet(fileRefs(t, e, "rec.webm"))

	tail := storetest.RandBytes(22, 3*mediaChunk/2)
	grown := append(bytes.Clone(old), tail...)
	storetest.WriteFile(t, p, grown)
	storetest.WriteFile(t, filepath.Join(e.Src, "copy.webm"), grown)
	e.Backup()
	var fresh int64
	for _, r := range fileRefs(t, e, "rec.webm") {
		if !before[r.ID] {
			fresh += int64(r.Len)
		}
	}
	if limit := int64(len(tail)) + mediaChunk; fresh > limit {
		t.Fatalf("the grown file has %d bytes in new chunks, want at most %d (the tail and one chunk)", fresh, limit)
	}
	if fresh < int64(len(tail)) {
		t.Fatalf("the grown file has %d bytes in new chunks, fewer than the %d appended", fresh, len(tail))
	}
	a, b := fileRefs(t, e, "rec.webm"), fileRefs(t, e, "copy.webm")
	if len(a) != len(b) {
		t.Fatalf("the copy has %d chunks, the file %d", len(b), len(a))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("chunk %d of the copy differs from the file's", i)
		}
	}
	restoredEqual(t, e)
}

func refSet(refs []store.ChunkRef) map[crypt.ID]bool {
	set := map[crypt.ID]bool{}
	for _, r := range refs {
		set[r.ID] = true
	}
	return set
}

// TestMediaClassChangeRestores: a file read as text in one backup and as
// media in the next (renamed to a media extension) is cut the new way and
// restores byte for byte, as does the old snapshot.
func TestMediaClassChangeRestores(t *testing.T) {
	e := storetest.NewEnv(t)
	data := storetest.RandBytes(31, 2*mediaChunk+4096)
	storetest.WriteFile(t, filepath.Join(e.Src, "clip.bin"), data)
	e.Backup()
	first := e.Store.Snapshots()[0].IDString()
	if err := os.Rename(filepath.Join(e.Src, "clip.bin"), filepath.Join(e.Src, "clip.mov")); err != nil {
		t.Fatal(err)
	}
	e.Backup()
	if n := len(fileRefs(t, e, "clip.mov")); n != 3 {
		t.Fatalf("clip.mov cut into %d chunks, want 3", n)
	}
	restoredEqual(t, e)
	dst, err := e.RestoreFresh(first)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "clip.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the first snapshot's clip.bin restored wrong (%v)", err)
	}
}
