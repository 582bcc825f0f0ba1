package daemon

import (
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/store"
)

// A status must answer at once: `chatsafe status` gives up after 10 s
// and calls the daemon stuck. The store's lock, which its reads take, is
// held through some long work (reading the first remote's history when
// it is back in reach after a start from the state, a take-over found at
// a commit): a status then answers from the last reading of the store
// rather than waiting for that work to end.

// storeViewWait is how long a status waits for a fresh reading of the
// store before it answers from the last one. Reads take microseconds
// when the store's lock is free.
const storeViewWait = 2 * time.Second

// storeView is what a status reads of the store, read at once.
type storeView struct {
	id        string
	last      *store.Snapshot // nil: none yet
	pending   int
	takenOver *store.TakenOverError
	fork      *store.Fork
	damage    *store.DamageError
	offline   *store.OfflineStatus // nil: nothing backed up without the first remote
	live      []store.DeltaInfo
}

// storeViews hands out readings of the store: one read at a time, the
// last one kept.
type storeViews struct {
	mu      sync.Mutex
	last    *storeView
	reading chan struct{} // closed when the running read ends; nil: none runs
}

// readStore reads the store's part of a status (it waits for the
// store's lock).
func (d *Daemon) readStore() *storeView {
	v := &storeView{id: d.store.ID(), pending: len(d.store.Pending()), takenOver: d.store.TakenOver(),
		fork: d.store.Fork(), damage: d.store.Damage(), live: d.store.LiveDeltas()}
	if s, ok := d.store.LatestSnapshot(); ok {
		v.last = &s
	}
	if off, ok := d.store.Offline(); ok {
		v.offline = &off
	}
	return v
}

// storeView is a fresh reading of the store, or, when the store is busy
// for longer than storeViewWait, the last one (the read goes on without
// the caller and is the next status's). Only after the daemon is ready.
func (d *Daemon) storeView() *storeView {
	vs := &d.views
	vs.mu.Lock()
	done := vs.reading
	if done == nil {
		done = make(chan struct{})
		vs.reading = done
		go func() {
			vs.set(d.readStore())
			close(done)
		}()
	}
	vs.mu.Unlock()
	t := time.NewTimer(storeViewWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	if last := vs.get(); last != nil {
		return last
	}
	<-done // no reading to answer from yet (adopt makes one)
	return vs.get()
}

// set makes v the last reading; the read that ran, if any, is over.
func (vs *storeViews) set(v *storeView) {
	vs.mu.Lock()
	vs.last, vs.reading = v, nil
	vs.mu.Unlock()
}

func (vs *storeViews) get() *storeView {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.last
}

// facts are what the state is derived from in v.
func (v *storeView) facts() stateFacts {
	return stateFacts{takenOver: v.takenOver != nil, forked: v.fork != nil, damaged: v.damage != nil,
		offline: func() bool { return v.offline != nil }}
}
