package daemon

import (
	"encoding/hex"
	"errors"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// One writer at a time: a daemon whose store says another device took
// over (or that the history is forked) stops backing up and says so once,
// everywhere: the state, an event, a log line. It keeps serving status and
// uploading what it committed before.

// stopped returns why this device may not write now (nil: it may).
func (d *Daemon) stopped() error {
	if to := d.store.TakenOver(); to != nil {
		return to
	}
	if f := d.store.Fork(); f != nil {
		return &store.ForkError{Fork: *f}
	}
	if de := d.store.Damage(); de != nil {
		return de
	}
	return nil
}

// isStop reports whether err stops this device writing (taken over,
// forked, damaged) rather than failing one cycle.
func isStop(err error) bool {
	var de *store.DamageError
	return errors.Is(err, store.ErrTakenOver) || errors.Is(err, store.ErrFork) || errors.As(err, &de)
}

// announceStopped reports err (taken over or forked) the first time it is
// seen; later cycles stay quiet.
func (d *Daemon) announceStopped(err error) {
	d.mu.Lock()
	first := d.lastErr != err.Error()
	d.lastErr = err.Error()
	d.mu.Unlock()
	if !first {
		return
	}
	typ := statusapi.EventError
	var de *store.DamageError
	switch {
	case errors.Is(err, store.ErrTakenOver):
		typ = statusapi.EventTakenOver
		d.log.Error("taken over: another device writes this repository now; this daemon backs up nothing until "+d.cmd("takeover"), zap.Error(err))
		// The store took the other device's deltas in and left the
		// remotes besides its own to be listed again: the uploaders do,
		// so that none shows those deltas queued (and one that lacks
		// them gets them, as every remote gets every live delta).
		d.wakeUploaders()
	case errors.As(err, &de):
		typ = statusapi.EventDamaged
		d.log.Error("the repository is damaged; this daemon commits nothing on a head it cannot verify until "+d.cmd("repair")+" (stop the daemon to run it)", zap.Error(err))
	default:
		d.log.Error("the repository history is forked; this daemon backs up nothing until "+d.cmd("fork resolve"), zap.Error(err))
	}
	d.events.publish(statusapi.Event{Type: typ, Error: err.Error()})
	d.noteState()
}

func apiTakenOver(to *store.TakenOverError) *statusapi.TakenOver {
	if to == nil {
		return nil
	}
	return &statusapi.TakenOver{Device: hex.EncodeToString(to.Device[:]), Hostname: to.Hostname, Time: to.Time}
}

func apiDamage(e *store.DamageError) []string {
	if e == nil {
		return nil
	}
	out := make([]string, 0, len(e.Damage))
	for _, dm := range e.Damage {
		out = append(out, dm.String())
	}
	return out
}

func apiFork(f *store.Fork) *statusapi.Fork {
	if f == nil {
		return nil
	}
	out := &statusapi.Fork{Seq: f.Seq}
	for _, b := range f.Branches {
		fb := statusapi.ForkBranch{Delta: b.DeltaIDString(), Seq: b.Seq, Device: hex.EncodeToString(b.Device[:]), Hostname: b.Hostname, Time: b.Time, Snapshots: []string{}}
		for _, s := range b.Snapshots {
			fb.Snapshots = append(fb.Snapshots, s.IDString())
		}
		out.Branches = append(out.Branches, fb)
	}
	return out
}
