//go:build linux

package backup_test

import (
	"errors"
	"fmt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/tmpfs"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// fillUp writes a filler file until the file system at dir has at most
// leave bytes free.
func fillUp(t *testing.T, dir string, leave int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	p := filepath.Join(dir, "filler")
	if err := os.WriteFile(p, make([]byte, max(free-leave, 0)), 0o600); err != nil {
		t.Fatalf("filling %s: %v", dir, err)
	}
	return p
}

// TestSpoolDiskFull: the state directory (spool, caches) is on a full
// disk. The backup fails with an error that says so; nothing is left
// half-written and the committed history is intact; once space is back,
// the next backup completes and check --read-data passes.
func TestSpoolDiskFull(t *testing.T) {
	state := tmpfs.Mount(t, 16<<20)
	ctx := t.Context()
	src, remoteDir := t.TempDir(), t.TempDir()
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.Init(ctx, storetest.OpenRemote(t, remoteDir), key, store.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	db := storetest.OpenChatDB(t, filepath.Join(src, "msgstore.db"))
	db.Insert(0, 500, 100)
	storetest.WriteFile(t, filepath.Join(src, "Media", "IMG-1.jpg"), append([]byte{0xff, 0xd8, 0xff}, storetest.RandBytes(21, 300<<10)...))
	first, err := backup.Run(ctx, r, backup.Options{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// A 3 MB video arrives; the disk has 256 KiB left.
	storetest.WriteFile(t, filepath.Join(src, "Media", "VID-2.mp4"), storetest.RandBytes(22, 3<<20))
	db.Insert(500, 600, 100)
	filler := fillUp(t, state, 256<<10)
	_, err = backup.Run(ctx, r, backup.Options{Source: src})
	if err == nil {
		t.Fatal("backup onto a full disk succeeded")
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("backup onto a full disk: %v; want an error that says the disk is full", err)
	}
	t.Logf("backup on a full disk: %v", err)
	if n := len(r.Pending()); n != 0 {
		t.Fatalf("%d deltas pending after a failed backup", n)
	}
	leftovers, _ := filepath.Glob(filepath.Join(state, "repo-*", "spool", "*"))
	if len(leftovers) != 0 {
		t.Fatalf("a failed backup left %v in the spool", leftovers)
	}
	if snaps := r.Snapshots(); len(snaps) != 1 || snaps[0].ID != first.Snapshot.ID {
		t.Fatalf("snapshots after the failed backup: %d", len(snaps))
	}
	if _, err := check.Run(ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check after the failed backup: %v", err)
	}

	// Space comes back.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	res, err := backup.Run(ctx, r, backup.Options{Source: src})
	if err != nil {
		t.Fatalf("backup once space is back: %v", err)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if res.Snapshot.Seq != first.Snapshot.Seq+1 {
		t.Fatalf("snapshot seq %d after the failure, want %d", res.Snapshot.Seq, first.Snapshot.Seq+1)
	}
	fresh, err := store.Open(ctx, storetest.OpenRemote(t, remoteDir), key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := check.Run(ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data once space is back: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(ctx, fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	skipDB := func(rel string) bool { return strings.HasPrefix(rel, "msgstore.db") }
	if w, g := fmt.Sprint(storetest.DirDigest(t, src, skipDB)), fmt.Sprint(storetest.DirDigest(t, dst, skipDB)); w != g {
		t.Fatalf("restore differs:\n got %s\nwant %s", g, w)
	}
	if w, g := storetest.TableRows(t, filepath.Join(src, "msgstore.db")), storetest.TableRows(t, filepath.Join(dst, "msgstore.db")); w != g {
		t.Fatal("restored database differs")
	}
}
