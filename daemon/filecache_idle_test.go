package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/source"
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
// sat idle"). The run's first write comes right after its first cycle;
// the next, five minutes after a cycle changed the cache again, so the
// second cycle leaves the cache on disk as it was.
func TestCycleDoesNotWriteFileCache(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	saved := lineSignal{s: "file cache saved", ch: make(chan struct{}, 1)}
	d := runInProcessLevel(t, in, daemon.Options{}, saved, "debug")
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	select {
	case <-saved.ch:
	case <-time.After(60 * time.Second):
		t.Fatal("the run's first write of the file cache did not come")
	}
	before := fileCacheOnDisk(t, in)
	if err := os.WriteFile(filepath.Join(in.src, "Media", "late.jpg"), []byte("photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "the second snapshot", func(st statusapi.Status) bool { return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st) })
	if after := fileCacheOnDisk(t, in); !bytes.Equal(after, before) {
		t.Fatalf("the second cycle wrote the file cache (%d bytes before, %d after)", len(before), len(after))
	}
}

// lineSignal sends on ch for each write holding s (the daemon's logger
// writes a line at a time).
type lineSignal struct {
	s  string
	ch chan struct{}
}

func (l lineSignal) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(l.s)) {
		select {
		case l.ch <- struct{}{}:
		default: // the test reads the file cache on disk after each one
		}
	}
	return len(p), nil
}

// The file cache is written between cycles, FileCacheSaveEvery after a
// cycle left it changed: the cache on disk knows what the last cycle read
// without a stop.
func TestFileCacheWrittenAfterCycle(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	saved := lineSignal{s: "file cache saved", ch: make(chan struct{}, 1)}
	d := runInProcessLevel(t, in, daemon.Options{FileCacheSaveEvery: 20 * time.Millisecond}, saved, "debug")
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	if err := os.WriteFile(filepath.Join(in.src, "Media", "late.jpg"), []byte("photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "the second snapshot", func(st statusapi.Status) bool { return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st) })
	// The cycle that read late.jpg armed a write (or one armed before it
	// is still to come): each write is checked until one knows the file.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case <-saved.ch:
		case <-deadline.C:
			t.Fatal("no file cache on disk knows the file the last cycle read")
		}
		paths, _ := filepath.Glob(filepath.Join(in.state, "repo-*", "filecache"))
		if len(paths) != 1 {
			t.Fatalf("file caches in the state directory: %v", paths)
		}
		cache, err := source.LoadFileCache(paths[0])
		if err != nil {
			t.Fatal(err)
		}
		if cache.Token("Media/late.jpg") != nil {
			return
		}
	}
}
