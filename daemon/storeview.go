package daemon

import (
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/store"
)

// A status must answer at once: `chatsafe status` gives up after 10 s
// and calls the daemon stuck, and the status page polls it with the
// snapshot list. The store's lock, which its reads take, is held through
// some long work (reading the first remote's history when it is back in
// reach after a start from the state, a take-over found at a commit):
// both then answer from the last reading of the store rather than wait
// for that work to end.

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

// lastReading hands out readings of the store: one read at a time, the
// last one kept.
type lastReading[T any] struct {
	mu      sync.Mutex
	last    T
	have    bool
	reading chan struct{} // closed when the running read ends; nil: none runs
}

// get is a fresh reading, or, when read waits for the store's lock
// longer than storeViewWait, the last one: read goes on without the
// caller, and its reading is the next caller's. With no reading yet it
// waits for read.
func (l *lastReading[T]) get(read func() T) T {
	l.mu.Lock()
	done := l.reading
	if done == nil {
		done = make(chan struct{})
		l.reading = done
		go func() {
			l.set(read())
			close(done)
		}()
	}
	l.mu.Unlock()
	t := time.NewTimer(storeViewWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	if v, ok := l.latest(); ok {
		return v
	}
	<-done
	v, _ := l.latest()
	return v
}

// set makes v the last reading; the read that ran, if any, is over.
func (l *lastReading[T]) set(v T) {
	l.mu.Lock()
	l.last, l.have, l.reading = v, true, nil
	l.mu.Unlock()
}

// latest is the last reading, if there is one.
func (l *lastReading[T]) latest() (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.have
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

// storeView is the store's part of a status, fresh or, while the store
// is busy, the last one read. Only once the daemon is ready (adopt reads
// the first).
func (d *Daemon) storeView() *storeView { return d.views.get(d.readStore) }

// facts are what the state is derived from in v.
func (v *storeView) facts() stateFacts {
	return stateFacts{takenOver: v.takenOver != nil, forked: v.fork != nil, damaged: v.damage != nil,
		offline: func() bool { return v.offline != nil }}
}
