package daemon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
)

// quietPeriod is newInstall's sync.quiet_period.
const quietPeriod = 150 * time.Millisecond

// cyclesWhileStill counts the backup cycles the daemon starts while the
// test changes nothing for n quiet periods. It waits for absence, so it
// waits the whole n × quietPeriod: a bounded wait, not a synchronisation
// (a change the watcher reports starts a cycle one quiet period after it;
// a daemon that reacts to its own reads starts one every quiet period).
func cyclesWhileStill(t *testing.T, d *daemon.Daemon, n int) int {
	t.Helper()
	ch, cancel := d.Subscribe()
	defer cancel()
	before := len(d.History().Cycles)
	started := 0
	window := time.NewTimer(time.Duration(n) * quietPeriod)
	defer window.Stop()
	for waiting := true; waiting; {
		select {
		case ev := <-ch:
			if ev.Type == statusapi.EventState && ev.State == statusapi.StateScanning {
				started++
			}
		case <-window.C:
			waiting = false
		}
	}
	// A cycle still running at the end of the window is counted once it
	// ended (the history records a cycle when it ends; it keeps the last
	// 100).
	waitFor(t, d, "no backup cycle running", func(st statusapi.Status) bool { return st.State != statusapi.StateScanning })
	return max(started, min(len(d.History().Cycles), 100)-before)
}

// noWAL fails the test when the database has a -wal file.
func noWAL(t *testing.T, in *install) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(in.src, "msgstore.db-wal")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the closed database has a -wal file (%v); the test needs one the app closed", err)
	}
}

// TestIdleAfterAppClosedDatabase: once the chat app closed its database
// (SQLite checkpoints and removes the -wal and -shm when the last
// connection closes), the daemon backs up what changed and then runs no
// cycle until something changes again. Its own read creates a -wal and a
// -shm, and, as the only connection, writes the -shm (a new wal-index)
// every time; until 2026-12-07 the watcher took those writes for changes
// of the database, and the daemon ran a cycle every quiet period, for
// ever (about 32 in 5 s at a 150 ms quiet period).
func TestIdleAfterAppClosedDatabase(t *testing.T) {
	in := newInstall(t, 1)
	staticSource(t, in)
	noWAL(t, in)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	const still = 20 // quiet periods
	if n := cyclesWhileStill(t, d, still); n != 0 {
		t.Fatalf("after the first snapshot of a closed database, %d cycles ran in %d quiet periods with nothing changed", n, still)
	}

	// A real change: the app opens the database again, writes, closes it.
	chat := openChat(t, in.src)
	chat.next = 20
	chat.write(t, 5)
	if err := chat.db.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "the app's change backed up", func(st statusapi.Status) bool {
		return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st)
	})
	if n := cyclesWhileStill(t, d, still); n != 0 {
		t.Fatalf("after backing up a change the app made and closed, %d cycles ran in %d quiet periods with nothing changed", n, still)
	}
	sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))
}

// TestIdleWhileAppKeepsDatabaseOpen: the usual case, the app keeps its
// database open (a -wal is there): a message is backed up by reading the
// changed pages only, and then no cycle runs while nothing changes.
func TestIdleWhileAppKeepsDatabaseOpen(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 3000)
	log := &committedLog{}
	d := runInProcessLog(t, in, daemon.Options{}, log)
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	const still = 20 // quiet periods
	if n := cyclesWhileStill(t, d, still); n != 0 {
		t.Fatalf("after the first snapshot, %d cycles ran in %d quiet periods with nothing changed", n, still)
	}
	chat.write(t, 1)
	st := waitFor(t, d, "the message backed up", func(st statusapi.Status) bool {
		return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st)
	})
	if n := cyclesWhileStill(t, d, still); n != 0 {
		t.Fatalf("after backing up a message, %d cycles ran in %d quiet periods with nothing changed", n, still)
	}
	// One message changes a few pages: the cycle reads those, not the
	// database (docs/benchmarks.md: 0.091 MB on the bench's corpus).
	read, ok := log.readBytes(st.LastSnapshot.Seq)
	var size int64
	if err := chat.db.QueryRow("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if !ok || read > 4*4096 || 4*read > size {
		t.Fatalf("the message's cycle read %d bytes (logged: %v) of a %d-byte database, want a few pages", read, ok, size)
	}
	t.Logf("the message's cycle read %d bytes of a %d-byte database", read, size)
}

// committedLog keeps what the daemon's "snapshot committed" lines say.
type committedLog struct {
	mu   sync.Mutex
	read map[uint64]int64 // seq -> read_bytes
}

func (l *committedLog) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		var e struct {
			Msg       string `json:"msg"`
			Seq       uint64 `json:"seq"`
			ReadBytes int64  `json:"read_bytes"`
		}
		if json.Unmarshal(line, &e) != nil || e.Msg != "snapshot committed" {
			continue
		}
		l.mu.Lock()
		if l.read == nil {
			l.read = map[uint64]int64{}
		}
		l.read[e.Seq] = e.ReadBytes
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *committedLog) readBytes(seq uint64) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.read[seq]
	return n, ok
}
