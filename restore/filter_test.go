package restore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// files lists every entry under dir, directories with a trailing slash.
func files(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestRestoreIncludeExcludeTime(t *testing.T) {
	e := storetest.NewEnv(t)
	dbPath := filepath.Join(e.Src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	db.Insert(0, 1000, 250)
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "a.jpg"), []byte("photo a"))
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "voice", "n.opus"), []byte("voice"))
	storetest.WriteFile(t, filepath.Join(e.Src, "other", "x.txt"), []byte("x"))
	rows1 := storetest.TableRows(t, dbPath)
	first := e.Backup().Snapshot
	db.Insert(1000, 1200, 200)
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "b.jpg"), []byte("photo b"))
	e.Backup()

	run := func(opts restore.Options) (string, *restore.Result) {
		t.Helper()
		opts.Target = filepath.Join(t.TempDir(), "out")
		res, err := restore.Run(e.Ctx, e.Store, opts)
		if err != nil {
			t.Fatal(err)
		}
		return opts.Target, res
	}
	dst, _ := run(restore.Options{Include: []string{"media"}, Exclude: []string{"*.opus"}})
	if got := files(t, dst); got != "media/ media/a.jpg media/b.jpg media/voice/" {
		t.Errorf("--include media --exclude '*.opus': %s", got)
	}
	dst, res := run(restore.Options{Include: []string{"*.opus"}})
	if got := files(t, dst); got != "media/ media/voice/ media/voice/n.opus" || res.Files != 1 {
		t.Errorf("--include '*.opus': %s (%d files)", got, res.Files)
	}
	// Point in time: the database as it was at the first snapshot.
	dst, res = run(restore.Options{Time: first.Time.Add(time.Millisecond), Include: []string{"msgstore.db"}})
	if res.Snapshot.ID != first.ID || files(t, dst) != "msgstore.db" {
		t.Fatalf("--time picked %s, restored %s", res.Snapshot.ShortID(), files(t, dst))
	}
	if storetest.TableRows(t, filepath.Join(dst, "msgstore.db")) != rows1 {
		t.Error("the database restored at the first snapshot's time differs from the source then")
	}
	_, err := restore.Run(e.Ctx, e.Store, restore.Options{Time: first.Time.Add(-time.Second), Target: filepath.Join(t.TempDir(), "out")})
	if !errors.Is(err, store.ErrSnapshotNotFound) {
		t.Errorf("a time before the first snapshot: %v", err)
	}
}

// TestRestoreIncludeMatchingNothing: an --include that matches nothing in
// the snapshot is an error (like tar naming a member it does not have),
// and leaves no target behind where there was none, or the empty one
// there was.
func TestRestoreIncludeMatchingNothing(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "a.jpg"), []byte("photo a"))
	e.Backup()
	fresh := filepath.Join(t.TempDir(), "out")
	_, err := restore.Run(e.Ctx, e.Store, restore.Options{Include: []string{"nomatch*"}, Target: fresh})
	if !errors.Is(err, restore.ErrNothingMatched) || !strings.Contains(fmt.Sprint(err), "nomatch*") {
		t.Fatalf("restoring an include that matches nothing: %v, want ErrNothingMatched naming the pattern", err)
	}
	if _, err := os.Lstat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the restore that matched nothing left its new target behind (%v)", err)
	}
	empty := t.TempDir()
	if _, err := restore.Run(e.Ctx, e.Store, restore.Options{Include: []string{"nomatch*"}, Exclude: []string{"x"}, Target: empty}); !errors.Is(err, restore.ErrNothingMatched) {
		t.Fatalf("into an empty directory: %v, want ErrNothingMatched", err)
	}
	if _, err := os.Stat(empty); err != nil {
		t.Errorf("the restore removed the empty target it was given: %v", err)
	}
	// Excluding everything is the same: nothing to restore.
	if _, err := restore.Run(e.Ctx, e.Store, restore.Options{Exclude: []string{"*"}, Target: filepath.Join(t.TempDir(), "out")}); !errors.Is(err, restore.ErrNothingMatched) {
		t.Errorf("excluding everything: %v, want ErrNothingMatched", err)
	}
}
