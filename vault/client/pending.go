package client

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/chatsafe/chatsafe/vault"
)

// A login/begin whose answer never came (a timeout, a reset connection,
// every node failing) may have been counted: the vault commits the
// attempt before it answers. The vault takes a begin whose blinded element
// the account's row already counted as that same attempt (docs/vault.md,
// "Attempt counting"), so the client sends the same element again: to the
// next node within one Recover (call resends the same request), and, kept
// here, on the next Recover of the same login — the daemon's offline loop
// makes a new Client for each try, so this lives in the process. An entry
// is dropped on any definite answer to the begin.

// maxPending bounds the blinds kept; more logins whose outcome is unknown
// at once than this is no real process's case, and a dropped blind only
// costs the attempt it would have saved.
const maxPending = 16

type pendingBlinds struct {
	mu    sync.Mutex
	key   [32]byte // keys the entries, so that no password hash sits in memory
	order [][32]byte
	m     map[[32]byte]*vault.TOPRFBlind
}

var pending = newPendingBlinds()

func newPendingBlinds() *pendingBlinds {
	p := &pendingBlinds{m: map[[32]byte]*vault.TOPRFBlind{}}
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

// take removes and returns the blind kept for id, or a fresh one.
func (p *pendingBlinds) take(id [32]byte, account string, password []byte) *vault.TOPRFBlind {
	p.mu.Lock()
	b, ok := p.m[id]
	if ok {
		delete(p.m, id)
		p.order = slices.DeleteFunc(p.order, func(o [32]byte) bool { return o == id })
	}
	p.mu.Unlock()
	if ok {
		return b
	}
	return vault.NewTOPRFBlind(account, password)
}

// keep puts b back for id: its begin's outcome is unknown.
func (p *pendingBlinds) keep(id [32]byte, b *vault.TOPRFBlind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[id]; !ok {
		p.order = append(p.order, id)
	}
	p.m[id] = b
	for len(p.order) > maxPending {
		delete(p.m, p.order[0])
		p.order = p.order[1:]
	}
}
