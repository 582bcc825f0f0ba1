package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatsafe/chatsafe/vault"
)

func TestPendingBlinds(t *testing.T) {
	p := newPendingBlinds()
	urls := []string{"https://a:1", "https://b:2"}
	var h vault.Handle
	id := p.id(urls, "ann", h, []byte("pw"))
	b := p.take(id, "ann", []byte("pw"))
	p.keep(id, b)
	if got := p.take(id, "ann", []byte("pw")); !bytes.Equal(got.Blinded, b.Blinded) {
		t.Fatal("a kept blind was not given back")
	}
	if got := p.take(id, "ann", []byte("pw")); bytes.Equal(got.Blinded, b.Blinded) {
		t.Fatal("a blind taken once was given back again")
	}
	h2 := h
	h2[0] = 1
	for name, other := range map[string][32]byte{
		"password": p.id(urls, "ann", h, []byte("pw2")),
		"account":  p.id(urls, "anna", h, []byte("pw")),
		"handle":   p.id(urls, "ann", h2, []byte("pw")),
		"vault":    p.id(urls[:1], "ann", h, []byte("pw")),
		"split":    p.id([]string{"https://a:1https://b:2"}, "ann", h, []byte("pw")),
	} {
		if other == id {
			t.Errorf("another %s names the same login", name)
		}
	}
	if newPendingBlinds().id(urls, "ann", h, []byte("pw")) == id {
		t.Error("the id does not depend on the process's key")
	}
	var first [32]byte
	for i := range maxPending + 1 {
		id := p.id(urls, fmt.Sprint("user", i), h, []byte("pw"))
		if i == 0 {
			first = id
		}
		p.keep(id, vault.NewTOPRFBlind("u", []byte("pw")))
	}
	if len(p.m) != maxPending || len(p.order) != maxPending {
		t.Fatalf("%d blinds kept (%d in order), want %d", len(p.m), len(p.order), maxPending)
	}
	if _, ok := p.m[first]; ok {
		t.Fatal("the oldest blind was kept past the bound")
	}
}

// wiped reports whether b was wiped: a wiped blind does not finish.
func wiped(b *vault.TOPRFBlind) bool {
	_, err := b.Finish(nil)
	return err != nil
}

// A kept blind holds the password: it is wiped when pushed out by newer
// ones, or replaced by another for the same login.
func TestPendingBlindsWipeWhatTheyDrop(t *testing.T) {
	p := newPendingBlinds()
	var h vault.Handle
	id := p.id([]string{"https://a:1"}, "ann", h, []byte("pw"))
	old := vault.NewTOPRFBlind("ann", []byte("pw"))
	p.keep(id, old)
	p.keep(id, vault.NewTOPRFBlind("ann", []byte("pw")))
	if !wiped(old) {
		t.Fatal("a kept blind replaced by another was not wiped")
	}
	first := vault.NewTOPRFBlind("ann", []byte("pw"))
	p.keep(p.id(nil, "first", h, []byte("pw")), first)
	for i := range maxPending {
		p.keep(p.id(nil, fmt.Sprint("user", i), h, []byte("pw")), vault.NewTOPRFBlind("u", []byte("pw")))
	}
	if !wiped(first) {
		t.Fatal("a blind pushed out by newer ones was not wiped")
	}
	if got := p.take(id, "ann", []byte("pw")); wiped(got) {
		t.Fatal("a kept blind was wiped before it was taken")
	}
}

// A kept blind is dropped and wiped once no retry of its login can come
// any more (the daemon tries again within minutes), even if nothing in
// the process asks for a blind again.
func TestPendingBlindsExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPendingBlinds()
		var h vault.Handle
		id := p.id(nil, "ann", h, []byte("pw"))
		b := vault.NewTOPRFBlind("ann", []byte("pw"))
		p.keep(id, b)
		time.Sleep(time.Hour)
		synctest.Wait()
		p.mu.Lock()
		n := len(p.m)
		p.mu.Unlock()
		if n != 0 || !wiped(b) {
			t.Fatalf("an hour on: %d blinds kept, wiped %v; want none kept, and wiped", n, wiped(b))
		}
	})
}

// The blind a login took is wiped when the login is over, and one the
// vault refused to take again (an account from before the threshold
// OPRF) is wiped when a fresh one replaces it.
func TestLoginWipesItsBlinds(t *testing.T) {
	var mu sync.Mutex
	var begins [][]byte
	refuse := true
	srv, ca := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != vault.PathLoginBegin {
			_ = json.NewEncoder(w).Encode(vault.OKResp{OK: true})
			return
		}
		var req vault.LoginBeginReq
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		begins = append(begins, req.Blinded)
		n, ref := len(begins), refuse
		mu.Unlock()
		switch {
		case ref && n%2 == 1:
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(vault.ErrorResp{Error: vault.CodeAttemptSpent})
		case ref:
			w.WriteHeader(http.StatusInternalServerError) // the fresh begin's answer: none
		default:
			w.WriteHeader(http.StatusGone) // the login ends
			_ = json.NewEncoder(w).Encode(vault.ErrorResp{Error: vault.CodeErased})
		}
	}))
	c, err := New(Options{URLs: []string{srv.URL}, CAFile: ca, KSFParameters: []uint64{1, 64, 1}})
	if err != nil {
		t.Fatal(err)
	}
	var h vault.Handle
	id := pending.id(c.urls, "bob", h, []byte("pw"))
	lost := vault.NewTOPRFBlind("bob", []byte("pw"))
	pending.keep(id, lost)
	if _, err := c.Recover(context.Background(), "bob", []byte("pw"), h); err == nil {
		t.Fatal("Recover succeeded against a vault that answers no begin")
	}
	mu.Lock()
	seen := slices.Clone(begins)
	mu.Unlock()
	if len(seen) != 2 || !bytes.Equal(seen[0], lost.Blinded) || bytes.Equal(seen[1], lost.Blinded) {
		t.Fatalf("%d begins, want the kept element then a fresh one", len(seen))
	}
	if !wiped(lost) {
		t.Fatal("the refused blind was not wiped when a fresh one replaced it")
	}
	fresh := pending.take(id, "bob", []byte("pw"))
	if !bytes.Equal(fresh.Blinded, seen[1]) || wiped(fresh) {
		t.Fatal("the fresh blind, whose begin was not answered, was not kept")
	}
	// A login that took its kept blind and ended (here: the key erased)
	// wipes it.
	pending.keep(id, fresh)
	mu.Lock()
	refuse = false
	mu.Unlock()
	if _, err := c.Recover(context.Background(), "bob", []byte("pw"), h); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("Recover against an erased key: %v", err)
	}
	if !wiped(fresh) {
		t.Fatal("the blind a login took was not wiped when the login ended")
	}
}

// A begin the vault answered with a refusal (too soon after wrong
// passwords: nothing counted) leaves no blind behind: only a begin whose
// outcome is unknown keeps its element, and the password in it.
func TestRefusedBeginKeepsNoBlind(t *testing.T) {
	srv, ca := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(vault.ErrorResp{Error: vault.CodeTooSoon, RetryAfterMS: 3600_000})
	}))
	c, err := New(Options{URLs: []string{srv.URL}, CAFile: ca, KSFParameters: []uint64{1, 64, 1}})
	if err != nil {
		t.Fatal(err)
	}
	var h vault.Handle
	if _, err := c.Recover(context.Background(), "dora", []byte("pw"), h); err == nil {
		t.Fatal("Recover succeeded against a vault that refuses every begin")
	}
	id := pending.id(c.urls, "dora", h, []byte("pw"))
	pending.mu.Lock()
	_, kept := pending.m[id]
	pending.mu.Unlock()
	if kept {
		pending.take(id, "dora", []byte("pw")).Wipe()
		t.Fatal("a blind was kept after a begin the vault refused")
	}

	// A blind kept from a begin that went unanswered may have been
	// counted: a refusal of its replay keeps it still.
	earlier := vault.NewTOPRFBlind("dora", []byte("pw"))
	pending.keep(id, earlier)
	if _, err := c.Recover(context.Background(), "dora", []byte("pw"), h); err == nil {
		t.Fatal("Recover succeeded against a vault that refuses every begin")
	}
	if b := pending.take(id, "dora", []byte("pw")); b != earlier || wiped(b) {
		t.Fatal("the kept blind of an unanswered begin was dropped when its replay was refused")
	}
	earlier.Wipe()
}

// A begin that went unanswered on one node and was refused by the next
// (rate limited) in the same try may have been counted by the first: its
// blind is kept for the replay, not wiped as a refusal's would be.
func TestBeginUnansweredThenRefusedKeepsTheBlind(t *testing.T) {
	done := make(chan struct{})
	stalled, ca := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the client gave up: the answer is lost
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done) })
	refusing, ca2 := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(vault.ErrorResp{Error: vault.CodeRateLimited})
	}))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, append(readFile(t, ca), readFile(t, ca2)...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{URLs: []string{stalled.URL, refusing.URL}, CAFile: caFile, KSFParameters: []uint64{1, 64, 1}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	var h vault.Handle
	if _, err := c.Recover(context.Background(), "gus", []byte("pw"), h); err == nil {
		t.Fatal("Recover succeeded against a vault that never answers a begin")
	}
	id := pending.id(c.urls, "gus", h, []byte("pw"))
	pending.mu.Lock()
	_, kept := pending.m[id]
	pending.mu.Unlock()
	if !kept {
		t.Fatal("the blind of a begin a node may have counted (its answer lost) was dropped when the next node refused it")
	}
	pending.take(id, "gus", []byte("pw")).Wipe()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
