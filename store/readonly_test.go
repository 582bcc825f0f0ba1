package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestReadOnlyLeavesTheStateDirectoryAlone: restore, check, browse, mount
// and status open the store read-only, often beside a running daemon; such
// an open must not remove or change anything in the state directory, not
// a stale spooled delta, not a .partial file, not a damaged cached
// trailer. A writer's open still cleans them up.
func TestReadOnlyLeavesTheStateDirectoryAlone(t *testing.T) {
	e := storetest.NewEnv(t)
	for i := range 2 {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("note-%d.txt", i)), storetest.RandBytes(uint64(i), 10<<10))
		e.Backup()
	}
	old := storetest.DeltaFiles(t, e.RemoteDir)[0]
	stale, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("prune left %s on the remote (%v): the test needs it superseded", old, err)
	}
	dir := repoDir(t, e.State)
	// A spooled copy of the superseded delta (a device that compacted
	// before it synced), a crashed write, and a damaged cached trailer.
	storetest.WriteFile(t, filepath.Join(dir, "spool", filepath.Base(old)), stale)
	storetest.WriteFile(t, filepath.Join(dir, "spool", filepath.Base(old)+".partial"), stale[:100])
	caches, _ := filepath.Glob(filepath.Join(dir, "trailers", "*"))
	if len(caches) == 0 {
		t.Fatal("no cached trailer to damage")
	}
	for _, p := range caches {
		storetest.WriteFile(t, p, []byte("damaged"))
	}
	e.Store.Close()

	before := treeDigest(t, e.State)
	ro, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(e.Ctx, ro, check.Options{ReadData: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(e.Ctx, ro, restore.Options{Target: filepath.Join(t.TempDir(), "restored")}); err != nil {
		t.Fatal(err)
	}
	ro.Close()
	after := treeDigest(t, e.State)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("a read-only open changed %s: %q, now %q", p, v, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("a read-only open made %s", p)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	w, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range []string{filepath.Base(old), filepath.Base(old) + ".partial"} {
		if _, err := os.Stat(filepath.Join(dir, "spool", p)); !os.IsNotExist(err) {
			t.Errorf("a writer's open left %s in the spool (%v)", p, err)
		}
	}
}

// repoDir is the one repository directory under a state directory.
func repoDir(t *testing.T, state string) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(state, "repo-*"))
	if len(dirs) != 1 {
		t.Fatalf("%d repository directories in %s", len(dirs), state)
	}
	return dirs[0]
}

// treeDigest maps every path under dir to its mode, time and content.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d", fi.Mode(), fi.ModTime().UnixNano())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			v += " " + hex.EncodeToString(h[:8])
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadOnlyAfterTheSpoolWasUploaded: a read-only open (prune
// --dry-run beside the daemon) found a delta in the spool; the writer then
// uploads it and removes the spooled copy. Reading the delta later goes
// to the remote, where it now is, instead of failing on the spool file.
func TestReadOnlyAfterTheSpoolWasUploaded(t *testing.T) {
	e := storetest.NewEnv(t)
	for i := range 3 {
		storetest.WriteFile(t, filepath.Join(e.Src, "note.txt"), storetest.RandBytes(uint64(i), 10<<10))
		if i < 2 {
			e.Backup()
			continue
		}
		if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.Store.Pending()) == 0 {
		t.Fatal("the last backup's delta is not in the spool: the test needs it there")
	}
	ro, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Store.Pending()); n != 0 {
		t.Fatalf("%d deltas still spooled after the sync", n)
	}
	res, err := prune.Run(e.Ctx, ro, prune.Options{Policy: prune.Policy{KeepLast: 1}, DryRun: true})
	if err != nil {
		t.Fatalf("a dry run once the spooled delta was uploaded: %v", err)
	}
	if res.Forgotten != 2 {
		t.Fatalf("the dry run would forget %d snapshots, want 2", res.Forgotten)
	}
	if _, err := restore.Run(e.Ctx, ro, restore.Options{Target: filepath.Join(t.TempDir(), "restored")}); err != nil {
		t.Fatalf("a restore once the spooled delta was uploaded: %v", err)
	}
}
