package client

import (
	"bytes"
	"fmt"
	"testing"

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
