package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/watcher"
)

type backupRequest struct {
	req   statusapi.BackupRequest
	reply chan backupReply
}

type backupReply struct {
	res statusapi.BackupResult
	err error
}

// backupLoop runs one backup cycle per change set, and one per request
// from the socket. A change set's paths are the cycle's scope: only they
// are looked at, the rest of the tree is carried over from the last scan
// (the watcher's periodic full scan, a requested backup and the first
// cycle look at everything; the file cache makes unchanged files cost a
// stat). Scheduled prunes (prune.every) run here too, so that a
// prune never overlaps a cycle.
func (d *Daemon) backupLoop(ctx context.Context, w *watcher.Watcher) error {
	// The file cache is written on its own timer, between cycles, never
	// in one (see fileCacheSaveEvery); and when the loop ends.
	save := &cacheSave{every: d.fileCacheSaveEvery()}
	defer save.stop()
	defer d.saveFileCache()
	var pruneC <-chan time.Time
	var pruneT *time.Timer
	if every := d.pruneEvery(); every > 0 {
		pruneT = time.NewTimer(d.untilPrune(every))
		defer pruneT.Stop()
		pruneC = pruneT.C
	}
	retry := newCycleRetry(cycleRetryFirst, cycleRetryMax)
	defer retry.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case cs, ok := <-w.Changes():
			if !ok {
				return nil
			}
			d.log.Debug("change set", zap.String("reason", cs.Reason), zap.Int("paths", len(cs.Paths)), zap.Bool("full", cs.FullScan))
			if d.skipWhilePaused() {
				continue
			}
			var scope []string
			if !cs.FullScan && len(cs.Paths) > 0 {
				scope = cs.Paths
			}
			res, err := d.cycle(ctx, cs.Reason, scope, retry)
			save.after(err, res.Unchanged)
		case <-retry.C():
			retry.fired()
			if d.skipWhilePaused() {
				continue
			}
			res, err := d.cycle(ctx, "retry", nil, retry)
			save.after(err, res.Unchanged)
		case r := <-d.backupReq:
			if err := d.store.ReseedNamed(r.req.Reseed); err != nil {
				r.reply <- backupReply{err: err}
				continue
			}
			if len(r.req.Reseed) > 0 {
				d.wakeUploaders() // an unchanged cycle wakes none
			}
			res, err := d.cycle(ctx, "requested", nil, retry)
			save.after(err, res.Unchanged)
			if err == nil {
				res.Unreachable = d.unreachableRemotes()
			}
			r.reply <- backupReply{res, err}
		case <-save.C():
			save.fired()
			d.saveFileCache()
		case <-pruneC:
			d.prune(ctx)
			pruneT.Reset(d.pruneEvery())
		}
	}
}

// pruneEvery is how often scheduled prunes run (0: never).
func (d *Daemon) pruneEvery() time.Duration {
	if d.opts.PruneEvery > 0 {
		return d.opts.PruneEvery
	}
	return time.Duration(d.config().Prune.Every)
}

// Failed cycles are retried after cycleRetryFirst, backing off to
// cycleRetryMax; a change or a request runs one sooner.
const (
	cycleRetryFirst = 5 * time.Second
	cycleRetryMax   = 5 * time.Minute
)

// cycle runs one backup into the spool and wakes the uploaders; a failure
// schedules a retry (of the whole tree), a success cancels it. scope limits
// what it looks at (nil: the whole tree).
func (d *Daemon) cycle(ctx context.Context, reason string, scope []string, retry *cycleRetry) (statusapi.BackupResult, error) {
	cfg := d.config()
	if err := d.stopped(); err != nil {
		d.announceStopped(err)
		return statusapi.BackupResult{}, err
	}
	d.setScanning(true)
	start := time.Now()
	// The file cache stays in memory between cycles: reading it back costs
	// a few bytes per page of every database (its page map) each cycle.
	if d.fileCache == nil {
		d.fileCache = backup.LoadCache(d.store)
	}
	res, err := backup.Run(ctx, d.store, backup.Options{Source: cfg.Source, Exclude: cfg.Excluded, Scope: scope, Cache: d.fileCache,
		FullReadEvery: time.Duration(cfg.Sync.FullReadEvery)})
	d.setScanning(false)
	d.observeCycle(ctx, start, res, err)
	if isStop(err) {
		d.metrics.backups.WithLabelValues("failed").Inc()
		d.announceStopped(err)
		return statusapi.BackupResult{}, err
	}
	if err != nil {
		// backup.Run took the file cache back to what the last committed
		// cycle left: it is kept, not read again from the copy on disk,
		// which may be older than that cycle. No failure leaves the
		// memory less trustworthy than that copy; the disk is read again
		// only while no cache is loaded (LoadCache failed).
		if ctx.Err() != nil {
			// Stopping: the cycle was abandoned and nothing was committed.
			return statusapi.BackupResult{}, fmt.Errorf("backup interrupted: the daemon is stopping: %w", ctx.Err())
		}
		d.metrics.backups.WithLabelValues("failed").Inc()
		err = withDiskFull(err, cfg.StateDir)
		d.mu.Lock()
		d.lastErr = err.Error()
		d.mu.Unlock()
		in := retry.failed()
		d.errs.failed("backup", "backup cycle failed; retrying with backoff (or on the next change)", err, zap.Duration("retry_in", in))
		d.events.publish(statusapi.Event{Type: statusapi.EventError, Error: err.Error()})
		d.noteState()
		return statusapi.BackupResult{}, err
	}
	retry.succeeded()
	d.mu.Lock()
	d.lastErr = ""
	d.mu.Unlock()
	d.errs.ok("backup", "backup cycles work again")
	d.memLimit.adjust()
	d.metrics.lastSuccess.SetToCurrentTime()
	out := statusapi.BackupResult{Unchanged: res.Unchanged, Deltas: res.Deltas, AddedBytes: res.AddedBytes, ReadBytes: res.ReadBytes}
	snap := toAPISnapshot(res.Snapshot)
	out.Snapshot = &snap
	for _, w := range res.Warnings {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %v", w.Path, w.Err))
		d.log.Warn("could not read a file; the rest was backed up", zap.String("path", w.Path), zap.Error(w.Err))
	}
	if g := res.JoinGap; g != nil {
		out.Warnings = append(out.Warnings, d.noteJoinGap(g))
	}
	if res.Unchanged {
		d.metrics.backups.WithLabelValues("unchanged").Inc()
		d.log.Debug("nothing changed", zap.String("reason", reason), zap.Int64("read_bytes", res.ReadBytes), zap.Duration("took", time.Since(start)))
	} else {
		d.metrics.backups.WithLabelValues("committed").Inc()
		d.metrics.deltaSize.Observe(float64(res.AddedBytes))
		d.log.Info("snapshot committed", zap.String("snapshot", res.Snapshot.ShortID()), zap.Uint64("seq", res.Snapshot.Seq),
			zap.Int64("delta_bytes", res.AddedBytes), zap.Int64("read_bytes", res.ReadBytes), zap.String("reason", reason),
			zap.Duration("took", time.Since(start)))
		d.events.publish(statusapi.Event{Type: statusapi.EventSnapshot, Snapshot: &snap})
		d.wakeUploaders()
	}
	out.PendingDeltas = len(d.store.Pending())
	d.noteState()
	return out, nil
}

// fileCacheSaveEvery bounds how long the file cache on disk may lag the
// one in memory: the cache holds every database's page map, so writing it
// after every cycle would cost a few bytes per page of every database each
// time (the bench's --full corpus: a 2.5 MB file, 4–9 ms of CPU). A cache
// older than the last cycle (after a crash) only costs re-reads. The write
// is not part of a cycle: a cycle that commits arms a timer, and the backup loop writes the cache when it fires, between
// cycles. Written by the cycle that found it due, it was the first cycle
// after five idle minutes that paid for it (docs/benchmarks.md, "A cycle
// after the daemon sat idle").
const fileCacheSaveEvery = 5 * time.Minute

func (d *Daemon) fileCacheSaveEvery() time.Duration {
	if d.opts.FileCacheSaveEvery > 0 {
		return d.opts.FileCacheSaveEvery
	}
	return fileCacheSaveEvery
}

// saveFileCache writes the file cache (nothing if none is loaded: no
// cycle ran, or the one on disk could not be read).
func (d *Daemon) saveFileCache() {
	if d.fileCache == nil {
		return
	}
	if err := d.fileCache.Save(); err != nil {
		d.log.Warn("saving the file cache failed; after a restart more files are read again", zap.Error(err))
		return
	}
	d.log.Debug("file cache saved")
}

// cacheSave is the timer of the file cache's next write: armed by the
// first successful cycle after a write, so that the cache on disk lags
// at most every (plus a cycle) behind. The first successful cycle of a
// run has it written at once, after the cycle: after a crash the next run
// starts from the cache on disk, and one written by an earlier run (or
// none, on a new installation) would not know what this run has backed
// up, so a file unreadable by then would lose its previous version. (A
// failed cycle no longer reads the cache back: backup.Run rolls it back
// in memory.) It belongs to the backup loop's goroutine.
type cacheSave struct {
	every   time.Duration
	written bool        // once by this run
	t       *time.Timer // nil when nothing is waiting to be written
}

// after notes a cycle's outcome: a successful one that committed changed
// the cache. One that found nothing changed arms nothing once the run's
// first write is taken (an idle daemon's hourly full scan would rewrite
// the whole cache five minutes later); what it may have refreshed in the
// cache (a touched file's times) costs only a re-read after a crash.
func (s *cacheSave) after(cycleErr error, unchanged bool) {
	if cycleErr != nil || s.t != nil || (unchanged && s.written) {
		return
	}
	if !s.written {
		s.t = time.NewTimer(0)
		return
	}
	s.t = time.NewTimer(s.every)
}

// C fires when the cache is due to be written; nil (never) when it is
// written already.
func (s *cacheSave) C() <-chan time.Time {
	if s.t == nil {
		return nil
	}
	return s.t.C
}

// fired marks the write as taken.
func (s *cacheSave) fired() { s.t, s.written = nil, true }

func (s *cacheSave) stop() {
	if s.t != nil {
		s.t.Stop()
		s.t = nil
	}
}

func (d *Daemon) setScanning(v bool) {
	d.mu.Lock()
	d.scanning = v
	d.mu.Unlock()
	d.noteState()
}

func (d *Daemon) wakeUploaders() {
	d.mu.Lock()
	ups := d.uploaders
	d.mu.Unlock()
	for _, u := range ups {
		u.wake()
	}
}

// Backup implements statusapi.Backend: it runs a cycle now, in the backup
// loop, so that it never races a cycle started by the watcher. Its error
// carries its class (Options.ErrorClass).
func (d *Daemon) Backup(ctx context.Context, req statusapi.BackupRequest) (statusapi.BackupResult, error) {
	res, err := d.backup(ctx, req)
	if err != nil && d.opts.ErrorClass != nil {
		err = statusapi.WithClass(err, d.opts.ErrorClass(err))
	}
	return res, err
}

func (d *Daemon) backup(ctx context.Context, req statusapi.BackupRequest) (statusapi.BackupResult, error) {
	r := backupRequest{req: req, reply: make(chan backupReply, 1)}
	// Until the first try to open is over, whether the daemon runs
	// offline is not known.
	select {
	case <-d.tried:
	case <-ctx.Done():
		return statusapi.BackupResult{}, ctx.Err()
	}
	if err := d.offlineNow(); err != nil {
		return statusapi.BackupResult{}, err
	}
	select {
	case <-d.ready:
	case <-ctx.Done():
		return statusapi.BackupResult{}, ctx.Err()
	}
	select {
	case d.backupReq <- r:
	case <-ctx.Done():
		return statusapi.BackupResult{}, ctx.Err()
	}
	select {
	case rep := <-r.reply:
		if rep.err == nil && req.WaitUpload {
			// The answer is about this backup's upload too, as a
			// backup run without the daemon: waited for here, outside
			// the backup loop, which goes on meanwhile.
			d.awaitUploads(ctx, &rep.res)
		}
		return rep.res, rep.err
	case <-ctx.Done():
		return statusapi.BackupResult{}, errors.New("gave up waiting for the backup; it continues in the daemon")
	}
}

func toAPISnapshot(s store.Snapshot) statusapi.Snapshot {
	out := statusapi.Snapshot{ID: s.IDString(), ShortID: s.ShortID(), Seq: s.Seq, Time: s.Time, Hostname: s.Hostname,
		Source: s.Source, Files: s.Files, Bytes: s.Bytes}
	if s.Device != ([16]byte{}) {
		out.Device = hex.EncodeToString(s.Device[:])
	}
	for _, o := range s.Incomplete {
		out.Incomplete = append(out.Incomplete, statusapi.Omission{Path: o.Path, Reason: o.Reason})
	}
	return out
}
