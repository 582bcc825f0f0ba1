package restore_test

import (
	"errors"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

func TestRestoreOlderSnapshot(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("version one"))
	first := e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("version two, longer"))
	e.Backup()
	dst, err := e.RestoreFresh(first.Snapshot.ShortID())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "version one" {
		t.Fatalf("restored %q", b)
	}
	if _, err := e.RestoreFresh("ffffffff"); !errors.Is(err, store.ErrSnapshotNotFound) {
		t.Fatalf("unknown snapshot: %v", err)
	}
}

func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("x"))
	e.Backup()
	dst := t.TempDir()
	storetest.WriteFile(t, filepath.Join(dst, "keep.txt"), []byte("mine"))
	if _, err := restore.Run(e.Ctx, e.Store, restore.Options{Target: dst}); !errors.Is(err, restore.ErrTargetNotEmpty) {
		t.Fatalf("got %v, want ErrTargetNotEmpty", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "a.txt")); !os.IsNotExist(err) {
		t.Fatal("restore wrote into a non-empty target")
	}
	if _, err := restore.Run(e.Ctx, e.Store, restore.Options{Target: dst, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "x" {
		t.Fatalf("forced restore wrote %q", b)
	}
}
