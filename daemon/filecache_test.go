package daemon_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/statusapi"
)

// The daemon keeps its file cache in memory between cycles and writes it
// at most every few minutes, but always when it stops: a restarted daemon
// knows what the last cycle read.
func TestFileCacheSavedOnStop(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	if err := os.WriteFile(filepath.Join(in.src, "Media", "late.jpg"), []byte("photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "the second snapshot", func(st statusapi.Status) bool { return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st) })
	stopInProcess(d)
	paths, _ := filepath.Glob(filepath.Join(in.state, "repo-*", "filecache"))
	if len(paths) != 1 {
		t.Fatalf("file caches in the state directory: %v", paths)
	}
	cache, err := source.LoadFileCache(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if cache.Token("Media/late.jpg") == nil {
		t.Fatal("the file cache on disk does not know the file the last cycle read")
	}
}
