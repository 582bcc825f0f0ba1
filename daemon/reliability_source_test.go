package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
)

// logWatch collects a daemon's log and tells when a line holding a
// string has been written.
type logWatch struct {
	mu    sync.Mutex
	b     bytes.Buffer
	waits map[string]chan struct{}
}

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	for s, ch := range l.waits {
		if strings.Contains(l.b.String(), s) {
			close(ch)
			delete(l.waits, s)
		}
	}
	return len(p), nil
}

func (l *logWatch) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// seen returns a channel closed once the log holds s.
func (l *logWatch) seen(s string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(l.b.String(), s) {
		close(ch)
		return ch
	}
	if l.waits == nil {
		l.waits = map[string]chan struct{}{}
	}
	l.waits[s] = ch
	return ch
}

func waitLog(t *testing.T, l *logWatch, s string) {
	t.Helper()
	waitCh(t, l.seen(s), "the log to say "+s, l)
}

// TestSourceRemovedAndRecreated: the chat directory is removed while the
// daemon runs (an app reinstalled), then created again with new content.
// The daemon says so clearly, keeps running, backs up the new directory
// and watches it for changes again (not only by slow polling).
func TestSourceRemovedAndRecreated(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 40)
	os.WriteFile(filepath.Join(in.src, "Media", "old.jpg"), []byte("old photo"), 0o644)
	logs := &logWatch{}
	d := runInProcessLog(t, in, daemon.Options{}, logs)
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	chat.db.Close()
	if err := os.RemoveAll(in.src); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "the source directory was removed")
	waitFor(t, d, "a failed cycle", func(st statusapi.Status) bool { return st.LastError != "" })
	// The removal's events may come in more than one change set, and a
	// failed cycle is retried: the state is read while no cycle runs.
	st, _ := atRest(t, d, func() struct{} { return struct{}{} })
	if !strings.Contains(st.LastError, in.src) || st.State != statusapi.StateError {
		t.Fatalf("status with the source gone: %s", statusJSON(st))
	}
	t.Logf("cycle with the source gone: %s", st.LastError)

	// The app is installed again: the new directory appears at once,
	// with its content (made beside it, then moved in place).
	fresh := filepath.Join(in.dir, "fresh")
	if err := os.MkdirAll(filepath.Join(fresh, "Media"), 0o755); err != nil {
		t.Fatal(err)
	}
	chat2 := openChat(t, fresh)
	chat2.next = 1000
	chat2.write(t, 25)
	chat2.db.Close()
	os.WriteFile(filepath.Join(fresh, "Media", "new.jpg"), []byte("new photo"), 0o644)
	if err := os.Rename(fresh, in.src); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "the source directory was created again")
	second := waitFor(t, d, "a snapshot of the new directory", func(st statusapi.Status) bool {
		return st.LastSnapshot.Seq > first.LastSnapshot.Seq && st.LastError == "" && idle(st)
	})
	sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))

	// Changes in the new directory are seen by the watcher again.
	os.WriteFile(filepath.Join(in.src, "Media", "newer.jpg"), []byte("newer photo"), 0o644)
	waitFor(t, d, "the watcher to back up a change in the new directory", func(st statusapi.Status) bool {
		return st.LastSnapshot.Seq > second.LastSnapshot.Seq && idle(st)
	})
	sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))
	if n := strings.Count(logs.String(), "backup cycle failed"); n != 1 {
		t.Errorf("the failing cycle was logged %d times; a repeated error is logged once", n)
	}
}
