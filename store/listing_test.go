package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// omitting is a real remote whose listings leave out one object while
// omit is set, as a WebDAV server does with an entry it fails to stat
// during a PROPFIND, or an eventually consistent listing does with a new
// object. Every other call sees the object.
type omitting struct {
	remotes.Remote
	mu   sync.Mutex
	omit string
}

func (o *omitting) set(name string) {
	o.mu.Lock()
	o.omit = name
	o.mu.Unlock()
}

func (o *omitting) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	objs, err := o.Remote.List(ctx, dir)
	o.mu.Lock()
	defer o.mu.Unlock()
	out := objs[:0:0]
	for _, obj := range objs {
		if obj.Name != o.omit {
			out = append(out, obj)
		}
	}
	return out, err
}

// TestCommitListingOmitsDelta: a listing that leaves out a delta this
// device uploaded is not proof that the delta is gone. The commit check
// asks the remote for the object itself before it calls the repository
// damaged; a delta that is really gone still is (TestDamageNewestDeletedWhileWriting).
func TestCommitListingOmitsDelta(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("first"))
	e.Backup()
	d := storetest.DeltaFiles(t, e.RemoteDir)
	if len(d) != 1 {
		t.Fatalf("want 1 delta on the remote, have %v", d)
	}
	e.Store.Close()
	rem := &omitting{Remote: e.Remote}
	r, err := store.Open(e.Ctx, rem, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	e.Store = r
	rem.set(rel(t, e, d[0]))

	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("second"))
	if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); err != nil {
		t.Fatalf("a commit while the listing leaves out %s: %v", rel(t, e, d[0]), err)
	}
	if de := r.Damage(); de != nil {
		t.Fatalf("the store calls itself damaged after a listing left out an object that is there: %v", de)
	}
	rem.set("")
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(storetest.DeltaFiles(t, e.RemoteDir)); got != 2 {
		t.Fatalf("%d deltas on the remote, want 2", got)
	}
	if _, err := e.RestoreFresh(""); err != nil {
		t.Fatalf("a new device restoring: %v", err)
	}
}

// TestOpenListingOmitsSeenHead: a listing that leaves out the head this
// device last saw is not a rollback. Opening asks the remote for that head
// by name and, when it is there, reads the history through it.
func TestOpenListingOmitsSeenHead(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("first"))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("second"))
	e.Backup()
	d := storetest.DeltaFiles(t, e.RemoteDir)
	if len(d) != 2 {
		t.Fatalf("want 2 deltas on the remote, have %v", d)
	}
	e.Store.Close()
	rem := &omitting{Remote: e.Remote}
	rem.set("deltas/" + filepath.Base(d[1]))
	r, err := store.Open(e.Ctx, rem, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatalf("opening while the listing leaves out the seen head: %v", err)
	}
	defer r.Close()
	if n := len(r.Snapshots()); n != 2 {
		t.Fatalf("%d snapshots, want 2", n)
	}
}
