package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// cutSecond is a second remote at dir whose downloads of sequence-2
// deltas are cut half-way, as a dropped connection cuts them, while cut
// is set.
func cutSecond(t *testing.T, dir string, cut *atomic.Bool) remotes.Remote {
	t.Helper()
	return remotes.Faulty(storetest.OpenRemote(t, dir), remotes.FaultOptions{
		CutDownload: func(name string) bool {
			return cut.Load() && strings.HasPrefix(name, "deltas/"+storeSeqPrefix(2))
		},
	})
}

// seqTwoOn fails unless the remote at dir holds exactly one delta of
// sequence 2 (two: a fork).
func seqTwoOn(t *testing.T, dir, when string) {
	t.Helper()
	if two, _ := filepath.Glob(filepath.Join(dir, "deltas", storeSeqPrefix(2)+"*")); len(two) != 1 {
		t.Fatalf("%s: deltas of sequence 2 on the second remote: %v, want one (B's)", when, two)
	}
}

// forkOnSecond has A (e) back up twice, the second time with nothing
// uploaded yet, and B back up on the second remote over A's first: A's
// next sync meets B's delta there.
func forkOnSecond(t *testing.T, e *storetest.Env, secondDir string) {
	t.Helper()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("base"))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("device A"))
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	otherDeviceBacksUp(t, e, storetest.OpenRemote(t, secondDir), nil)
}

// wantUnreachable fails unless err, a sync's, is the remote out of reach
// (to retry): not nil, not damage, not a take-over it cannot know yet.
func wantUnreachable(t *testing.T, err error, when string) {
	t.Helper()
	if !errors.Is(err, remotes.ErrUnreachable) || errors.Is(err, store.ErrIntegrity) || errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("%s: %v, want the remote unreachable (retry later), neither damage nor a take-over", when, err)
	}
}

// TestUploadCutReadOfOtherDeviceDelta is TestUploadRefusesForkOnSecondRemote
// with A's read of B's trailer on the second remote cut half-way (a
// dropped connection): that is no evidence that B's delta does not open,
// so A uploads nothing there this round and says the remote is out of
// reach; once the read goes through, A stops as taken over.
func TestUploadCutReadOfOtherDeviceDelta(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	var cut atomic.Bool
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", cutSecond(t, secondDir, &cut))})
	forkOnSecond(t, e, secondDir)

	cut.Store(true)
	_, err := e.Store.Sync(e.Ctx)
	wantUnreachable(t, err, "A's upload with the read of B's trailer cut")
	seqTwoOn(t, secondDir, "after the cut read")
	if to := e.Store.TakenOver(); to != nil {
		t.Fatalf("A records a take-over from a read that never finished: %v", to)
	}

	cut.Store(false)
	if _, err := e.Store.Sync(e.Ctx); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("A's upload once the read goes through: %v, want taken over", err)
	}
	seqTwoOn(t, secondDir, "after the read went through")
}

// TestCommitCheckCutReadIsNotNothing: B committed on the second remote
// before A's commit, and A's read of B's trailer there is cut. The check
// before A's commit could not check that remote: it says so in the log
// and lets the commit go (the remote may be out of reach for long), but
// it must not take the cut for "nothing there": the upload's check reads
// again, refuses while the read is cut, and stops as taken over once it
// is not.
func TestCommitCheckCutReadIsNotNothing(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	var cut atomic.Bool
	second := cutSecond(t, secondDir, &cut)
	targets := func(s *store.Store) {
		s.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	}
	targets(e.Store)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("base"))
	e.Backup()

	otherDeviceBacksUp(t, e, storetest.OpenRemote(t, secondDir), nil)

	// A again, its warnings observed.
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	a, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	e.Store = a
	targets(a)

	cut.Store(true)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("device A"))
	if _, err := backup.Run(e.Ctx, a, backup.Options{Source: e.Src}); err != nil {
		t.Fatalf("A's commit with the second remote's read cut: %v, want it to go ahead (the upload checks again)", err)
	}
	if n := logs.FilterMessageSnippet("could not check a remote before committing").FilterField(zap.String("remote", "second")).Len(); n != 1 {
		t.Fatalf("%d warnings that the second remote could not be checked before the commit, want 1: %v", n, logs.All())
	}
	_, err = a.Sync(e.Ctx)
	wantUnreachable(t, err, "A's upload with the read of B's trailer cut")
	seqTwoOn(t, secondDir, "after the cut read")

	cut.Store(false)
	if _, err := a.Sync(e.Ctx); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("A's upload once the read goes through: %v, want taken over", err)
	}
	seqTwoOn(t, secondDir, "after the read went through")
}

// TestUploadIgnoresOtherDeltaThatDoesNotAuthenticate: a delta of another
// sequence-2 name on the second remote, read whole, whose trailer does not
// authenticate (its last byte flipped) is no device's commit: A's upload
// goes ahead, with a warning, as before a cut read was told apart.
func TestUploadIgnoresOtherDeltaThatDoesNotAuthenticate(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", storetest.OpenRemote(t, secondDir))})
	forkOnSecond(t, e, secondDir)
	b, _ := filepath.Glob(filepath.Join(secondDir, "deltas", storeSeqPrefix(2)+"*"))
	if len(b) != 1 {
		t.Fatalf("B's deltas of sequence 2: %v", b)
	}
	raw, err := os.ReadFile(b[0])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-13]++ // the sealed trailer's last byte, before the 12-byte footer
	storetest.WriteFile(t, b[0], raw)

	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatalf("A's upload past a delta on the second remote that does not authenticate: %v, want it to go ahead", err)
	}
	if two, _ := filepath.Glob(filepath.Join(secondDir, "deltas", storeSeqPrefix(2)+"*")); len(two) != 2 {
		t.Fatalf("deltas of sequence 2 on the second remote: %v, want B's damaged one and A's", two)
	}
}
