package daemon

import (
	"context"
	"errors"
	"fmt"
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

// uploader brings one remote up to date with the repository's live
// deltas, in sequence order: from the spool when the delta is still
// there, otherwise copied from the repository's remote (a remote added
// later is back-filled that way). Each remote has its own uploader, so a
// remote that is down delays only itself.
type uploader struct {
	d       *Daemon
	name    string
	remote  remotes.Remote // nil when the remote could not be opened
	isRepo  bool           // the remote the repository reads from
	openErr error
	wakeCh  chan struct{}

	mu         sync.Mutex
	listed     bool
	has        map[string]bool // delta names known to be on the remote
	lastUpload time.Time
	lastErr    string
	uploading  bool
}

func newUploader(d *Daemon, name string, r remotes.Remote, isRepo bool) *uploader {
	return &uploader{d: d, name: name, remote: r, isRepo: isRepo, wakeCh: make(chan struct{}, 1), has: map[string]bool{}}
}

func newBrokenUploader(d *Daemon, name string, err error) *uploader {
	u := newUploader(d, name, nil, false)
	u.openErr = err
	u.lastErr = err.Error()
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
	if u.remote == nil {
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
		u.d.metrics.remoteErrors.WithLabelValues(u.name).Inc()
		u.d.errs.failed("remote:"+u.name, "uploading to a remote failed; retrying with backoff", err, zap.String("remote", u.name), zap.Duration("retry_in", backoff))
		u.d.events.publish(statusapi.Event{Type: statusapi.EventError, Remote: u.name, Error: err.Error()})
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

// sync uploads every live delta the remote lacks, oldest first, and stops
// at the first failure (order matters: a delta's parent must be there
// before it).
func (u *uploader) sync(ctx context.Context) error {
	pctx, done, err := u.d.gate.enter(ctx)
	if err != nil {
		return err
	}
	err = u.syncOnce(pctx)
	paused := err != nil && pctx.Err() != nil && ctx.Err() == nil
	done()
	if paused {
		u.mu.Lock()
		u.uploading = false
		u.mu.Unlock()
		u.d.noteState()
		return errPaused
	}
	u.mu.Lock()
	u.uploading = false
	if err != nil && ctx.Err() == nil {
		u.lastErr = err.Error()
	} else if err == nil {
		u.lastErr = ""
	}
	u.mu.Unlock()
	if err == nil {
		u.d.errs.ok("remote:"+u.name, "remote reachable again", zap.String("remote", u.name))
	}
	u.d.noteState()
	return err
}

func (u *uploader) syncOnce(ctx context.Context) error {
	u.mu.Lock()
	listed := u.listed
	u.mu.Unlock()
	if !listed {
		// A remote new to this installation gets the repository's config
		// object first (a no-op when it already has it).
		if !u.isRepo {
			if err := store.CopyConfig(ctx, u.d.readFrom, u.remote); err != nil {
				return err
			}
		}
		if err := u.relist(ctx); err != nil {
			return err
		}
	}
	for _, di := range u.d.store.LiveDeltas() {
		u.mu.Lock()
		have := u.has[di.Name]
		if !have && !u.uploading {
			u.uploading = true
		}
		u.mu.Unlock()
		if have {
			continue
		}
		u.d.noteState()
		var err error
		if di.SpoolPath != "" {
			err = u.d.store.Upload(ctx, u.remote, store.PendingDelta{Name: di.Name, Path: di.SpoolPath, Size: di.Size, Seq: di.Seq})
		} else {
			err = store.CopyDelta(ctx, u.d.readFrom, u.remote, di)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		u.mu.Lock()
		u.has[di.Name] = true
		u.lastUpload = now
		u.mu.Unlock()
		u.d.metrics.uploadedBytes.WithLabelValues(u.name).Add(float64(di.Size))
		u.d.log.Info("delta uploaded", zap.String("remote", u.name), zap.Uint64("seq", di.Seq), zap.Int64("bytes", di.Size))
		u.d.events.publish(statusapi.Event{Type: statusapi.EventUploaded, Remote: u.name, Delta: di.Name})
		if err := u.d.release(); err != nil {
			return err
		}
	}
	return nil
}

// healthy reports whether the remote is open and its last pass worked.
func (u *uploader) healthy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.remote != nil && u.lastErr == ""
}

func (u *uploader) lastError() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastErr
}

// relist learns which deltas the remote holds, replacing what was known.
func (u *uploader) relist(ctx context.Context) error {
	objs, err := u.remote.List(ctx, "deltas")
	if err != nil {
		return fmt.Errorf("listing %s: %w", u.name, err)
	}
	has := make(map[string]bool, len(objs))
	for _, o := range objs {
		has[o.Name] = true
	}
	u.mu.Lock()
	u.has = has
	u.listed = true
	u.mu.Unlock()
	return nil
}

// forget makes the next pass list the remote again.
func (u *uploader) forget() {
	u.mu.Lock()
	u.listed = false
	u.mu.Unlock()
}

// holds reports whether the remote is known to hold delta name.
func (u *uploader) holds(name string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.remote != nil && u.has[name]
}

func (u *uploader) status(live []store.DeltaInfo) statusapi.RemoteStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	rs := statusapi.RemoteStatus{Name: u.name, Uploading: u.uploading, LastError: u.lastErr}
	if u.remote != nil {
		rs.Remote = u.remote.String()
	}
	if !u.lastUpload.IsZero() {
		t := u.lastUpload.UTC()
		rs.LastUpload = &t
	}
	for _, di := range live {
		if !u.has[di.Name] {
			rs.Queued++
		}
	}
	return rs
}

// release takes out of the spool every pending delta that all remotes of
// the current configuration hold.
func (d *Daemon) release() error {
	d.releaseMu.Lock()
	defer d.releaseMu.Unlock()
	d.mu.Lock()
	ups := d.uploaders
	d.mu.Unlock()
	for _, p := range d.store.Pending() {
		for _, u := range ups {
			if !u.holds(p.Name) {
				return nil // later deltas cannot be everywhere either
			}
		}
		if err := d.store.Uploaded(p); err != nil {
			return fmt.Errorf("releasing %s from the spool: %w", p.Name, err)
		}
		d.log.Debug("delta left the spool", zap.String("delta", p.Name))
	}
	return nil
}
