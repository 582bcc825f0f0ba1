package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// PruneStatus reports the daemon's last scheduled prune.
type PruneStatus struct {
	Time          time.Time // when it ended; zero before the first
	Took          time.Duration
	Err           string   // "" when it succeeded
	Remotes       []string // the remotes it pruned (those reachable)
	Forgotten     int
	Rewritten     int
	Written       int
	Deleted       int
	UploadedBytes int64
	FreedBytes    int64
}

// LastPrune reports the last scheduled prune.
func (d *Daemon) LastPrune() PruneStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.lastPrune
	p.Remotes = append([]string(nil), p.Remotes...)
	return p
}

// untilPrune is how long to wait for the next scheduled prune: every
// after the last one (or after start-up), so a reload does not put it off.
func (d *Daemon) untilPrune(every time.Duration) time.Duration {
	d.mu.Lock()
	last := d.lastPrune.Time
	d.mu.Unlock()
	if last.IsZero() {
		last = d.started
	}
	return max(time.Until(last.Add(every)), 0)
}

// prune runs one scheduled prune. It is called from the backup loop, so
// it never overlaps a backup cycle, and it pauses the uploaders: prune
// uploads pending deltas itself and deletes obsolete ones, which an
// uploader must not be putting back at the same moment. Remotes that are
// failing are left out (prune would only fail on them); they catch up
// from the spool or by back-fill afterwards, and lose their garbage at a
// later prune.
func (d *Daemon) prune(ctx context.Context) {
	cfg := d.config()
	if err := d.stopped(); err != nil {
		// Not the writer (or a fork): a prune would write and delete.
		d.log.Info("scheduled prune skipped", zap.Error(err))
		return
	}
	start := time.Now()
	d.setPruning(true)
	defer d.setPruning(false)
	d.gate.pause()
	d.mu.Lock()
	ups := d.uploaders
	d.mu.Unlock()
	var pruned []*uploader
	defer func() {
		// Prune changed what the remotes it was given hold: their
		// uploaders learn it again before uploading anything, and before
		// the state says idle. The others were not touched.
		for _, u := range pruned {
			if err := u.t.Relist(ctx); err != nil {
				u.t.Forget()
			}
		}
		d.gate.resume()
		d.wakeUploaders()
	}()

	var targets []*store.Target
	var names []string
	var err error
	for _, u := range ups {
		if u.t.Remote == nil {
			continue
		}
		healthy := u.healthy()
		if u.isRepo && !healthy {
			err = fmt.Errorf("prune waits: the repository's remote %q is failing (%s)", u.name, u.lastError())
			break
		}
		if !healthy {
			d.log.Info("prune leaves out a failing remote; it catches up later", zap.String("remote", u.name))
			continue
		}
		pruned = append(pruned, u)
		// The store's own remote first: its freed bytes are the ones reported.
		if u.isRepo {
			targets = append([]*store.Target{u.t}, targets...)
			names = append([]string{u.name}, names...)
		} else {
			targets = append(targets, u.t)
			names = append(names, u.name)
		}
	}
	var res *prune.Result
	if err == nil {
		res, err = prune.Run(ctx, d.store, prune.Options{Policy: instance.RetentionPolicy(cfg), MaxUpload: int64(cfg.Prune.MaxUpload), Targets: targets})
	}
	if ctx.Err() != nil {
		return // stopping: prune is crash-safe and resumes next time
	}
	st := PruneStatus{Time: time.Now(), Took: time.Since(start), Remotes: names}
	if res != nil {
		st.Forgotten, st.Rewritten, st.Written, st.Deleted = res.Forgotten, res.Rewritten, res.Written, res.Deleted
		st.UploadedBytes, st.FreedBytes = res.UploadedBytes, res.FreedBytes
	}
	ev := statusapi.Event{Type: statusapi.EventPruned}
	if err != nil {
		st.Err = err.Error()
		ev.Error = st.Err
		d.metrics.prunes.WithLabelValues("failed").Inc()
		d.errs.failed("prune", "scheduled prune failed; it runs again at the next prune.every", err)
	} else {
		d.metrics.prunes.WithLabelValues("ok").Inc()
		d.metrics.lastPrune.Set(float64(st.Time.Unix()))
		d.metrics.prunedObjects.Add(float64(st.Deleted))
		d.errs.ok("prune", "scheduled prune works again")
		d.log.Info("pruned", zap.Strings("remotes", names), zap.Int("forgotten", st.Forgotten), zap.Int("compacted", st.Rewritten),
			zap.Int("written", st.Written), zap.Int("deleted", st.Deleted), zap.Int64("uploaded_bytes", st.UploadedBytes),
			zap.Int64("freed_bytes", st.FreedBytes), zap.Duration("took", st.Took))
	}
	d.mu.Lock()
	d.lastPrune = st
	d.mu.Unlock()
	d.events.publish(ev)
}

func (d *Daemon) setPruning(v bool) {
	d.mu.Lock()
	d.pruning = v
	d.mu.Unlock()
	d.noteState()
}

// errPaused ends an uploader's pass when prune pauses the uploaders.
var errPaused = errors.New("uploads paused for a prune")

// uploadGate lets prune stop the uploaders: pause cancels their passes in
// flight, waits for them to end and keeps new ones from starting until
// resume.
type uploadGate struct {
	mu      sync.Mutex
	cond    *sync.Cond
	paused  bool
	resumed chan struct{} // closed by resume
	cancels map[int]context.CancelFunc
	next    int
}

func newUploadGate() *uploadGate {
	g := &uploadGate{cancels: map[int]context.CancelFunc{}}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// enter waits while uploads are paused, then returns a context that pause
// cancels and the function to call when the pass is over.
func (g *uploadGate) enter(ctx context.Context) (context.Context, func(), error) {
	g.mu.Lock()
	for g.paused {
		ch := g.resumed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		g.mu.Lock()
	}
	cctx, cancel := context.WithCancel(ctx)
	id := g.next
	g.next++
	g.cancels[id] = cancel
	g.mu.Unlock()
	return cctx, func() {
		cancel()
		g.mu.Lock()
		delete(g.cancels, id)
		g.cond.Broadcast()
		g.mu.Unlock()
	}, nil
}

// pause cancels every pass in flight and returns once they have ended.
// Every blocking call in a pass honours its context, so this is prompt.
func (g *uploadGate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.paused = true
		g.resumed = make(chan struct{})
	}
	for _, cancel := range g.cancels {
		cancel()
	}
	for len(g.cancels) > 0 {
		g.cond.Wait()
	}
}

// isPaused reports whether a prune holds the uploads.
func (g *uploadGate) isPaused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}

func (g *uploadGate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.paused = false
		close(g.resumed)
	}
}
