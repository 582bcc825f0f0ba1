package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
)

// fileCacheOnDisk returns the file cache the daemon wrote (nil: none).
func fileCacheOnDisk(t *testing.T, in *install) []byte {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(in.state, "repo-*", "filecache"))
	if len(paths) == 0 {
		return nil
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A cycle does not write the file cache. Its write, a few bytes per page
// of every database, made the first cycle after five idle minutes cost
// about twice the others (docs/benchmarks.md, "A cycle after the daemon
// sat idle"); the first cycle after a start paid it too.
func TestCycleDoesNotWriteFileCache(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	before := fileCacheOnDisk(t, in)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	if err := os.WriteFile(filepath.Join(in.src, "Media", "late.jpg"), []byte("photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "the second snapshot", func(st statusapi.Status) bool { return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st) })
	if after := fileCacheOnDisk(t, in); !bytes.Equal(after, before) {
		t.Fatalf("the cycles wrote the file cache (%d bytes before, %d after)", len(before), len(after))
	}
}
