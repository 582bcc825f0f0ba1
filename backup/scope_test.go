package backup_test

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
)

// A cycle scoped to the paths that changed stores the tree a full scan
// stores: the same root, and a restore equal to the source.
func TestScopedCycle(t *testing.T) {
	e := storetest.NewEnv(t)
	for d := 0; d < 5; d++ {
		for f := 0; f < 20; f++ {
			storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("media/%d/%d.jpg", d, f)), storetest.RandBytes(uint64(d*100+f), 3000))
		}
	}
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "media/3/new.jpg"), storetest.RandBytes(999, 5000))
	if err := os.Remove(filepath.Join(e.Src, "media/1/4.jpg")); err != nil {
		t.Fatal(err)
	}
	scoped, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src, Scope: []string{"media/3/new.jpg", "media/1/4.jpg"}})
	if err != nil {
		t.Fatal(err)
	}
	// (Files written less than 2 s before a scan are looked at again
	// whatever the scope, so this test cannot count what was carried;
	// source.TestScopedScan does.)
	if scoped.Unchanged {
		t.Fatal("the scoped cycle saw no change")
	}
	full, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src})
	if err != nil {
		t.Fatal(err)
	}
	if full.Snapshot.Tree != scoped.Snapshot.Tree || !full.Unchanged {
		t.Fatalf("a full scan after the scoped one stores another tree (unchanged %v)", full.Unchanged)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	dst, err := e.RestoreFresh(scoped.Snapshot.IDString())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.DirDigest(t, dst, nil), storetest.DirDigest(t, e.Src, nil); !maps.Equal(got, want) {
		t.Fatalf("restored tree differs from the source:\n%v\n%v", got, want)
	}
}

// A scoped cycle's snapshot counts the files and bytes of the directories
// it carried over whole, as a full scan counts them: `snapshots`, `status`
// and the status page show the totals of the whole source.
func TestScopedCycleTotals(t *testing.T) {
	e := storetest.NewEnv(t)
	for d := 0; d < 5; d++ {
		for f := 0; f < 20; f++ {
			storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("media/%d/%d.jpg", d, f)), storetest.RandBytes(uint64(d*100+f), 3000+d))
		}
	}
	// The cache trusts (and a scoped scan carries) only what changed more
	// than source's racy window (2 s) before the scan that saw it.
	time.Sleep(2100 * time.Millisecond)
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "media/3/new.jpg"), storetest.RandBytes(999, 5000))
	scoped, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src, Scope: []string{"media/3/new.jpg"}})
	if err != nil {
		t.Fatal(err)
	}
	var files, bytes uint64
	err = filepath.WalkDir(e.Src, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		files, bytes = files+1, bytes+uint64(fi.Size())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := scoped.Snapshot; s.Files != files || s.Bytes != bytes {
		t.Fatalf("the scoped cycle's snapshot counts %d files, %d bytes; the source holds %d files, %d bytes", s.Files, s.Bytes, files, bytes)
	}
}
