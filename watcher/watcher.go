// Package watcher owns change detection for the chat-history directory:
// recursive fsnotify watches (following new, moved and removed
// directories, never entering excluded ones), coalescing events into
// ChangeSets (quiet period capped by a max delay), mapping SQLite -wal,
// -shm and -journal files to their database (the -shm's events and an
// empty -wal's creation change no content: not reported), and the fallbacks: a full
// rescan on event-queue overflow, periodic scanning when the inotify watch
// limit is hit, file descriptors run out (kqueue: one per watched entry;
// see fdbudget.go) or the watcher fails, and a jittered periodic full scan that
// catches whatever events missed. Idle, it runs no timer but that one.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// ChangeSet is one batch of changes, the input of one backup cycle.
type ChangeSet struct {
	// Paths are relative to the root, slash-separated, sorted and without
	// duplicates. A path may name a file or directory that is gone
	// (deleted or renamed away), or a directory (look at all of it).
	// SQLite -wal/-journal files are reported as their database, a
	// -shm's events not at all (see noContentChange).
	// Empty when FullScan is set.
	Paths []string
	// FullScan asks for the whole tree to be scanned: first run, event
	// queue overflow, periodic full scan, or polling after a failure.
	FullScan bool
	// Reason says why the set was emitted (one of the Reason* constants).
	Reason string
}

// Options tune a Watcher. Zero values take the defaults in brackets.
type Options struct {
	QuietPeriod   time.Duration // [2s] emit once nothing changed for this long
	MaxDelay      time.Duration // [30s] ...but no later than this after the first change
	FullScanEvery time.Duration // [1h] full scan, plus up to 10 % jitter
	// Exclude reports whether a relative slash path is excluded; excluded
	// directories are never watched. Nil excludes nothing.
	Exclude func(rel string, isDir bool) bool
	Log     *zap.Logger // [no logging]
	// PollInterval is the full-scan period after falling back from events
	// (watch limit reached, watcher failed). [1m]
	PollInterval time.Duration
}

// Defaults used for zero Options fields.
const (
	DefaultQuietPeriod   = 2 * time.Second
	DefaultMaxDelay      = 30 * time.Second
	DefaultFullScanEvery = time.Hour
	DefaultPollInterval  = time.Minute
)

// Watcher watches one directory tree. Create it with New, start it with
// Run and read Changes until Run returns.
type Watcher struct {
	root string
	opts Options
	log  *zap.Logger
	agg  *aggregator

	trigSig  chan struct{}
	trigFull atomic.Bool
	started  atomic.Bool

	// addWatch adds one directory; tests replace it to inject ENOSPC.
	addWatch func(fsw *fsnotify.Watcher, dir string) error

	mu      sync.Mutex
	fsw     *fsnotify.Watcher   // nil once fallen back to polling
	watched map[string]struct{} // absolute dirs we added, for cheap lookups
	// fdBudget bounds the descriptors watches may use where each watched
	// entry costs one (kqueue; see fdbudget.go); 0 = no bound. fdSpent is
	// what they use now.
	fdBudget int
	fdSpent  int
}

// New prepares a watcher of root, which must be an existing directory.
func New(root string, opts Options) (*Watcher, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", root, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w (check the source directory)", root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("watching %s: not a directory (the source must be the chat-history directory)", root)
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d < 0 {
			return fmt.Errorf("watcher: %s must not be negative, got %s", name, *d)
		}
		if *d == 0 {
			*d = v
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		v    time.Duration
		name string
	}{
		{&opts.QuietPeriod, DefaultQuietPeriod, "QuietPeriod"},
		{&opts.MaxDelay, DefaultMaxDelay, "MaxDelay"},
		{&opts.FullScanEvery, DefaultFullScanEvery, "FullScanEvery"},
		{&opts.PollInterval, DefaultPollInterval, "PollInterval"},
	} {
		if err := def(f.d, f.v, f.name); err != nil {
			return nil, err
		}
	}
	if opts.MaxDelay < opts.QuietPeriod {
		return nil, fmt.Errorf("watcher: MaxDelay (%s) must be at least QuietPeriod (%s)", opts.MaxDelay, opts.QuietPeriod)
	}
	if opts.Exclude == nil {
		opts.Exclude = func(string, bool) bool { return false }
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Watcher{
		root:     abs,
		opts:     opts,
		log:      log.With(zap.String("source", abs)),
		agg:      newAggregator(opts.QuietPeriod, opts.MaxDelay, opts.FullScanEvery),
		trigSig:  make(chan struct{}, 1),
		addWatch: func(fsw *fsnotify.Watcher, dir string) error { return fsw.Add(dir) },
		watched:  make(map[string]struct{}),
		fdBudget: defaultFDBudget(),
	}, nil
}

// Changes delivers the change sets; the first is a FullScan ("first run")
// once the initial watches are in place. It is closed when Run returns.
func (w *Watcher) Changes() <-chan ChangeSet { return w.agg.out }

// Trigger asks for a change set now, without waiting for the quiet period
// (e.g. `chatsafe backup` through the daemon). full asks for a full scan.
// It never blocks; triggers that arrive together are merged.
func (w *Watcher) Trigger(full bool) {
	if full {
		w.trigFull.Store(true)
	}
	select {
	case w.trigSig <- struct{}{}:
	default:
	}
}

// Run watches until ctx is done, then stops every goroutine it started,
// closes Changes and returns nil. It can be called once. Failing to watch is not an error: Run
// falls back to scanning every PollInterval and logs one warning.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("watcher: Run called twice; create a new Watcher")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		w.closeWatcher()
		wg.Wait()
		close(w.agg.out) // the aggregator, its only sender, has stopped
	}()

	var events chan fsnotify.Event
	var errs chan error
	fsw, err := fsnotify.NewWatcher()
	if err == nil {
		w.mu.Lock()
		w.fsw = fsw
		w.mu.Unlock()
		events, errs = fsw.Events, fsw.Errors
		_, err = w.addTree(fsw, ".", false)
	}
	var poll *time.Ticker
	var pollC <-chan time.Time
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	// fallBack is called at most once: afterwards events and errs are nil.
	fallBack := func(cause error) {
		events, errs = nil, nil
		poll = w.fallBack(cause)
		pollC = poll.C
	}
	first := input{full: true, reason: ReasonFirstRun, now: true}
	if err != nil {
		fallBack(err)
		first.reason = ReasonPolling
	}
	wg.Go(func() { w.agg.run(ctx, &first) })

	send := func(in input) {
		select {
		case w.agg.in <- in:
		case <-ctx.Done():
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				fallBack(errors.New("the event stream closed"))
				send(input{full: true, reason: ReasonPolling, now: true})
				continue
			}
			in, err := w.handle(ev)
			if err != nil {
				fallBack(err)
				send(input{full: true, reason: ReasonPolling, now: true})
				continue
			}
			if len(in.paths) > 0 {
				send(in)
			}
		case err, ok := <-errs:
			switch {
			case ok && errors.Is(err, fsnotify.ErrEventOverflow):
				w.log.Info("file-system event queue overflowed; scanning everything")
				send(input{full: true, reason: ReasonOverflow})
			default:
				if !ok {
					err = errors.New("the error stream closed")
				}
				fallBack(err)
				send(input{full: true, reason: ReasonPolling, now: true})
			}
		case <-pollC:
			send(input{full: true, reason: ReasonPolling, now: true})
		case <-w.trigSig:
			send(input{full: w.trigFull.Swap(false), reason: ReasonRequested, now: true})
		}
	}
}

func (w *Watcher) closeWatcher() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fsw != nil {
		w.fsw.Close()
		w.fsw = nil
	}
}

// fallBack stops watching, logs the one warning and returns the polling
// ticker. Run calls it at most once.
func (w *Watcher) fallBack(cause error) *time.Ticker {
	w.closeWatcher()
	if outOfDescriptors(cause) {
		w.log.Warn("out of file descriptors for file-system watches (on macOS every watched file and directory holds one open); falling back to scanning the whole source periodically. "+
			"Raise the open-file limit (the service's SoftResourceLimits/NumberOfFiles, or ulimit -n) or exclude large directories, and restart chatsafe for instant backups",
			zap.Duration("scan_every", w.opts.PollInterval), zap.Error(cause))
	} else if errors.Is(cause, syscall.ENOSPC) {
		w.log.Warn("inotify watch limit reached; falling back to scanning the whole source periodically. "+
			"Raise fs.inotify.max_user_watches (e.g. sysctl fs.inotify.max_user_watches=524288) and restart chatsafe for instant backups",
			zap.Duration("scan_every", w.opts.PollInterval), zap.Error(cause))
	} else {
		w.log.Warn("file-system events failed; falling back to scanning the whole source periodically. Restart chatsafe to try events again",
			zap.Duration("scan_every", w.opts.PollInterval), zap.Error(cause))
	}
	return time.NewTicker(w.opts.PollInterval)
}

// rel turns an absolute event name into a relative slash path.
func (w *Watcher) rel(name string) (string, bool) {
	r, err := filepath.Rel(w.root, name)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// handle turns one fsnotify event into paths. A non-nil error means the
// watcher cannot go on (watch limit reached).
func (w *Watcher) handle(ev fsnotify.Event) (input, error) {
	if ev.Op == fsnotify.Chmod || ev.Op == 0 {
		return input{}, nil // metadata only, or an event fsnotify dropped
	}
	rel, ok := w.rel(ev.Name)
	if !ok {
		return input{}, nil
	}
	if rel == "." {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			return input{}, fmt.Errorf("the source directory %s was removed or renamed", w.root)
		}
		return input{}, nil
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.refund(1)
		wasDir := w.unwatch(ev.Name)
		if w.opts.Exclude(rel, wasDir) || !wasDir && noContentChange(ev, rel) {
			return input{}, nil
		}
		return input{paths: []string{sqliteMain(rel)}}, nil
	}
	if ev.Has(fsnotify.Create) {
		// kqueue watches the new entry itself (fsnotify does, inside).
		if err := w.spend(1); err != nil {
			return input{}, err
		}
		if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
			if w.opts.Exclude(rel, true) {
				return input{}, nil
			}
			w.mu.Lock()
			fsw := w.fsw
			w.mu.Unlock()
			if fsw == nil {
				return input{}, nil
			}
			// Files written before the watch was in place are found by
			// the walk; later ones arrive as events.
			found, err := w.addTree(fsw, rel, true)
			return input{paths: append(found, rel)}, err
		}
	}
	if w.opts.Exclude(rel, false) || noContentChange(ev, rel) {
		return input{}, nil
	}
	return input{paths: []string{sqliteMain(rel)}}, nil
}

// noContentChange reports whether ev, on a database's companion file,
// changes nothing of the database: every change of a database's content
// is a write to its -wal or to the database file itself (each an event of
// its own), so the -shm's events are never one, nor is the creation of an
// empty -wal. The -shm is the wal-index, memory the connections share
// through a mapping of the file: the first connection to open the
// database writes a new one into it, a reader's too, and the backup's
// own read of a database no app has open is such a reader. It also
// creates the -wal (empty) and the -shm when the app's close removed
// them. Taken for changes, those events started a cycle one quiet period
// after each read, whose read started the next (TestWatchReaderOfClosedDatabaseIsNoChange).
func noContentChange(ev fsnotify.Event, rel string) bool {
	switch sqliteSuffix(rel) {
	case "-shm":
		return true
	case "-wal":
		if !ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) {
			return false
		}
		st, err := os.Lstat(ev.Name)
		return err == nil && st.Mode().IsRegular() && st.Size() == 0
	}
	return false
}

// unwatch drops the watches on dir and below after it was removed or
// renamed, and reports whether dir was watched (was a directory). fsnotify
// drops the watch of a deleted directory itself, but a moved directory's
// subdirectories would keep watches under their old names.
func (w *Watcher) unwatch(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, was := w.watched[dir]; !was || w.fsw == nil {
		return false // a file, or a directory never watched: nothing to do
	}
	prefix := dir + string(filepath.Separator)
	for p := range w.watched {
		if p == dir || strings.HasPrefix(p, prefix) {
			delete(w.watched, p)
			// Already gone is fine: the kernel removed it with the directory.
			_ = w.fsw.Remove(p)
		}
	}
	return true
}

// addTree watches the directory rel and every directory below it that is
// not excluded. With collect it returns the files found (to report those
// created before the watch existed). ENOSPC is returned; directories that
// vanish meanwhile are skipped; unreadable ones are skipped with a warning.
func (w *Watcher) addTree(fsw *fsnotify.Watcher, rel string, collect bool) ([]string, error) {
	var found []string
	start := filepath.Join(w.root, filepath.FromSlash(rel))
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		r, ok := w.rel(p)
		if !ok {
			return nil
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if p == w.root {
				return err
			}
			w.log.Warn("cannot read directory; its changes will not be backed up until it is readable", zap.String("dir", r), zap.Error(err))
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		// Under kqueue every entry of a watched directory holds a
		// descriptor, excluded or not; the new directory's own entry was
		// counted with its Create event.
		if p != start || rel == "." {
			if err := w.spend(1); err != nil {
				return err
			}
		}
		if r != "." && w.opts.Exclude(r, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			if collect {
				found = append(found, sqliteMain(r))
			}
			return nil
		}
		if err := w.addWatch(fsw, p); err != nil {
			switch {
			case errors.Is(err, syscall.ENOSPC), outOfDescriptors(err), errors.Is(err, fsnotify.ErrClosed):
				// Out of watches or descriptors: the next directory would
				// fail the same way, so stop and poll instead.
				return err
			case errors.Is(err, fs.ErrNotExist):
				return filepath.SkipDir
			case p == w.root:
				return err
			default:
				w.log.Warn("cannot watch directory; its changes are caught by the periodic full scan", zap.String("dir", r), zap.Error(err))
				return filepath.SkipDir
			}
		}
		w.mu.Lock()
		w.watched[p] = struct{}{}
		w.mu.Unlock()
		if collect && r != rel {
			found = append(found, r)
		}
		return nil
	})
	if err != nil {
		return found, fmt.Errorf("watching %s: %w", start, err)
	}
	return found, nil
}

// sqliteMain maps SQLite's side files to the database they belong to: a
// change to "msgstore.db-wal" is a change to "msgstore.db".
func sqliteMain(rel string) string {
	if suf := sqliteSuffix(rel); suf != "" {
		return strings.TrimSuffix(rel, suf)
	}
	return rel
}

// sqliteSuffix returns the suffix that makes rel a SQLite side file
// ("-wal", "-shm" or "-journal"), or "".
func sqliteSuffix(rel string) string {
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		if base, ok := strings.CutSuffix(rel, suf); ok && base != "" && !strings.HasSuffix(base, "/") {
			return suf
		}
	}
	return ""
}

// watchList returns the watched directories, relative and sorted (tests).
func (w *Watcher) watchList() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fsw == nil {
		return nil
	}
	var out []string
	for _, p := range w.fsw.WatchList() {
		if r, ok := w.rel(p); ok {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}
