package store_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// listHook runs afterList once, armed, right after a listing of deltas/.
type listHook struct {
	remotes.Remote
	armed     atomic.Bool
	afterList func()
}

func (h *listHook) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	objs, err := h.Remote.List(ctx, dir)
	if dir == "deltas" && h.armed.CompareAndSwap(true, false) {
		h.afterList()
	}
	return objs, err
}

// A spooled delta that reaches the remote (and leaves the spool) between
// the commit check's listing and its look at the loaded deltas was not on
// the remote when listed, and is not missing: the daemon uploads while a
// cycle commits, and a local-path remote takes a delta in microseconds.
func TestUploadDuringCommitCheckIsNotDamage(t *testing.T) {
	key, _ := crypt.NewKey()
	hook := &listHook{Remote: storetest.OpenRemote(t, t.TempDir())}
	st, err := store.Init(t.Context(), hook, key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(t.Context(), st, backup.Options{Source: src}); err != nil {
		t.Fatal(err)
	}
	if len(st.Pending()) != 1 {
		t.Fatalf("%d deltas spooled, want the first one", len(st.Pending()))
	}
	var syncErr error
	hook.afterList = func() { _, syncErr = st.Sync(t.Context()) }
	hook.armed.Store(true)
	if err := os.WriteFile(filepath.Join(src, "b.txt"), []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(t.Context(), st, backup.Options{Source: src}); err != nil {
		t.Fatalf("a delta uploaded during the commit check was taken for damage: %v", err)
	}
	if hook.armed.Load() || syncErr != nil {
		t.Fatalf("the upload did not run inside the commit check (armed %v, sync %v)", hook.armed.Load(), syncErr)
	}
	if d := st.Damage(); d != nil {
		t.Fatalf("the store reports damage: %v", d)
	}
}
