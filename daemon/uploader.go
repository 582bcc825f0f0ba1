package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// Backoff between attempts on a failing remote (on top of the retries
// inside each call).
const (
	backoffInitial = 5 * time.Second
	backoffMax     = 5 * time.Minute
)

// uploader brings one remote up to date with the store's live deltas,
// through the store's per-target step (store.SyncTarget: in sequence
// order, from the spool or back-filled from the store's remote; a delta
// leaves the spool once every target holds it). Each remote has its own
// uploader, so a remote that is down delays only itself.
type uploader struct {
	d      *Daemon
	name   string
	t      *store.Target
	isRepo bool // the remote the store reads from
	wakeCh chan struct{}

	mu      sync.Mutex
	lastErr string
	// unreachable: lastErr is the remote out of reach (Daemon.unreachable).
	unreachable bool
	uploading   bool
	// begun counts the passes begun; ended is the number of the last one
	// that ended with a result (uploaded, or failed; not one paused for a
	// prune); uploads counts the deltas uploaded. A requested backup
	// waits on them for its upload (uploadwait.go).
	// returned is the number of the last pass that returned, however
	// it ended: a pass is under way while begun > returned.
	begun, ended, uploads, returned uint64
}

func newUploader(d *Daemon, t *store.Target, isRepo bool) *uploader {
	u := &uploader{d: d, name: t.Name, t: t, isRepo: isRepo, wakeCh: make(chan struct{}, 1)}
	if t.OpenErr != nil {
		u.lastErr, u.unreachable = t.OpenErr.Error(), d.unreachable(t.OpenErr)
	}
	return u
}

func (u *uploader) wake() {
	select {
	case u.wakeCh <- struct{}{}:
	default:
	}
}

// Serve uploads whenever woken, and retries with backoff while the remote
// fails. Idle, it waits on its channel with no timer.
func (u *uploader) Serve(ctx context.Context) error {
	if u.t.Remote == nil {
		<-ctx.Done()
		return nil
	}
	backoff := backoffInitial
	for {
		err := u.sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errPaused) {
			continue // the next pass waits for the prune to end
		}
		if err == nil {
			backoff = backoffInitial
			select {
			case <-ctx.Done():
				return nil
			case <-u.wakeCh:
			}
			continue
		}
		// Waiting for the first remote is not this remote failing: the
		// first remote's uploader wakes it once its check passed (the
		// backoff below is in case that check passed elsewhere).
		if !errors.Is(err, errWaitFirst) {
			u.d.metrics.remoteErrors.WithLabelValues(u.name).Inc()
			u.d.errs.failed("remote:"+u.name, "uploading to a remote failed; retrying with backoff", err, zap.String("remote", u.name), zap.Duration("retry_in", backoff))
			u.d.events.publish(statusapi.Event{Type: statusapi.EventError, Remote: u.name, Error: err.Error()})
		}
		// New work (a new delta, a reload) tries again before the backoff
		// ends; retries without it back off up to backoffMax.
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-u.wakeCh:
			t.Stop()
		case <-t.C:
			backoff = min(2*backoff, backoffMax)
		}
	}
}

// sync runs one pass of the store's step for this remote, unless prune
// holds the gate.
func (u *uploader) sync(ctx context.Context) error {
	pctx, done, err := u.d.gate.enter(ctx)
	if err != nil {
		return err
	}
	pass := u.begin()
	defer u.finish(pass)
	queued := u.queued()
	wasOffline := u.isRepo && u.d.offlineBackups()
	err = u.d.store.SyncTarget(pctx, u.t, store.SyncHooks{Start: u.started, Uploaded: u.uploaded})
	paused := err != nil && pctx.Err() != nil && ctx.Err() == nil
	done()
	if wasOffline && !u.d.offlineBackups() {
		// The first remote checked what was backed up without it: the
		// others, waiting for that (errWaitFirst), upload now.
		u.d.wakeUploaders()
	}
	if err != nil && !u.isRepo && ctx.Err() == nil && errors.Is(err, store.ErrAwaitsFirstRemote) {
		// While the store backs up without its first remote, every
		// pass starts with that remote's check (store.SyncTarget); a
		// failure there is the first remote's: its error is shown there
		// (the state, the first remote's line), not on this line, which
		// keeps what its own last pass found. A failure of this remote
		// after that check is its own.
		u.mu.Lock()
		u.uploading, u.ended = false, pass
		u.mu.Unlock()
		u.d.log.Debug("upload waits for the first remote", zap.String("remote", u.name), zap.Error(err))
		u.d.publishState(true)
		return errWaitFirst
	}
	if paused {
		u.mu.Lock()
		u.uploading = false
		u.mu.Unlock()
		u.d.noteState()
		return errPaused
	}
	unreachable := err != nil && u.d.unreachable(err)
	u.mu.Lock()
	u.uploading, u.ended = false, pass
	if err != nil && ctx.Err() == nil {
		u.lastErr, u.unreachable = err.Error(), unreachable
	} else if err == nil {
		u.lastErr, u.unreachable = "", false
	}
	u.mu.Unlock()
	if err == nil {
		u.d.errs.ok("remote:"+u.name, "remote reachable again", zap.String("remote", u.name))
	}
	// A first listing can change what is queued with no upload, and so
	// with no change of state.
	u.d.publishState(u.queued() != queued)
	return err
}

// errWaitFirst ends a pass of a remote other than the first that waits
// for the first remote's check (see sync).
var errWaitFirst = errors.New("waiting for the first remote")

// queued counts the live deltas the remote is not known to hold.
func (u *uploader) queued() int { return u.t.Missing(u.d.store.LiveDeltas()) }

func (u *uploader) started(store.DeltaInfo) {
	u.mu.Lock()
	u.uploading = true
	u.mu.Unlock()
	u.d.noteState()
}

func (u *uploader) uploaded(di store.DeltaInfo) {
	// The store records the upload's time once this returns (status
	// reads it there): whoever sees that time also finds its bytes in
	// the metrics.
	u.d.metrics.uploadedBytes.WithLabelValues(u.name).Add(float64(di.Size))
	u.mu.Lock()
	u.uploads++
	u.mu.Unlock()
	u.d.log.Info("delta uploaded", zap.String("remote", u.name), zap.Uint64("seq", di.Seq), zap.Int64("bytes", di.Size))
	u.d.events.publish(statusapi.Event{Type: statusapi.EventUploaded, Remote: u.name, Delta: di.Name, Bytes: di.Size})
}

// healthy reports whether the remote is open and its last pass worked.
func (u *uploader) healthy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.t.Remote != nil && u.lastErr == ""
}

// unreachableFor is the remote's last error when its last pass found it
// out of reach and it lacks some of live ("" otherwise).
func (u *uploader) unreachableFor(live []store.DeltaInfo) string {
	missing := u.t.Missing(live)
	u.mu.Lock()
	defer u.mu.Unlock()
	if missing == 0 || !u.unreachable {
		return ""
	}
	return u.lastErr
}

// unreachable reports whether err is a remote out of reach: the class
// (Options.ErrorClass) that makes a backup run without the daemon exit 5;
// without ErrorClass, a remote unreachable or one that lost the repository.
func (d *Daemon) unreachable(err error) bool {
	if d.opts.ErrorClass != nil {
		return d.opts.ErrorClass(err) == statusapi.ClassUnreachable
	}
	return errors.Is(err, remotes.ErrUnreachable) || errors.Is(err, store.ErrRepositoryGone)
}

// unreachableRemotes are the remotes that lack some live delta and were
// out of reach at their last try, with that try's error: what a requested
// backup's answer says was not uploaded, and why.
func (d *Daemon) unreachableRemotes() []statusapi.RemoteError {
	d.mu.Lock()
	ups := d.uploaders
	d.mu.Unlock()
	live := d.store.LiveDeltas()
	var out []statusapi.RemoteError
	for _, u := range ups {
		if e := u.unreachableFor(live); e != "" {
			out = append(out, statusapi.RemoteError{Name: u.name, Error: e})
		}
	}
	return out
}

func (u *uploader) lastError() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastErr
}

// activity is the part of the remote's line the daemon's state is
// derived from.
func (u *uploader) activity() statusapi.RemoteStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	return statusapi.RemoteStatus{Uploading: u.uploading, LastError: u.lastErr}
}

func (u *uploader) status(live []store.DeltaInfo) statusapi.RemoteStatus {
	queued := u.t.Missing(live)
	rc := remoteConf(u.d.config(), u.name) // before u.mu: config takes d.mu
	// Recorded in the state directory by whichever process uploaded
	// (this daemon, an earlier one, `chatsafe backup` without one).
	last := u.d.store.LastUpload(u.name)
	u.mu.Lock()
	defer u.mu.Unlock()
	rs := statusapi.RemoteStatus{Name: u.name, Uploading: u.uploading, LastError: u.lastErr, Queued: queued}
	if rc.URL != "" {
		// Where it is (the remote's own String is its name, for logs).
		rs.Remote = remotes.Redact(rc.URL)
	} else if u.t.Remote != nil {
		rs.Remote = u.t.Remote.String()
	}
	if !last.IsZero() {
		t := last.UTC()
		rs.LastUpload = &t
	}
	return rs
}
