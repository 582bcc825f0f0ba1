package server

import (
	"crypto/rand"
	"github.com/chatsafe/chatsafe/vault"
	"sync"
	"time"
)

// sessionTable holds the in-memory state between two messages of a flow
// (KE2→KE3 for logins, response→record for registrations): short-lived,
// bounded in number, consumed on first use. Nothing here is durable; a
// restart drops every pending session (the attempt was already counted).
type sessionTable[T any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	pending int // slots reserved but not yet filled
	m       map[[vault.SessionIDLen]byte]*sessionEntry[T]
}

type sessionEntry[T any] struct {
	expires time.Time
	val     T
}

func newSessionTable[T any](ttl time.Duration, max int) *sessionTable[T] {
	return &sessionTable[T]{ttl: ttl, max: max, m: make(map[[vault.SessionIDLen]byte]*sessionEntry[T])}
}

// reserve takes a slot for a session about to be created; false when the
// table is full. Reserving before counting an attempt means a full table
// refuses the login instead of counting an attempt it cannot finish.
func (t *sessionTable[T]) reserve() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m)+t.pending >= t.max {
		return false
	}
	t.pending++
	return true
}

// release gives back a reserved slot that will not be filled.
func (t *sessionTable[T]) release() {
	t.mu.Lock()
	t.pending--
	t.mu.Unlock()
}

// fill stores val in a reserved slot under a fresh random id.
func (t *sessionTable[T]) fill(now time.Time, val T) ([vault.SessionIDLen]byte, error) {
	var id [vault.SessionIDLen]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.release()
		return id, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	t.m[id] = &sessionEntry[T]{expires: now.Add(t.ttl), val: val}
	return id, nil
}

// take removes and returns the session id names, if it exists and has not
// expired.
func (t *sessionTable[T]) take(now time.Time, id []byte) (T, bool) {
	var zero T
	if len(id) != vault.SessionIDLen {
		return zero, false
	}
	k := [vault.SessionIDLen]byte(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[k]
	if !ok {
		return zero, false
	}
	delete(t.m, k)
	if !now.Before(e.expires) {
		// Expired: the caller treats it as missing; expire() reported it
		// already or will not see it, so hand it back for clean-up.
		return e.val, false
	}
	return e.val, true
}

// expire removes and returns every session expired at now.
func (t *sessionTable[T]) expire(now time.Time) []T {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []T
	for k, e := range t.m {
		if !now.Before(e.expires) {
			out = append(out, e.val)
			delete(t.m, k)
		}
	}
	return out
}

// drain removes and returns every session (at shutdown).
func (t *sessionTable[T]) drain() []T {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]T, 0, len(t.m))
	for k, e := range t.m {
		out = append(out, e.val)
		delete(t.m, k)
	}
	return out
}

func (t *sessionTable[T]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m) + t.pending
}
