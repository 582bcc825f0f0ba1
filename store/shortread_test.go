package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// reopenThrough closes e's store and opens the repository again with its
// state directory (so the deltas' trailers are known without reading
// them) through rem, a wrapper of e's remote without ranged opens: every
// blob is read with a Get, as from a network remote.
func reopenThrough(t *testing.T, e *storetest.Env, rem remotes.Remote) *store.Store {
	t.Helper()
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := store.Open(e.Ctx, rem, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestShortReadOfATruncatedDelta: a delta the remote holds cut short is
// damage, and says so alone: not "remote unreachable" (as a WebDAV
// server's short answer reads), which would send the user after their
// network.
func TestShortReadOfATruncatedDelta(t *testing.T) {
	e, d := threeDeltas(t)
	// The same repository, served over WebDAV.
	srv := remotetest.StartWebDAV(t, t.TempDir())
	if err := os.CopyFS(filepath.Join(srv.Dir, "chats"), os.DirFS(e.RemoteDir)); err != nil {
		t.Fatal(err)
	}
	rem, err := remotes.Open(e.Ctx, srv.Spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rem.Close() })
	r := reopenThrough(t, e, rem)
	name := rel(t, e, d[1])
	served := filepath.Join(srv.Dir, "chats", filepath.FromSlash(name))
	fi, err := os.Stat(served)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(served, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = restore.Run(e.Ctx, r, restore.Options{Target: filepath.Join(t.TempDir(), "restored")})
	wantIntegrity(t, err, name)
	if errors.Is(err, remotes.ErrUnreachable) || strings.Contains(err.Error(), "unreachable") {
		t.Errorf("a truncated delta reads as an unreachable remote: %v", err)
	}
}

// TestShortReadOfACutDownload: a download cut mid-way (the connection
// dropped) of a delta the remote holds whole is the remote out of reach,
// to retry, not damage: "the remote copy is damaged or was tampered
// with" would be false, and exit 6/9 would tell a script to repair.
func TestShortReadOfACutDownload(t *testing.T) {
	e, d := threeDeltas(t)
	var cut atomic.Bool
	name := rel(t, e, d[1])
	r := reopenThrough(t, e, remotes.Faulty(storetest.OpenRemote(t, e.RemoteDir), remotes.FaultOptions{
		CutDownload: func(n string) bool { return cut.Load() && n == name },
	}))
	cut.Store(true)
	_, err := restore.Run(e.Ctx, r, restore.Options{Target: filepath.Join(t.TempDir(), "restored")})
	if !errors.Is(err, remotes.ErrUnreachable) || errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("a download cut mid-way: %v, want the remote unreachable and no integrity failure", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("the error does not name the delta %s: %v", name, err)
	}
}

// TestShortReadPastTheEnd: a delta the remote holds so short that a read
// its index names starts past the object's end is damage too, as one
// that ends past it is: not the request the remote refused ("offset
// beyond the end"), an error of no class that a partial restore and
// `chatsafe check` do not take for damage.
func TestShortReadPastTheEnd(t *testing.T) {
	e, d := threeDeltas(t)
	r := reopenThrough(t, e, remotes.Faulty(storetest.OpenRemote(t, e.RemoteDir), remotes.FaultOptions{}))
	if err := os.Truncate(d[2], 1); err != nil {
		t.Fatal(err)
	}
	_, err := restore.Run(e.Ctx, r, restore.Options{Target: filepath.Join(t.TempDir(), "restored")})
	wantIntegrity(t, err, rel(t, e, d[2]))
}
