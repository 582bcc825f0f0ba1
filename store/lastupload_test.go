package store_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestLastUploadRecorded: when a delta last reached each target is kept
// in the state directory, so a store opened later (a daemon restarted,
// or started after a `chatsafe backup`) knows it; a sync that uploads
// nothing writes nothing, and a read-only open reads it too.
func TestLastUploadRecorded(t *testing.T) {
	e := storetest.NewEnv(t)
	name := e.Store.Targets()[0].Name
	if at := e.Store.LastUpload(name); !at.IsZero() {
		t.Fatalf("a new repository's last upload: %v", at)
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("a"))
	start := time.Now()
	e.Backup()
	at := e.Store.LastUpload(name)
	if at.Before(start) || at.After(time.Now()) {
		t.Fatalf("last upload %v, want the backup's (from %v)", at, start)
	}
	record := filepath.Join(e.State, "repo-"+e.Store.ID(), "uploads.json")
	if err := os.Remove(record); err != nil {
		t.Fatalf("the record of the upload: %v", err)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(record); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a sync with nothing to upload wrote the record (%v)", err)
	}
	if got := e.Store.LastUpload(name); !got.Equal(at) {
		t.Fatalf("after a sync with nothing to upload, the last upload is %v, want %v", got, at)
	}

	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("b"))
	e.Backup()
	at = e.Store.LastUpload(name)
	e.Store.Close()
	for _, readOnly := range []bool{true, false} {
		r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, ReadOnly: readOnly})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.LastUpload(name); !got.Equal(at) {
			t.Errorf("opened again (read-only %v), the last upload is %v, want %v", readOnly, got, at)
		}
		r.Close()
	}
}
