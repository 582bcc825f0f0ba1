// Package backup owns the archiver: one backup cycle drives the source's
// scanner over the chat directory, hands every chunk to the store's Writer
// (which deduplicates, compresses and seals it into the delta being
// written), builds the snapshot's trees bottom-up, and commits the
// snapshot as a delta in the local spool. It also owns the file cache
// (unchanged files are not read again). Sync uploads what it wrote.
package backup

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/store"
)

// Store is what a backup needs of the store.
type Store interface {
	NewWriter() (*store.Writer, error)
	Snapshots() []store.Snapshot
	// StateDir is the store's state directory, where the file cache lives.
	StateDir() string
	Log() *zap.Logger
	// Tree reads a stored directory tree: a directory that cannot be
	// read keeps its tree from the previous snapshot.
	Tree(ctx context.Context, id crypt.ID) ([]store.Node, error)
	// TakeJoinGap returns, once, what other devices committed between
	// this device's join and the head its first write continued.
	TakeJoinGap() *store.JoinGap
}

// Options configure one backup cycle.
type Options struct {
	Source   string
	Exclude  func(relPath string, isDir bool) bool
	Hostname string // "" = os.Hostname()
	// Progress, if set, is called after each file with the running totals.
	Progress func(files int64, readBytes int64)
	// Cache, when set, is the file cache to use, kept in memory across
	// cycles by a long-running caller (the daemon) so a cycle does not read
	// it back from the state directory, nor write it: the caller saves it
	// (Cache.Save) when it sees fit; an older saved cache only costs
	// re-reads. Load it with LoadCache. nil: loaded from the state
	// directory and saved after the cycle, and the cycle taken as the
	// process's last: the tokens it makes are not kept decoded for a next
	// one (store.Writer.OneShot).
	Cache *source.FileCache
	// Scope, when not nil, is the paths a watcher saw change: only they are
	// looked at, the rest of the tree is taken from the last scan (see
	// source.Options.Scope). nil: the whole tree.
	Scope []string
	// FullReadEvery is source.Options.FullReadEvery: every database is read
	// whole at least this often (0: source.DefaultFullReadEvery).
	FullReadEvery time.Duration
}

// ErrIncomplete means a snapshot was committed but some paths could not be
// read (Result.Incomplete, Snapshot.Incomplete say which and why).
var ErrIncomplete = errors.New("some paths could not be read; each kept its previous version in the snapshot")

// IncompleteError wraps ErrIncomplete with the paths of a snapshot.
func IncompleteError(snapshot string, paths []store.Omission) error {
	var b strings.Builder
	for i, o := range paths {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(paths)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", o.Path, o.Reason)
	}
	return fmt.Errorf("snapshot %s is incomplete (%s); give chatsafe's user read access to them: %w", snapshot, b.String(), ErrIncomplete)
}

// Warning is a path the backup could not read; the rest was backed up.
type Warning struct {
	Path string
	Err  error
}

// Result reports one cycle.
type Result struct {
	Snapshot   store.Snapshot
	Unchanged  bool  // nothing changed since the last snapshot: no delta was written
	Deltas     int   // delta objects written to the spool
	NewBlobs   int   // blobs stored by this cycle
	AddedBytes int64 // bytes of the delta objects written
	ReadBytes  int64 // content bytes read from the source
	Warnings   []Warning
	// Incomplete lists the paths that exist but could not be read; each
	// kept its previous version if it had one. The snapshot records them.
	Incomplete []store.Omission
	// JoinGap, when set: this device joined and its first write (this
	// cycle's, or an earlier prune's) continued a head other devices had
	// moved since; their snapshots may hold what the source lacks. It is
	// a warning, not a failure: the device goes on backing up what it has.
	JoinGap *store.JoinGap
}

// Run reads the source directory and commits one snapshot as a delta in
// the local spool of st. Sync the store to upload it. When nothing
// changed, no delta is written and Unchanged is set.
func Run(ctx context.Context, st Store, opts Options) (res *Result, err error) {
	log := st.Log()
	src, err := filepath.Abs(opts.Source)
	if err != nil {
		return nil, err
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	w, err := st.NewWriter()
	if err != nil {
		return nil, err
	}
	w.SetContext(ctx)
	defer w.Close()
	if opts.Cache == nil {
		w.OneShot()
	}
	cache := opts.Cache
	if cache == nil {
		cache = LoadCache(st)
	}
	// A failed cycle leaves the cache as the last committed one did: its
	// scans may have noted versions that were never committed, and
	// dropping the cache for the copy on disk, which may be minutes older,
	// would forget versions that were (a file unreadable by the next cycle
	// would then lose its previous version).
	// marked, not cache: cache is set to nil below when the caller saves
	// it, and the rollback must still reach it (it did not: every cycle
	// after one that failed at the commit point found the cache naming
	// the failed cycle's blobs, and read every file again).
	marked := cache
	marked.Mark()
	defer func() {
		if err != nil {
			marked.Rollback()
		} else {
			marked.Keep()
		}
	}()
	var b *run
	var prev store.Snapshot
	snaps := st.Snapshots()
	if len(snaps) > 0 {
		prev = snaps[len(snaps)-1]
	}
	for attempt := 0; ; attempt++ {
		b = &run{w: w, ctx: ctx, log: log, dirs: map[string][]store.Node{}, subtotals: map[crypt.ID]totals{}, res: &Result{}, progress: opts.Progress, cache: cache,
			trees: st, prevRoot: prev.Tree, havePrev: len(snaps) > 0}
		// Several files are read at once: chunking runs on the scanning
		// goroutines, so one file at a time would leave cores idle.
		sc := source.NewScanner(src, source.Options{Exclude: opts.Exclude, Cache: cache, Log: log,
			Parallel: max(2, runtime.GOMAXPROCS(0)), CarryPages: true, Scope: opts.Scope, FullReadEvery: opts.FullReadEvery})
		err = sc.Scan(ctx, b)
		if err == nil {
			err = w.Drain()
		}
		if errors.Is(err, store.ErrStaleCache) && attempt == 0 && cache != nil {
			log.Info("file cache is stale; rescanning every file")
			w.Reset()
			cache.Invalidate()
			continue
		}
		break
	}
	if err == nil && !b.haveRoot {
		err = errors.New("scan produced no root directory")
	}
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("backing up %s: %w", src, err)
	}
	if opts.Cache != nil {
		cache = nil // the caller saves it
	}
	res, err = b.commit(st, cache, src, host)
	if err == nil {
		res.JoinGap = st.TakeJoinGap()
	}
	return res, err
}

// commit makes the scanned tree a snapshot, unless it is the last one.
func (b *run) commit(st Store, cache *source.FileCache, src, host string) (*Result, error) {
	var last *store.Snapshot
	if snaps := st.Snapshots(); len(snaps) > 0 {
		last = &snaps[len(snaps)-1]
	}
	b.res.NewBlobs = b.w.NewBlobs()
	sort.Slice(b.res.Incomplete, func(i, j int) bool { return b.res.Incomplete[i].Path < b.res.Incomplete[j].Path })
	if last != nil && last.Tree == b.root && b.res.NewBlobs == 0 && slices.Equal(last.Incomplete, b.res.Incomplete) {
		b.w.Abort()
		b.res.Unchanged = true
		b.res.Snapshot = *last
		b.res.Deltas, b.res.AddedBytes = b.w.Written()
		saveCache(cache, b.log)
		return b.res, nil
	}

	snap := store.Snapshot{Time: time.Now().UTC(), Tree: b.root, Hostname: host, Source: src, Files: b.files, Bytes: b.bytes,
		RootMode: b.rootMode, RootModTime: b.rootModTime, Incomplete: b.res.Incomplete}
	if _, err := rand.Read(snap.ID[:]); err != nil {
		b.w.Abort()
		return nil, err
	}
	snap, err := b.w.Commit(snap)
	b.res.Deltas, b.res.AddedBytes = b.w.Written()
	if err != nil {
		return nil, err
	}
	if err := faults.Point("backup:spooled"); err != nil {
		return nil, err
	}
	b.res.Snapshot = snap
	saveCache(cache, b.log)
	return b.res, nil
}

// LoadCache loads the file cache from st's state directory; nil when it
// cannot be read (every file is read then, and a warning logged).
func LoadCache(st Store) *source.FileCache {
	cache, err := source.LoadFileCache(filepath.Join(st.StateDir(), "filecache"))
	if err != nil {
		st.Log().Warn("file cache unreadable; reading every file", zap.Error(err))
		return nil
	}
	return cache
}

func saveCache(c *source.FileCache, log *zap.Logger) {
	if c == nil {
		return
	}
	if err := c.Save(); err != nil {
		log.Warn("saving the file cache failed; the next backup reads every file", zap.Error(err))
	}
}
