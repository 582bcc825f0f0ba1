package server

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// TestGhostRowsExpire: rows of names nobody registered go after GhostTTL
// without an attempt; registered accounts and recently tried names stay.
func TestGhostRowsExpire(t *testing.T) {
	st, err := OpenStore(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	old, recent, real := [32]byte{1}, [32]byte{2}, [32]byte{3}
	const ttl = 1000
	apply := func(c Command) Result {
		t.Helper()
		r, err := st.Apply(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	apply(Command{Op: OpRegister, Account: real, OwnerHash: make([]byte, 32), Sealed: []byte("s")})
	apply(Command{Op: OpAttempt, Account: real, Now: 10})
	for range 4 { // erased at the 4th: an erased ghost expires too
		apply(Command{Op: OpAttempt, Account: old, Now: 10})
	}
	apply(Command{Op: OpAttempt, Account: recent, Now: 10})
	apply(Command{Op: OpAttempt, Account: recent, Now: 900})
	if r := apply(Command{Op: OpExpire, Now: 10 + ttl + 1, TTL: ttl}); r.Erased != 1 {
		t.Fatalf("expired %d rows, want 1 (the old ghost)", r.Erased)
	}
	for id, want := range map[[32]byte]bool{old: false, recent: true, real: true} {
		if _, found, err := st.view(id); err != nil || found != want {
			t.Errorf("row %x: found=%v (%v), want %v", id[0], found, err, want)
		}
	}
	// The expired name starts over, like any name never tried.
	if r := apply(Command{Op: OpAttempt, Account: old, Now: 2000}); r.Status != StatusOK || r.Attempts != 1 {
		t.Fatalf("expired name tried again: status %d attempts %d", r.Status, r.Attempts)
	}
	if _, err := st.Apply(ctx, Command{Op: OpExpire, Now: 1}); err == nil {
		t.Fatal("an expire command without a TTL was applied")
	}
}

// countingKey counts unseals.
type countingKey struct {
	MasterKey
	opens atomic.Int64
}

func (k *countingKey) Open(sealed, ad []byte) ([]byte, error) {
	k.opens.Add(1)
	return k.MasterKey.Open(sealed, ad)
}

// TestUnknownAccountUnsealsToo: a login for a name nobody registered does
// the same number of unseals as one for a registered account (with a
// network HSM each is a round trip, which would tell them apart).
func TestUnknownAccountUnsealsToo(t *testing.T) {
	dir := t.TempDir()
	fk, err := OpenFileMasterKey(filepath.Join(dir, MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	mk := &countingKey{MasterKey: fk}
	tv := startVault(t, dir, func(c *ServerConfig) { c.MasterKey = mk })
	ctx := context.Background()
	if err := reg(tv.client(), ctx, "yara", []byte("pw"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	opens := func(account string) int64 {
		before := mk.opens.Load()
		status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: account, KE1: newKE1(t, "guess"), Handle: handleBytes(account)})
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", account, status, body)
		}
		return mk.opens.Load() - before
	}
	known, unknown, noHandle := opens("yara"), opens("zed"), int64(0)
	{
		before := mk.opens.Load()
		rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: "yara", KE1: newKE1(t, "guess")})
		noHandle = mk.opens.Load() - before
	}
	if known == 0 || unknown != known || noHandle != known {
		t.Fatalf("unseals per login: known %d, unknown %d, without the handle %d", known, unknown, noHandle)
	}
}
