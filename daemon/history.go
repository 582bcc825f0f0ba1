package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusui"
)

// historyLen bounds each list the status page draws from.
const historyLen = 100

// history remembers the daemon's recent work for the status page. It is
// fed by the event bus (uploads, errors) and by each cycle's outcome.
type history struct {
	mu      sync.Mutex
	paused  bool
	missed  bool // a change came in while paused
	cycles  []statusui.Cycle
	uploads []statusui.Upload
	errors  []statusui.ErrorEntry
	// openErr is 1 + the index in errors of the entry that the failed
	// tries to open while offline update (0: none).
	openErr int
}

func keepLast[T any](s []T, v T) []T {
	s = append(s, v)
	if len(s) > historyLen {
		s = append(s[:0:0], s[len(s)-historyLen:]...)
	}
	return s
}

// event records what an event says (the bus calls it for every event
// but offline tries to open, see openFailed).
func (h *history) event(ev statusapi.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch ev.Type {
	case statusapi.EventUploaded:
		h.uploads = keepLast(h.uploads, statusui.Upload{Time: ev.Time, Remote: ev.Remote, Delta: ev.Delta, Bytes: ev.Bytes})
	case statusapi.EventError:
		h.addError(statusui.ErrorEntry{Time: ev.Time, Remote: ev.Remote, Error: ev.Error})
	}
}

// addError appends e, keeping openErr on its entry as old ones go.
func (h *history) addError(e statusui.ErrorEntry) {
	n := len(h.errors) + 1
	h.errors = keepLast(h.errors, e)
	h.openErr = max(h.openErr-(n-len(h.errors)), 0)
}

// openFailed records a failed try to open while offline: the first one
// adds an entry, the next ones update it (a try every few minutes for
// hours would push every other error off the list).
func (h *history) openFailed(e statusui.ErrorEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.openErr > 0 {
		h.errors[h.openErr-1] = e
		return
	}
	h.addError(e)
	h.openErr = len(h.errors)
}

// opened ends the offline entry: a later offline spell gets its own.
func (h *history) opened() {
	h.mu.Lock()
	h.openErr = 0
	h.mu.Unlock()
}

// observeCycle records one backup cycle, in the history and the duration
// histogram. A cycle abandoned because the daemon stops is not recorded.
func (d *Daemon) observeCycle(ctx context.Context, start time.Time, res *backup.Result, err error) {
	if ctx.Err() != nil {
		return
	}
	took := time.Since(start)
	d.metrics.backupDuration.Observe(took.Seconds())
	c := statusui.Cycle{Time: start.UTC(), TookS: took.Seconds()}
	switch {
	case err != nil:
		c.Error = err.Error()
	case res.Unchanged:
		c.Unchanged = true
	default:
		c.AddedBytes = res.AddedBytes
		c.Snapshot = res.Snapshot.ShortID()
	}
	d.hist.mu.Lock()
	d.hist.cycles = keepLast(d.hist.cycles, c)
	d.hist.mu.Unlock()
}

// History implements statusui.Backend.
func (d *Daemon) History() statusui.History {
	h := &d.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	return statusui.History{
		Since:   d.started.UTC(),
		Paused:  h.paused,
		Cycles:  append([]statusui.Cycle{}, h.cycles...),
		Uploads: append([]statusui.Upload{}, h.uploads...),
		Errors:  append([]statusui.ErrorEntry{}, h.errors...),
	}
}

// skipWhilePaused reports whether the backup loop should drop a change
// set because backups are paused; it remembers that one was dropped.
func (d *Daemon) skipWhilePaused() bool {
	d.hist.mu.Lock()
	defer d.hist.mu.Unlock()
	if d.hist.paused {
		d.hist.missed = true
	}
	return d.hist.paused
}

func (d *Daemon) isPaused() bool {
	d.hist.mu.Lock()
	defer d.hist.mu.Unlock()
	return d.hist.paused
}

// SetPaused implements statusui.Backend. Paused, changes to the source
// start no backup (uploads of what is committed go on, and a backup asked
// for still runs); resuming backs up at once what changed meanwhile, in
// the caller's time, so no goroutine outlives the request.
func (d *Daemon) SetPaused(ctx context.Context, paused bool) error {
	d.hist.mu.Lock()
	was, missed := d.hist.paused, d.hist.missed
	d.hist.paused = paused
	if !paused {
		d.hist.missed = false
	}
	d.hist.mu.Unlock()
	if was != paused {
		d.log.Info("backups " + map[bool]string{true: "paused", false: "resumed"}[paused] + " from the status page")
	}
	d.noteState()
	if was && !paused && missed {
		_, err := d.Backup(ctx, statusapi.BackupRequest{})
		return err
	}
	return nil
}
