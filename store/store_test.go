package store_test

import (
	"errors"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

func TestWrongKey(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("x"))
	e.Backup()
	other, _ := crypt.NewKey()
	if _, err := e.OpenFresh(other); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("got %v, want ErrWrongKey", err)
	}
}

func TestStateLock(t *testing.T) {
	e := storetest.NewEnv(t)
	if _, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	ro, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only beside a writer: %v", err)
	}
	ro.Close()
}

func TestSpoolSurvivesUnreachableRemote(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("first"))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("second"))
	res, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src})
	if err != nil {
		t.Fatal(err)
	}
	// Not flushed: a new process (after a crash) finds it in the spool.
	e.Store.Close()
	r2, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if p := r2.Pending(); len(p) != 1 || p[0].Seq != res.Snapshot.Seq {
		t.Fatalf("pending after restart: %+v", p)
	}
	if _, err := r2.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "second" {
		t.Fatalf("restored %q", b)
	}
}
