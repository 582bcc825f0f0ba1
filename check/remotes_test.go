package check_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestCompareCompactionWaitingInSpool: a prune compacted the history while
// the second remote was out of reach. It still shows the deltas the
// compaction replaces, and lacks the compaction, which waits in the spool:
// an older state of the same history, not an error.
func TestCompareCompactionWaitingInSpool(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	second := storetest.OpenRemote(t, secondDir)
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	for i := range 3 {
		db.Insert(i*100, i*100+100, 50)
		e.Backup()
	}
	// The prune reaches the first remote only.
	firstOnly := []*store.Target{e.Store.Targets()[0]}
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, Targets: firstOnly}); err != nil {
		t.Fatal(err)
	}

	first := openReadOnly(t, e, e.Remote, e.State)
	other := openReadOnly(t, e, second, "")
	if other.HeadRef() == first.HeadRef() {
		t.Fatal("the second remote got the compaction: nothing to compare")
	}
	c := check.Compare(first, other)
	if len(c.Errors) > 0 || len(c.Pending) == 0 {
		t.Fatalf("compared with the compaction waiting in the spool: pending %v, errors %v", c.Pending, c.Errors)
	}

	// Without this device's spool (the spool lost, or another device
	// looking), the same remote lacks the compaction for good.
	first = openReadOnly(t, e, e.Remote, "")
	c = check.Compare(first, other)
	if len(c.Missing) == 0 || !errors.Is(errors.Join(c.Errors...), check.ErrDiverged) || len(c.Foreign) > 0 {
		t.Fatalf("compared without the spool: missing %v, foreign %v, errors %v", c.Missing, c.Foreign, c.Errors)
	}
}

// openReadOnly opens the repository on r as check does: with this
// device's state directory (the first remote), or none (another remote).
// It is closed at the end of the test.
func openReadOnly(t *testing.T, e *storetest.Env, r remotes.Remote, stateDir string) *store.Store {
	t.Helper()
	s, err := store.Open(e.Ctx, r, e.Key, store.Options{StateDir: stateDir, ReadOnly: true, Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
