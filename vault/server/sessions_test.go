package server

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
)

func TestSessionTable(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := newSessionTable[int](time.Minute, 2, 0)
	for i := range 2 {
		if !tab.reserve(netip.Prefix{}) {
			t.Fatalf("reserve %d under the bound failed", i+1)
		}
	}
	if tab.reserve(netip.Prefix{}) {
		t.Fatal("reserve over the bound succeeded")
	}
	id1, err := tab.fill(now, netip.Prefix{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tab.release(netip.Prefix{}) // second slot never filled
	if tab.len() != 1 {
		t.Fatalf("len %d, want 1", tab.len())
	}
	if v, ok := tab.take(now, id1[:]); !ok || v != 1 {
		t.Fatal("take of a live session failed")
	}
	if _, ok := tab.take(now, id1[:]); ok {
		t.Fatal("a session was taken twice")
	}
	if _, ok := tab.take(now, []byte("short")); ok {
		t.Fatal("malformed id accepted")
	}
	tab.reserve(netip.Prefix{})
	id2, _ := tab.fill(now, netip.Prefix{}, 2)
	if got := tab.expire(now.Add(59 * time.Second)); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if _, ok := tab.take(now.Add(time.Minute), id2[:]); ok {
		t.Fatal("took an expired session")
	}
	tab.reserve(netip.Prefix{})
	tab.fill(now, netip.Prefix{}, 3)
	if got := tab.expire(now.Add(time.Minute)); len(got) != 1 || got[0] != 3 {
		t.Fatalf("expire returned %v", got)
	}
	if tab.len() != 0 {
		t.Fatalf("len %d after expiry", tab.len())
	}
}

// TestJanitorExpiresSessions runs the janitor loop on a fake clock: a
// session that spent the last attempt is erased one TTL later, and one
// that did not changes nothing.
func TestJanitorExpiresSessions(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		st, err := OpenStore(dir, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		s := &Server{
			cfg:    ServerConfig{MaxAttempts: 2, SessionTTL: 30 * time.Second},
			log:    zap.NewNop(),
			store:  st,
			logins: newSessionTable[loginSession](30*time.Second, 10, 0),
			begins: newSessionTable[beginSession](30*time.Second, 10, 0),
			regs:   newSessionTable[regSession](30*time.Second, 10, 0),
			byAddr: newLimiterSet[netip.Prefix](1, 1, 10),
			byAcct: newLimiterSet[[32]byte](1, 1, 10),
			byHead: newLimiterSet[headKey](1, 1, 10),
			now:    time.Now,
		}
		ctx := context.Background()
		spent, notSpent := [32]byte{1}, [32]byte{2}
		if _, err := st.Apply(ctx, Command{Op: OpRegister, Account: spent, OwnerHash: make([]byte, 32), Sealed: []byte("s")}); err != nil {
			t.Fatal(err)
		}
		st.Apply(ctx, Command{Op: OpRegister, Account: notSpent, OwnerHash: make([]byte, 32), Sealed: []byte("s")})
		st.Apply(ctx, Command{Op: OpAttempt, Account: spent})
		st.Apply(ctx, Command{Op: OpAttempt, Account: spent})
		st.Apply(ctx, Command{Op: OpAttempt, Account: notSpent})
		for _, ls := range []loginSession{{id: spent, generation: 1, attempts: 2}, {id: notSpent, generation: 1, attempts: 1}} {
			s.logins.reserve(netip.Prefix{})
			if _, err := s.logins.fill(time.Now(), netip.Prefix{}, ls); err != nil {
				t.Fatal(err)
			}
		}
		jctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.janitor(jctx) }()

		time.Sleep(29 * time.Second)
		synctest.Wait()
		if s.logins.len() != 2 {
			t.Fatalf("sessions expired early: %d left", s.logins.len())
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if s.logins.len() != 0 {
			t.Fatalf("%d sessions survived their TTL", s.logins.len())
		}
		stop()
		<-done
		for id, wantErased := range map[[32]byte]bool{spent: true, notSpent: false} {
			got, _, err := st.view(id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Erased != wantErased || (got.Sealed == nil) != wantErased {
				t.Errorf("account %x: erased=%v sealed=%v, want erased=%v", id[0], got.Erased, got.Sealed != nil, wantErased)
			}
		}
	})
}

// TestSessionLimitPerPrefix: one network (an IPv4 address, an IPv6 /48)
// holds at most its share of pending sessions; others still get theirs.
func TestSessionLimitPerPrefix(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := newSessionTable[int](time.Minute, 100, 2)
	a := sessionPrefix("[2001:db8:1:2::1]:443")
	if b := sessionPrefix("[2001:db8:1:ffff::7]:443"); b != a {
		t.Fatalf("one /48 gave two prefixes: %v, %v", a, b)
	}
	other := sessionPrefix("[2001:db8:2::1]:443")
	v4 := sessionPrefix("192.0.2.1:443")
	for i := range 2 {
		if !tab.reserve(a) {
			t.Fatalf("reserve %d under the per-prefix bound failed", i+1)
		}
	}
	if tab.reserve(a) {
		t.Fatal("a third session for one /48 was allowed")
	}
	if !tab.reserve(other) || !tab.reserve(v4) {
		t.Fatal("other networks were refused")
	}
	id, err := tab.fill(now, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	tab.release(a)
	if !tab.reserve(a) {
		t.Fatal("a released slot was not given back")
	}
	if _, ok := tab.take(now, id[:]); !ok {
		t.Fatal("take failed")
	}
	if !tab.reserve(a) {
		t.Fatal("a finished session's slot was not given back")
	}
	// The global bound holds too.
	g := newSessionTable[int](time.Minute, 1, 5)
	if !g.reserve(a) || g.reserve(other) {
		t.Fatal("global bound not applied")
	}
}
