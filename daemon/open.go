package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusui"
)

// Opening the installation needs the first remote (the repository's
// config, its listing, the head and the take-over checks) and, on a
// device whose key cache is empty or with a vault as commit point, the
// vault. When the first remote is out of reach and the state directory
// holds what an earlier open read (instance.Options.FromState), the
// repository opens from the state: cycles commit into the spool, and the
// store checks them against the remote before any upload. Otherwise (a
// first run, a vault, a remote that does not even open) the daemon starts
// "offline": its status socket and page answer, and it tries to open again
// with a back-off; nothing is read from the source, committed or uploaded
// until the open succeeds.

// openBackoff is the wait before the second try to open; each failure
// doubles it, up to openBackoffMax. A var for tests.
var openBackoff = 5 * time.Second

const openBackoffMax = 5 * time.Minute

// offlineState is why the installation is not open yet, and when the
// daemon tries again.
type offlineState struct {
	err  error
	next time.Time
}

// retryOpen reports whether a failed open is waited out and tried again
// rather than stopping the daemon: a remote or the vault out of reach,
// or a full disk under the state directory.
func retryOpen(err error) bool { return instance.Unreachable(err) || isDiskFull(err) }

// openInstance opens the installation once.
func (d *Daemon) openInstance(ctx context.Context, cfg *configs.Config) (*instance.Instance, error) {
	// Run holds the state directory's lock (StateLock), which every
	// writable open takes before the repository's: no other chatsafe
	// process can hold that one, so no store.ErrLocked comes back here.
	inst, err := instance.Open(ctx, cfg, d.instanceOptions())
	if err != nil {
		return nil, withDiskFull(fmt.Errorf("opening the installation: %w", err), cfg.StateDir)
	}
	return inst, nil
}

// instanceOptions is how the daemon opens its installation.
func (d *Daemon) instanceOptions() instance.Options {
	return instance.Options{FetchKey: d.opts.FetchKey, Retry: d.opts.Retry, KeepBroken: true, Log: d.log, StateLock: d.stateLock, FromState: true,
		// A background service trades its database phase's speed for memory.
		OneBulkEncoder: true}
}

// noteOffline records a failed open and publishes the state.
func (d *Daemon) noteOffline(err error, wait time.Duration) {
	next := time.Now().Add(wait)
	d.mu.Lock()
	d.offline = &offlineState{err: err, next: next}
	d.mu.Unlock()
	msg := "cannot open the repository: a remote or the vault is out of reach; the daemon runs offline and tries again"
	if isDiskFull(err) {
		msg = "cannot open the repository: no space left under the state directory; free some space, the daemon tries again"
	}
	d.errs.failed("open", msg, err, zap.Time("next_try", next))
	// The status page lists it with the other errors, in one entry that
	// each try updates; the event streams hear every try.
	ev := statusapi.Event{Type: statusapi.EventError, Error: err.Error(), Time: time.Now().UTC()}
	if errors.Is(err, remotes.ErrUnreachable) {
		ev.Remote = d.config().Remotes[0].Name
	}
	d.hist.openFailed(statusui.ErrorEntry{Time: ev.Time, Remote: ev.Remote, Error: ev.Error})
	d.events.send(ev)
	d.publishState(true)
}

// waitOpen tries to open the installation until it opens (nil once ctx
// is done, or on an error no retry can fix; offlineErr says which).
func (d *Daemon) waitOpen(ctx context.Context, cfg *configs.Config) *instance.Instance {
	wait := openBackoff
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		inst, err := d.openInstance(ctx, cfg)
		if err == nil {
			d.errs.ok("open", "the repository is open; backups start", zap.String("remote", cfg.Remotes[0].Name))
			return inst
		}
		if ctx.Err() != nil {
			return nil
		}
		if !retryOpen(err) {
			d.mu.Lock()
			d.offline = &offlineState{err: err}
			d.mu.Unlock()
			return nil
		}
		wait = min(2*wait, openBackoffMax)
		d.noteOffline(err, wait)
	}
}

// offlineErr is why waitOpen gave up: nil when ctx is done, else the
// last error (not a remote out of reach: the daemon exits with it).
func (d *Daemon) offlineErr(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.offline == nil {
		return errors.New("the installation could not be opened")
	}
	return d.offline.err
}

// offlineStatus fills st while the installation is not open: the state
// "offline", the error and, on the first remote when it is the one out of
// reach, when the daemon tries again. nil offline: still starting.
func (d *Daemon) offlineStatus(st *statusapi.Status, cfg *configs.Config) {
	d.mu.Lock()
	off := d.offline
	d.mu.Unlock()
	if off == nil {
		st.State = statusapi.StateStarting
		return
	}
	st.State = statusapi.StateOffline
	again := "trying again at " + off.next.Local().Format(time.TimeOnly)
	st.LastError = fmt.Sprintf("cannot open the repository (%s): %v", again, off.err)
	if isDiskFull(off.err) {
		// Nothing to wait for but the person's fix: an error, in
		// the words of that fix.
		st.State = statusapi.StateError
		st.LastError = fmt.Sprintf("%v (cannot open the repository; %s)", off.err, again)
	}
	for i, rc := range cfg.Remotes {
		rs := statusapi.RemoteStatus{Name: rc.Name, Remote: remotes.Redact(rc.URL)}
		if i == 0 && errors.Is(off.err, remotes.ErrUnreachable) {
			rs.LastError = "unreachable, " + again // the state's error says more
		}
		st.Remotes = append(st.Remotes, rs)
	}
}

// offlineNow is the answer to a backup asked for while the daemon runs
// offline (nil: it is not).
func (d *Daemon) offlineNow() error {
	if d.isReady() {
		return nil
	}
	d.mu.Lock()
	off := d.offline
	d.mu.Unlock()
	if off == nil {
		return nil
	}
	if isDiskFull(off.err) {
		return fmt.Errorf("cannot back up (the daemon tries again at %s): %w", off.next.Local().Format(time.TimeOnly), off.err)
	}
	return fmt.Errorf("%w (trying again at %s): %w", statusapi.ErrOffline, off.next.Local().Format(time.TimeOnly), off.err)
}
