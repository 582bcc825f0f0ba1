package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestTakenOverAtCommitKnowsTargets: a commit that finds another device's
// newer delta loads that device's history. The store's own remote is then
// known to hold that delta (the listing before the commit showed it), and
// another remote is listed again at its next sync, which finds it there
// and uploads nothing: neither counts it missing.
func TestTakenOverAtCommitKnowsTargets(t *testing.T) {
	e := storetest.NewEnv(t)
	second := storetest.OpenRemote(t, t.TempDir())
	first, other := store.NewTarget("first", e.Remote), store.NewTarget("second", second)
	e.Store.SetTargets([]*store.Target{first, other})
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("device A"))
	e.Backup()

	// Device B continues the history on both remotes.
	otherDeviceBacksUp(t, e, e.Remote, []*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})

	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("device A, later"))
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("A's backup after B's: %v, want taken over", err)
	}
	live := e.Store.LiveDeltas()
	if len(live) != 2 {
		t.Fatalf("A has %d live deltas after loading B's history, want 2", len(live))
	}
	if n := first.Missing(live); n != 0 {
		t.Errorf("the first remote lacks %d of the deltas its listing showed", n)
	}
	hooks := store.SyncHooks{Start: func(di store.DeltaInfo) { t.Errorf("uploaded %s to a remote that holds it", di.Name) }}
	if err := e.Store.SyncTarget(e.Ctx, other, hooks); err != nil {
		t.Fatal(err)
	}
	if n := other.Missing(live); n != 0 {
		t.Errorf("the second remote lacks %d deltas after it was listed again", n)
	}
}
