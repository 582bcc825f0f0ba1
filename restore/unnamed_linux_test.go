package restore_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
)

// restoreWatchingDir backs up one 16 MiB file (several fetches) at
// media/video.mp4, restores it, and returns what media/ held at each
// progress report before the file was whole.
func restoreWatchingDir(t *testing.T) [][]string {
	t.Helper()
	e := storetest.NewEnv(t)
	want := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(r.Uint32())
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "video.mp4"), want)
	e.Backup()
	dst := filepath.Join(t.TempDir(), "restored")
	var seen [][]string
	_, err := restore.Run(e.Ctx, e.Store, restore.Options{Target: dst, Progress: func(done, total int64) {
		if done == total {
			return
		}
		ents, err := os.ReadDir(filepath.Join(dst, "media"))
		if err != nil {
			t.Errorf("listing media/ during the restore: %v", err)
			return
		}
		var names []string
		for _, ent := range ents {
			names = append(names, ent.Name())
		}
		seen = append(seen, names)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "media", "video.mp4")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("media/video.mp4 restored as %d bytes (%v), want the %d backed up", len(got), err, len(want))
	}
	if len(seen) == 0 {
		t.Fatal("no progress report came before the file was whole: the test saw nothing")
	}
	left, err := os.ReadDir(filepath.Join(dst, "media"))
	if err != nil || len(left) != 1 {
		t.Fatalf("media/ after the restore: %v, %v; want video.mp4 alone", left, err)
	}
	return seen
}

// TestRestoreFileUnnamedUntilWhole: on Linux a file being restored has no
// name in its directory until it is whole (O_TMPFILE, then a link): not
// its own, and no temporary one that a crash would leave behind.
func TestRestoreFileUnnamedUntilWhole(t *testing.T) {
	for i, names := range restoreWatchingDir(t) {
		if len(names) != 0 {
			t.Fatalf("progress report %d: while the file was written media/ held %q", i, names)
		}
	}
}

// TestRestoreTemporaryNameFallback: where unnamed files are not to be had
// (a file system without O_TMPFILE), the file is written under a
// temporary name beside its destination and renamed into place.
func TestRestoreTemporaryNameFallback(t *testing.T) {
	restore.SetUnnamedFiles(t, false)
	for i, names := range restoreWatchingDir(t) {
		if len(names) != 1 || !bytes.HasPrefix([]byte(names[0]), []byte(".chatsafe-restore-")) {
			t.Fatalf("progress report %d: while the file was written media/ held %q, want one temporary name", i, names)
		}
	}
}
