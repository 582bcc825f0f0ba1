package client

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/vault"
)

// A login/begin whose answer never came (a timeout, a reset connection,
// every node failing) may have been counted: the vault commits the
// attempt before it answers; one whose answer came was counted, and a
// later answer of the login (KE2, the wrapped key) may be lost too. The
// vault takes a begin whose blinded element the account's row already
// counted as that same attempt (docs/vault.md, "Attempt counting"), so
// the client sends the same element again until the login ends: to the
// next node within one Recover, and, kept here, on the next Recover of
// the same login — the daemon's offline loop makes a new Client for each
// try, so this lives in the process. The login that ends (the key, a
// wrong password, an erased key) does not put its blind back.

// A kept blind holds what the login needs to finish: the account, the
// plaintext password and the blind r. The map's key is an HMAC, so the
// keys say nothing; the entries are wiped (TOPRFBlind.Wipe) when pushed
// out, replaced or expired, and the login that takes one wipes it when it
// is over (thresholdRecover).

// maxPending bounds the blinds kept; more logins whose outcome is unknown
// at once than this is no real process's case, and a dropped blind only
// costs the attempt it would have saved.
const maxPending = 16

// maxPendingAge is how long a blind is kept. The only caller that sends
// it again is the daemon's next try to open, at most openBackoffMax
// (5 min, daemon/open.go) after a failed one, which itself takes a few
// login steps per node, each at most LoginStepTimeout (10 s by default).
// Three times the back-off covers that
// with room for a slow or busy host; a later try (a host that slept,
// a command run again) pays one attempt, as any new process does. The
// vault's side sets no shorter limit: a row keeps its last 16 counted
// elements whatever the session TTL.
const maxPendingAge = 15 * time.Minute

type pendingBlinds struct {
	mu    sync.Mutex
	key   [32]byte // keys the entries, so that the keys say nothing of the password
	order [][32]byte
	m     map[[32]byte]*pendingBlind
}

type pendingBlind struct {
	blind  *vault.TOPRFBlind
	expiry *time.Timer // drops and wipes the entry after maxPendingAge
}

var pending = newPendingBlinds()

func newPendingBlinds() *pendingBlinds {
	p := &pendingBlinds{m: map[[32]byte]*pendingBlind{}}
	_, _ = rand.Read(p.key[:]) // never fails (crypto/rand)
	return p
}

// id names one login: the vault (its URLs), the account, the handle shown
// (it picks the row counted on) and the password.
func (p *pendingBlinds) id(urls []string, account string, handle vault.Handle, password []byte) [32]byte {
	m := hmac.New(sha256.New, p.key[:])
	field := func(b []byte) {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		m.Write(b)
	}
	for _, u := range urls {
		field([]byte(u))
	}
	field([]byte(account))
	field(handle[:])
	field(password)
	return [32]byte(m.Sum(nil))
}

// take removes and returns the blind kept for id, or a fresh one. The
// caller owns it: it wipes it, or keeps it again.
func (p *pendingBlinds) take(id [32]byte, account string, password []byte) *vault.TOPRFBlind {
	b, _ := p.takeKept(id, account, password)
	return b
}

// takeKept is take, saying whether the blind was kept (an earlier begin
// of it may have been counted).
func (p *pendingBlinds) takeKept(id [32]byte, account string, password []byte) (*vault.TOPRFBlind, bool) {
	p.mu.Lock()
	e := p.remove(id)
	p.mu.Unlock()
	if e != nil {
		return e.blind, true
	}
	return vault.NewTOPRFBlind(account, password), false
}

// keep puts b back for id: its begin's outcome is unknown.
func (p *pendingBlinds) keep(id [32]byte, b *vault.TOPRFBlind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.remove(id); old != nil && old.blind != b {
		old.blind.Wipe()
	}
	e := &pendingBlind{blind: b}
	// The timer's function waits for p.mu, held here until e is in.
	e.expiry = time.AfterFunc(maxPendingAge, func() { p.expire(id, e) })
	p.m[id] = e
	p.order = append(p.order, id)
	for len(p.order) > maxPending {
		p.remove(p.order[0]).blind.Wipe()
	}
}

// expire drops and wipes e if it is still the entry for id.
func (p *pendingBlinds) expire(id [32]byte, e *pendingBlind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[id] == e {
		p.remove(id)
		e.blind.Wipe()
	}
}

// remove takes the entry for id out (nil if none) and stops its timer.
// p.mu is held.
func (p *pendingBlinds) remove(id [32]byte) *pendingBlind {
	e, ok := p.m[id]
	if !ok {
		return nil
	}
	e.expiry.Stop()
	delete(p.m, id)
	p.order = slices.DeleteFunc(p.order, func(o [32]byte) bool { return o == id })
	return e
}
