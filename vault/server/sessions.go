package server

import (
	"crypto/rand"
	"net/netip"
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/vault"
)

// sessionTable holds the in-memory state between two messages of a flow
// (KE2→KE3 for logins, response→record for registrations): short-lived,
// bounded in number, consumed on first use. Nothing here is durable; a
// restart drops every pending session (the attempt was already counted).
type sessionTable[T any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int // pending sessions in all
	maxPer  int // pending sessions per client prefix (sessionPrefix)
	pending int // slots reserved but not yet filled
	m       map[[vault.SessionIDLen]byte]*sessionEntry[T]
	// per counts reserved and filled slots by client prefix, so that one
	// network cannot hold the whole table.
	per map[netip.Prefix]int
}

type sessionEntry[T any] struct {
	expires time.Time
	prefix  netip.Prefix
	val     T
}

func newSessionTable[T any](ttl time.Duration, max, maxPer int) *sessionTable[T] {
	return &sessionTable[T]{ttl: ttl, max: max, maxPer: maxPer, m: make(map[[vault.SessionIDLen]byte]*sessionEntry[T]), per: make(map[netip.Prefix]int)}
}

// sessionPrefix is what pending sessions are counted by: the IPv4 address,
// or the /48 of an IPv6 address (a site; a /64 is one host's LAN, and
// anyone can have many).
func sessionPrefix(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p
}

// reserve takes a slot for a session about to be created by a client in
// prefix p; false when the table, or p's share of it, is full. Reserving
// before counting an attempt means a full table refuses the login instead
// of counting an attempt it cannot finish.
func (t *sessionTable[T]) reserve(p netip.Prefix) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m)+t.pending >= t.max || (t.maxPer > 0 && t.per[p] >= t.maxPer) {
		return false
	}
	t.pending++
	t.per[p]++
	return true
}

// release gives back a slot reserved for p that will not be filled.
func (t *sessionTable[T]) release(p netip.Prefix) {
	t.mu.Lock()
	t.pending--
	t.dropLocked(p)
	t.mu.Unlock()
}

func (t *sessionTable[T]) dropLocked(p netip.Prefix) {
	if t.per[p] <= 1 {
		delete(t.per, p)
		return
	}
	t.per[p]--
}

// fill stores val in the slot reserved for p under a fresh random id.
func (t *sessionTable[T]) fill(now time.Time, p netip.Prefix, val T) ([vault.SessionIDLen]byte, error) {
	var id [vault.SessionIDLen]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.release(p)
		return id, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	t.m[id] = &sessionEntry[T]{expires: now.Add(t.ttl), prefix: p, val: val}
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
	t.dropLocked(e.prefix)
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
			t.dropLocked(e.prefix)
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
	clear(t.per)
	return out
}

func (t *sessionTable[T]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m) + t.pending
}
