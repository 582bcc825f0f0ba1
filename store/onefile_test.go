package store_test

import (
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/store"
)

// storeChunk stores b through w as one chunk and waits for its reference.
func storeChunk(t *testing.T, w *store.Writer, b []byte, incompressible bool) store.ChunkRef {
	t.Helper()
	var ref store.ChunkRef
	var pending sync.WaitGroup
	if err := w.Chunk(b, incompressible, true, &ref, &pending); err != nil {
		t.Fatal(err)
	}
	pending.Wait()
	return ref
}

// commitOneFile commits, as snapshot id, a tree of one file, name, made
// of refs, and returns the file's content.
func commitOneFile(t *testing.T, w *store.Writer, id byte, name string, refs []store.ChunkRef) store.Content {
	t.Helper()
	var size int64
	for _, ref := range refs {
		size += int64(ref.Len)
	}
	c, _, err := w.FileContent(store.RefsOf(refs), size, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	root, err := w.Tree([]store.Node{{Name: name, Kind: store.KindFile, Mode: 0o600, ModTime: now.UnixNano(), Size: uint64(size), Content: c}})
	if err != nil {
		t.Fatal(err)
	}
	snap := store.Snapshot{ID: [16]byte{id}, Time: now.UTC(), Tree: root, Hostname: "test", Source: "/test", Files: 1, Bytes: uint64(size),
		RootMode: fs.ModeDir | 0o700, RootModTime: now.UnixNano()}
	if _, err := w.Commit(snap); err != nil {
		t.Fatal(err)
	}
	return c
}
