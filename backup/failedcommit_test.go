package backup_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/store"
)

// refusingGuard is a commit point that refuses every advance while
// refuse is set (a vault refusing the owner proof, or out of reach).
type refusingGuard struct {
	head   store.HeadRef
	refuse bool
}

var errRefused = errors.New("the commit point refuses")

func (g *refusingGuard) Advance(_ context.Context, prev, next store.HeadRef) error {
	if g.refuse {
		return errRefused
	}
	g.head = next
	return nil
}

func (g *refusingGuard) Head(context.Context) (store.HeadRef, error) { return g.head, nil }

// TestFailedCommitKeepsFileCache: cycles that fail at the commit point,
// as the daemon runs them (one file cache kept in memory), leave the
// cache as the last committed cycle did. Before, the first cycle after
// such a failure found the cache naming the failed cycle's blobs and read
// every file again ("file cache is stale"), every retry.
func TestFailedCommitKeepsFileCache(t *testing.T) {
	e := storetest.NewEnv(t)
	e.Store.Close()
	core, logs := observer.New(zap.InfoLevel)
	g := &refusingGuard{}
	st, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeviceID: [16]byte{1}, CommitGuard: g, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 2000, 200)
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "a.jpg"), storetest.RandBytes(1, 300000))
	cache, err := source.LoadFileCache(filepath.Join(t.TempDir(), "filecache"))
	if err != nil {
		t.Fatal(err)
	}
	run := func() (*backup.Result, error) {
		return backup.Run(e.Ctx, st, backup.Options{Source: e.Src, Cache: cache})
	}
	if _, err := run(); err != nil {
		t.Fatal(err)
	}
	committed := bytes.Clone(cache.Token("msgstore.db"))

	g.refuse = true
	for i := range 3 {
		db.Insert(2000+10*i, 2010+10*i, 10)
		if _, err := run(); !errors.Is(err, errRefused) {
			t.Fatalf("cycle %d with the commit point refusing: %v", i+1, err)
		}
		if got := cache.Token("msgstore.db"); !bytes.Equal(got, committed) {
			t.Fatalf("after failed cycle %d the file cache holds a token of %d bytes, not the committed one (%d bytes)", i+1, len(got), len(committed))
		}
	}
	g.refuse = false
	if _, err := run(); err != nil {
		t.Fatal(err)
	}
	if stale := logs.FilterMessage("file cache is stale; rescanning every file").Len(); stale > 0 {
		t.Errorf("%d cycles found the file cache stale and read every file again", stale)
	}
}
