package watcher

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// wait bounds every wait on real kernel events; it is a failure deadline,
// not a synchronisation sleep.
const wait = 10 * time.Second

type harness struct {
	t    *testing.T
	root string
	w    *Watcher
	logs *observer.ObservedLogs
	done chan error
}

// startWatcher runs a Watcher on a fresh tree made by setup, with fast
// timings, and consumes the first set.
func startWatcher(t *testing.T, setup func(root string), opts Options, hook func(w *Watcher)) *harness {
	t.Helper()
	root := t.TempDir()
	if setup != nil {
		setup(root)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	if opts.QuietPeriod == 0 {
		opts.QuietPeriod = 20 * time.Millisecond
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 200 * time.Millisecond
	}
	opts.Log = zap.New(core)
	w, err := New(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, root: root, w: w, logs: logs, done: make(chan error, 1)}
	go func() { h.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return after cancel")
		}
	})
	cs := h.next()
	if !cs.FullScan {
		t.Fatalf("first set = %+v, want a full scan", cs)
	}
	return h
}

func (h *harness) next() ChangeSet {
	h.t.Helper()
	select {
	case cs := <-h.w.Changes():
		return cs
	case <-time.After(wait):
		h.t.Fatalf("no change set within %v", wait)
		return ChangeSet{}
	}
}

// waitFor reads sets until all want paths were reported; it returns every
// path seen and the number of sets read.
func (h *harness) waitFor(want ...string) (map[string]bool, int) {
	h.t.Helper()
	seen := map[string]bool{}
	sets := 0
	deadline := time.After(wait)
	for {
		missing := slices.DeleteFunc(slices.Clone(want), func(p string) bool { return seen[p] })
		if len(missing) == 0 {
			return seen, sets
		}
		select {
		case cs := <-h.w.Changes():
			sets++
			if cs.FullScan {
				h.t.Fatalf("unexpected full scan %+v while waiting for %v", cs, missing)
			}
			for _, p := range cs.Paths {
				seen[p] = true
			}
		case <-deadline:
			h.t.Fatalf("paths %v not reported within %v (saw %v)", missing, wait, keys(seen))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (h *harness) write(rel, data string) {
	h.t.Helper()
	p := filepath.Join(h.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) mkdir(rel string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Join(h.root, filepath.FromSlash(rel)), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchNewSubdirectories(t *testing.T) {
	h := startWatcher(t, nil, Options{}, nil)
	h.mkdir("a")
	h.write("a/f1", "1")
	h.mkdir("a/b/c")
	h.write("a/b/c/f2", "2")
	h.waitFor("a/f1", "a/b/c/f2")
	// The new sub-subdirectories are watched themselves, not only scanned.
	if wl := h.w.watchList(); !slices.Contains(wl, "a/b/c") {
		t.Fatalf("watch list %v lacks a/b/c", wl)
	}
	h.write("a/b/c/f3", "3")
	h.mkdir("a/b/c/d")
	h.write("a/b/c/d/f4", "4")
	h.waitFor("a/b/c/f3", "a/b/c/d/f4")
}

func TestWatchRemovedAndMovedDirectories(t *testing.T) {
	h := startWatcher(t, func(root string) {
		mustWrite(t, filepath.Join(root, "d/e/f"))
		mustWrite(t, filepath.Join(root, "m/n/o"))
	}, Options{}, nil)
	if err := os.RemoveAll(filepath.Join(h.root, "d")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("d")
	h.write("after", "x")
	h.waitFor("after")
	if wl := h.w.watchList(); slices.Contains(wl, "d") || slices.Contains(wl, "d/e") {
		t.Errorf("removed directories still watched: %v", wl)
	}
	// Recreated, it is watched again.
	h.write("d/e/g", "x")
	h.waitFor("d/e/g")

	// A directory moved within the tree reports under its new name, and
	// so do changes deep inside it afterwards.
	if err := os.Rename(filepath.Join(h.root, "m"), filepath.Join(h.root, "moved")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("m", "moved")
	h.write("moved/n/p", "x")
	seen, _ := h.waitFor("moved/n/p")
	if seen["m/n/p"] {
		t.Errorf("change reported under the old directory name: %v", keys(seen))
	}
	if wl := h.w.watchList(); slices.Contains(wl, "m/n") || !slices.Contains(wl, "moved/n") {
		t.Errorf("watch list after move = %v", wl)
	}
}

func TestWatchAtomicRenameSave(t *testing.T) {
	h := startWatcher(t, func(root string) { mustWrite(t, filepath.Join(root, "chat/settings.json")) }, Options{}, nil)
	tmp := filepath.Join(h.root, "chat/.settings.json.tmp")
	if err := os.WriteFile(tmp, []byte(`{"v":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.root, "chat/settings.json")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("chat/settings.json")
}

func TestWatchExcludedNeverWatched(t *testing.T) {
	exclude := func(rel string, isDir bool) bool {
		return (isDir && path.Base(rel) == "cache") || strings.HasSuffix(rel, ".tmp")
	}
	h := startWatcher(t, func(root string) {
		mustWrite(t, filepath.Join(root, "cache/sub/x"))
		mustWrite(t, filepath.Join(root, "x/cache/y"))
		mustWrite(t, filepath.Join(root, "x/z"))
	}, Options{Exclude: exclude}, nil)
	if wl := h.w.watchList(); !slices.Equal(wl, []string{".", "x"}) {
		t.Errorf("watch list = %v, want [. x]", wl)
	}
	h.mkdir("y/cache/deep")
	h.write("y/cache/f", "x")
	h.write("y/cache/deep/f", "x")
	h.write("y/skip.tmp", "x")
	h.write("y/ok", "x")
	h.write("cache/sub/x", "changed")
	seen, _ := h.waitFor("y/ok")
	h.write("zz", "x") // a later event: anything excluded would show by then
	more, _ := h.waitFor("zz")
	for p := range more {
		seen[p] = true
	}
	for p := range seen {
		if strings.Contains(p, "cache/") || strings.HasSuffix(p, ".tmp") {
			t.Errorf("excluded path reported: %s", p)
		}
	}
	if wl := h.w.watchList(); !slices.Equal(wl, []string{".", "x", "y"}) {
		t.Errorf("watch list = %v, want [. x y]", wl)
	}
}

func TestWatchSQLiteSideFilesMapToDatabase(t *testing.T) {
	h := startWatcher(t, func(root string) { mustWrite(t, filepath.Join(root, "db/msgstore.db")) }, Options{}, nil)
	h.write("db/msgstore.db-wal", "frames")
	h.write("db/msgstore.db-shm", "index")
	h.write("db/other.db-journal", "j")
	seen, _ := h.waitFor("db/msgstore.db", "db/other.db")
	for p := range seen {
		if strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm") || strings.HasSuffix(p, "-journal") {
			t.Errorf("side file reported as itself: %s", p)
		}
	}
}

func TestWatchOverflowIsFullScan(t *testing.T) {
	h := startWatcher(t, nil, Options{}, nil)
	h.w.mu.Lock()
	fsw := h.w.fsw
	h.w.mu.Unlock()
	// What fsnotify sends when the kernel queue overflowed.
	select {
	case fsw.Errors <- fsnotify.ErrEventOverflow:
	case <-time.After(wait):
		t.Fatal("watcher does not read fsnotify errors")
	}
	if cs := h.next(); !cs.FullScan || cs.Reason != ReasonOverflow {
		t.Errorf("set = %+v, want a full scan for overflow", cs)
	}
	// Events still work afterwards.
	h.write("later", "x")
	h.waitFor("later")
}

// failAfter makes the watcher's n+1-th watch fail with ENOSPC.
func failAfter(n int64) func(w *Watcher) {
	return func(w *Watcher) {
		var count atomic.Int64
		w.addWatch = func(fsw *fsnotify.Watcher, dir string) error {
			if count.Add(1) > n {
				return syscall.ENOSPC
			}
			return fsw.Add(dir)
		}
	}
}

func (h *harness) expectPolling(n int) {
	h.t.Helper()
	h.expectPollingWarned(n, "watch limit")
}

// expectPollingWarned expects n polling full scans and exactly one warning,
// containing warn.
func (h *harness) expectPollingWarned(n int, warn string) {
	h.t.Helper()
	for range n {
		if cs := h.next(); !cs.FullScan || cs.Reason != ReasonPolling {
			h.t.Fatalf("set = %+v, want a polling full scan", cs)
		}
	}
	warns := h.logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warns) != 1 || !strings.Contains(warns[0].Message, warn) {
		h.t.Errorf("warnings = %v, want exactly one containing %q", warns, warn)
	}
	if wl := h.w.watchList(); wl != nil {
		h.t.Errorf("still watching %v after falling back", wl)
	}
}

func TestWatchLimitAtStartFallsBackToPolling(t *testing.T) {
	h := startWatcher(t, func(root string) {
		for _, d := range []string{"a", "b", "c"} {
			mustWrite(t, filepath.Join(root, d, "f"))
		}
	}, Options{PollInterval: 30 * time.Millisecond}, failAfter(2))
	h.expectPolling(3)
}

func TestWatchLimitLaterFallsBackToPolling(t *testing.T) {
	h := startWatcher(t, nil, Options{PollInterval: 30 * time.Millisecond}, failAfter(1))
	h.mkdir("new") // its watch hits the limit
	h.mkdir("new2")
	h.expectPolling(4)
}

func TestTriggerAndStop(t *testing.T) {
	core, _ := observer.New(zapcore.DebugLevel)
	root := t.TempDir()
	w, err := New(root, Options{QuietPeriod: time.Hour, MaxDelay: time.Hour, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	h := &harness{t: t, root: root, w: w}
	if cs := h.next(); cs.Reason != ReasonFirstRun {
		t.Fatalf("first set = %+v", cs)
	}
	h.write("x", "1") // pending for an hour of quiet period...
	w.Trigger(false)  // ...unless asked for now
	for {
		cs := h.next()
		if cs.Reason != ReasonRequested || cs.FullScan {
			t.Fatalf("set = %+v, want a requested set", cs)
		}
		if slices.Contains(cs.Paths, "x") {
			break
		}
		w.Trigger(false) // the trigger overtook the event: ask again
	}
	w.Trigger(true)
	if cs := h.next(); !cs.FullScan || cs.Reason != ReasonRequested {
		t.Errorf("set = %+v, want a requested full scan", cs)
	}
	if err := w.Run(ctx); err == nil {
		t.Errorf("second Run succeeded")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after cancel")
	}
	if _, open := <-w.Changes(); open {
		t.Errorf("Changes not closed after Run returned")
	}
}

func TestNewRejects(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	mustWrite(t, file)
	for name, tc := range map[string]struct {
		root string
		opts Options
	}{
		"missing root":           {filepath.Join(t.TempDir(), "nope"), Options{}},
		"file root":              {file, Options{}},
		"max below quiet":        {t.TempDir(), Options{QuietPeriod: time.Minute, MaxDelay: time.Second}},
		"negative poll interval": {t.TempDir(), Options{PollInterval: -time.Second}},
	} {
		if _, err := New(tc.root, tc.opts); err == nil {
			t.Errorf("%s: New accepted", name)
		}
	}
	if _, err := New(t.TempDir(), Options{}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

func TestWatchBurstIsFewSets(t *testing.T) {
	h := startWatcher(t, nil, Options{QuietPeriod: 300 * time.Millisecond, MaxDelay: 30 * time.Second}, nil)
	const n = 10000
	want := make([]string, 0, n)
	for i := range n {
		rel := fmt.Sprintf("media/%05d", i)
		if i == 0 {
			h.mkdir("media")
		}
		h.write(rel, "x")
		want = append(want, rel)
	}
	seen := map[string]bool{}
	sets := 0
	deadline := time.After(wait)
	for len(seen) < n {
		select {
		case cs := <-h.w.Changes():
			sets++
			if cs.FullScan { // the kernel queue overflowed: covered by a full scan
				t.Logf("burst overflowed the event queue: %+v", cs)
				seen = map[string]bool{}
				for _, p := range want {
					seen[p] = true
				}
			}
			for _, p := range cs.Paths {
				if strings.HasPrefix(p, "media/") && p != "media" {
					seen[p] = true
				}
			}
		case <-deadline:
			t.Fatalf("only %d of %d files reported", len(seen), n)
		}
	}
	if sets > 4 {
		t.Errorf("%d file writes gave %d change sets, want a handful (at most 4)", n, sets)
	}
}
