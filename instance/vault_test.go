package instance

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/vault"
)

// TestVaultHandleOnRemote saves a handle on a real (local) remote and
// reads it back; a remote without one gives the zero handle, and an object
// that is too large or malformed is refused without reading it all.
func TestVaultHandleOnRemote(t *testing.T) {
	ctx := context.Background()
	r, err := remotes.Open(ctx, filepath.Join(t.TempDir(), "remote"), remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h, err := LoadVaultHandle(ctx, r); err != nil || !h.IsZero() {
		t.Fatalf("no handle yet: %v, %v; want the zero handle", h, err)
	}
	h, err := vault.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveVaultHandle(ctx, r, h); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadVaultHandle(ctx, r); err != nil || got != h {
		t.Fatalf("loaded %v (%v), saved %v", got, err, h)
	}
	big := bytes.Repeat([]byte("a"), 1<<20)
	if err := r.Put(ctx, VaultHandleObject, bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVaultHandle(ctx, r); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("a 1 MiB handle object: %v", err)
	}
	bad := []byte("not hex at all, not hex at all!!\n")
	if err := r.Put(ctx, VaultHandleObject, bytes.NewReader(bad), int64(len(bad))); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVaultHandle(ctx, r); err == nil {
		t.Fatal("a malformed handle object was accepted")
	}
}

// TestVaultGuardHandleLookup: the guard takes the handle from the first
// remote that holds one, passes over a remote that does not answer when
// another holds the handle, and refuses to go on without a handle when a
// remote did not answer (its handle could be the one): the head would be
// refused as "not owner" later with no word of the real cause.
func TestVaultGuardHandleLookup(t *testing.T) {
	ctx := context.Background()
	open := func() remotes.Remote {
		r, err := remotes.Open(ctx, filepath.Join(t.TempDir(), "remote"), remotes.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	empty, withHandle := open(), open()
	down := remotes.Faulty(open(), remotes.FaultOptions{Down: func() bool { return true }})
	h, err := vault.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveVaultHandle(ctx, withHandle, h); err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Config{Key: configs.Key{Vault: configs.Vault{URL: "https://127.0.0.1:1", Account: "ida"}}}
	var key crypt.Key

	g, err := NewVaultGuard(ctx, cfg, key, []remotes.Remote{down, withHandle})
	if err != nil || g.handle != h {
		t.Fatalf("a remote down, another with the handle: handle %v, %v", g != nil && g.handle == h, err)
	}
	g, err = NewVaultGuard(ctx, cfg, key, []remotes.Remote{empty})
	if err != nil || !g.handle.IsZero() {
		t.Fatalf("a remote without a handle (an account from before handles): %v", err)
	}
	if _, err := NewVaultGuard(ctx, cfg, key, []remotes.Remote{empty, down}); !errors.Is(err, remotes.ErrUnreachable) {
		t.Fatalf("the only other remote is down: %v; want its error", err)
	}
}
