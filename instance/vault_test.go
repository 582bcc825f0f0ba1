package instance

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

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
