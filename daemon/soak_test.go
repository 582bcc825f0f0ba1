package daemon_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
)

// flaky is a real remote behind remotes.Faulty while on is set, and the
// remote itself once it is cleared.
type flaky struct {
	raw, faulty remotes.Remote
	on          *atomic.Bool
}

func (f *flaky) pick() remotes.Remote {
	if f.on.Load() {
		return f.faulty
	}
	return f.raw
}
func (f *flaky) String() string { return f.raw.String() }
func (f *flaky) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return f.pick().Put(ctx, name, r, size)
}
func (f *flaky) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	return f.pick().Get(ctx, name, off, n)
}
func (f *flaky) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	return f.pick().List(ctx, dir)
}
func (f *flaky) Stat(ctx context.Context, name string) (remotes.ObjectInfo, error) {
	return f.pick().Stat(ctx, name)
}
func (f *flaky) Delete(ctx context.Context, name string) error { return f.pick().Delete(ctx, name) }
func (f *flaky) CleanupPartial(ctx context.Context, d time.Duration) error {
	return f.pick().CleanupPartial(ctx, d)
}
func (f *flaky) Close() error { return f.raw.Close() }

// soakFor is how long the writer runs in TestSoak.
const soakFor = 20 * time.Second

// TestSoak runs the daemon for a while under an app committing messages
// continuously and adding and deleting media, against a WebDAV remote
// that fails a fifth of its calls and cuts some uploads halfway, with
// prunes every few seconds. At the end the remote restores to the
// directory, and the heap did not grow.
func TestSoak(t *testing.T) {
	davDir := t.TempDir()
	srv := remotetest.StartWebDAV(t, davDir)
	in := newInstallSpec(t, []string{srv.Spec}, "retention:\n  keep_last: 5\n")
	chat := openChat(t, in.src)
	chat.write(t, 200)
	var faults atomic.Bool
	faults.Store(true)
	logOut := soakDiagnostics(t, filepath.Join(davDir, "chats"), in.state)
	d := runInProcessLevel(t, in, daemon.Options{Retry: fastRetry, PruneEvery: 3 * time.Second, WrapUpload: func(r remotes.Remote) remotes.Remote {
		return &flaky{raw: r, on: &faults, faulty: remotes.Faulty(r, remotes.FaultOptions{Seed: 9, FailRate: 0.2, CutUploadRate: 0.1})}
	}}, logOut, "debug")
	waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil })

	// The app: a message every few milliseconds, a photo now and then,
	// old photos deleted.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	var messages atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(4 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			chat.next++
			if _, err := chat.db.Exec(`INSERT INTO messages(id, chat, body) VALUES(?, ?, ?)`, chat.next, "family", fmt.Sprintf("soak message %d", chat.next)); err != nil {
				werr = err
				return
			}
			messages.Add(1)
			if i%250 == 0 {
				p := filepath.Join(in.src, "Media", fmt.Sprintf("IMG-%d.jpg", i/250))
				if err := os.WriteFile(p, randomBytes(i, 64<<10), 0o644); err != nil {
					werr = err
					return
				}
				os.Remove(filepath.Join(in.src, "Media", fmt.Sprintf("IMG-%d.jpg", i/250-4)))
			}
		}
	}()
	heapAt := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	third := time.NewTimer(soakFor / 3)
	<-third.C
	mid := heapAt()
	end := time.NewTimer(soakFor - soakFor/3)
	<-end.C
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatalf("the app's writer: %v", werr)
	}
	last := heapAt()
	snaps := len(d.Snapshots())
	p := d.LastPrune()
	t.Logf("soak: %d messages in %v; heap in use %d MiB at 1/3, %d MiB at the end; %d snapshots kept; last prune %+v",
		messages.Load(), soakFor, mid>>20, last>>20, snaps, p)
	if last > 2*mid+32<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB during the soak", mid>>20, last>>20)
	}
	if p.Time.IsZero() {
		t.Errorf("no prune ran during the soak")
	}

	// The faults stop; one more cycle, and the remote is current.
	faults.Store(false)
	chat.write(t, 1)
	backupNow(t, d)
	waitFor(t, d, "the remote to be current", idle)
	stopInProcess(d) // no prune may run under the restore
	sameTree(t, in.src, restoreFrom(t, srv.Spec, in.key))
}

// soakDiagnostics returns a file for the daemon's log (debug and up) and,
// when the test fails, logs its last lines with the delta objects on the
// remote and in the spool: a failure of a long soak must explain itself.
func soakDiagnostics(t *testing.T, remoteRoot, state string) io.Writer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "daemon.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	out := &closableLog{f: f}
	// Registered before the daemon's stop (cleanups run last first), so
	// the log is complete when it is read.
	t.Cleanup(func() {
		out.close()
		if !t.Failed() {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Logf("reading the daemon log: %v", err)
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		// What moves deltas (commits, uploads, prunes, deletions) in
		// full, then the tail of everything.
		var moves []string
		for _, l := range lines {
			for _, w := range []string{"prune", "compacted", "obsolete delta", "left the spool", "delta uploaded", "damaged", "snapshot committed", "cannot be verified"} {
				if strings.Contains(l, w) {
					moves = append(moves, l)
					break
				}
			}
		}
		t.Logf("daemon log, what moved deltas (%d of %d lines):\n%s", len(moves), len(lines), strings.Join(moves, "\n"))
		const tail = 300
		if len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		t.Logf("daemon log, the last %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
		ents, err := os.ReadDir(filepath.Join(remoteRoot, "deltas"))
		if err != nil {
			t.Logf("listing the remote's deltas: %v", err)
		}
		var names []string
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				names = append(names, fmt.Sprintf("%s (%d bytes)", e.Name(), fi.Size()))
			}
		}
		t.Logf("deltas on the remote:\n  %s", strings.Join(names, "\n  "))
		t.Logf("spool:\n  %s", strings.Join(spoolFiles(t, state), "\n  "))
	})
	return out
}

// closableLog is a log file that drops what is written after it is
// closed: rclone's log sink is process-wide and outlives the daemon.
type closableLog struct {
	mu sync.Mutex
	f  *os.File
}

func (l *closableLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(p), nil
	}
	return l.f.Write(p)
}

func (l *closableLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Close()
	l.f = nil
}

func randomBytes(seed, n int) []byte {
	b := make([]byte, n)
	x := uint64(seed)*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
