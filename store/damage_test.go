package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// openPartial opens the repository as this device (its state directory),
// with a damaged newest delta read as a partial history.
func openPartial(t *testing.T, e *storetest.Env) *store.Store {
	t.Helper()
	e.Store.Close()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, Partial: true})
	if err != nil {
		t.Fatalf("opening a damaged repository with Partial: %v", err)
	}
	e.Store = r
	return r
}

// wantDamage asserts err (or r's state) is a damage naming object.
func wantDamage(t *testing.T, err error, object string) *store.DamageError {
	t.Helper()
	var de *store.DamageError
	if !errors.As(err, &de) || !errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("got %v, want a damage error", err)
	}
	for _, d := range de.Damage {
		if strings.Contains(d.Object, object) {
			return de
		}
	}
	t.Fatalf("damage %v does not name %s", de, object)
	return nil
}

// restoreOldest restores the oldest snapshot of r and checks a.txt.
func restoreOldest(t *testing.T, e *storetest.Env, r *store.Store) {
	t.Helper()
	snaps := r.Snapshots()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(e.Ctx, r, restore.Options{Snapshot: snaps[0].IDString(), Target: dst}); err != nil {
		t.Fatalf("restoring an intact older snapshot: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "a.txt"))
	if err != nil || !strings.HasPrefix(string(b), "first version") {
		t.Fatalf("restored a.txt: %q, %v", b, err)
	}
}

// commitFails runs a backup that must be refused with a damage error
// naming object, writing no delta.
func commitFails(t *testing.T, e *storetest.Env, object string) {
	t.Helper()
	before := storetest.DeltaFiles(t, e.RemoteDir)
	storetest.WriteFile(t, filepath.Join(e.Src, "later.txt"), []byte(t.Name()))
	_, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src})
	wantDamage(t, err, object)
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if after := storetest.DeltaFiles(t, e.RemoteDir); len(after) != len(before) {
		t.Fatalf("a delta was committed on a damaged head: %v -> %v", before, after)
	}
}

// repairAndCommit repairs and checks that the next backup commits.
func repairAndCommit(t *testing.T, e *storetest.Env, r *store.Store, wantSnaps int) {
	t.Helper()
	plan, err := r.Repair(e.Ctx, false)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if plan.Intact() || plan.NewSeq != 4 {
		t.Fatalf("repair plan: %+v, want a head at sequence 4", plan)
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if r.Damage() != nil || len(r.Snapshots()) != wantSnaps {
		t.Fatalf("after repair: damage %v, %d snapshots, want none and %d", r.Damage(), len(r.Snapshots()), wantSnaps)
	}
	e.Backup()
	if got := r.HeadSeq(); got != 5 {
		t.Fatalf("the backup after repair committed sequence %d, want 5", got)
	}
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatalf("a new device after repair: %v", err)
	}
	defer fresh.Close()
	if len(fresh.Snapshots()) != wantSnaps+1 {
		t.Fatalf("a new device sees %d snapshots, want %d", len(fresh.Snapshots()), wantSnaps+1)
	}
}

func TestDamageNewestDeletedWhileWriting(t *testing.T) {
	e, d := threeDeltas(t)
	if err := os.Remove(d[2]); err != nil {
		t.Fatal(err)
	}
	// The store that wrote it is still open: the next commit must not
	// list the missing delta.
	commitFails(t, e, rel(t, e, d[2]))
	r := openPartial(t, e)
	de := wantDamage(t, damageErr(r), rel(t, e, d[2]))
	if !de.Rollback || !errors.Is(de, store.ErrRollback) {
		t.Fatalf("a missing newest delta this device saw is a rollback too: %v", de)
	}
	if len(r.Snapshots()) != 2 {
		t.Fatalf("intact snapshots listed: %d, want 2", len(r.Snapshots()))
	}
	restoreOldest(t, e, r)
	commitFails(t, e, rel(t, e, d[2]))
	// A new device reads the intact history without a warning it cannot know.
	if _, err := e.RestoreFresh(""); err != nil {
		t.Fatalf("a new device restoring: %v", err)
	}
	repairAndCommit(t, e, r, 2)
}

func TestDamageFlippedTrailer(t *testing.T) {
	e, d := threeDeltas(t)
	flipByte(t, d[2], -30)
	// This device caches the trailer: the commit's check reads the remote.
	commitFails(t, e, rel(t, e, d[2]))
	// A new device falls back to the intact head, with the warning.
	fresh, err := store.Open(e.Ctx, storetest.OpenRemote(t, e.RemoteDir), e.Key, store.Options{Partial: true})
	if err != nil {
		t.Fatalf("a new device on a flipped trailer: %v", err)
	}
	wantDamage(t, damageErr(fresh), rel(t, e, d[2]))
	if len(fresh.Snapshots()) != 2 {
		t.Fatalf("a new device lists %d intact snapshots, want 2", len(fresh.Snapshots()))
	}
	restoreOldest(t, e, fresh)
	fresh.Close()
	// Strict opening still fails, naming the delta.
	_, err = e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, d[2]))
	r := openPartial(t, e)
	wantDamage(t, damageErr(r), rel(t, e, d[2]))
	repairAndCommit(t, e, r, 2)
	// The damaged delta was moved aside, not deleted.
	if _, err := os.Stat(filepath.Join(e.RemoteDir, "damaged", filepath.Base(d[2]))); err != nil {
		t.Fatalf("the damaged delta was not moved aside: %v", err)
	}
}

func TestDamageRepairDryRunChangesNothing(t *testing.T) {
	e, d := threeDeltas(t)
	flipByte(t, d[2], -30)
	r := openPartial(t, e)
	remoteBefore := storetest.DirDigest(t, e.RemoteDir, nil)
	stateBefore := storetest.DirDigest(t, e.State, nil)
	plan, err := r.Repair(e.Ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Intact() || len(plan.MoveAside) != 1 || plan.MoveAside[0] != rel(t, e, d[2]) || plan.NewSeq != 4 || plan.KeepSeq != 2 {
		t.Fatalf("dry-run plan: %+v", plan)
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if after := storetest.DirDigest(t, e.RemoteDir, nil); !equalDigest(remoteBefore, after) {
		t.Fatalf("dry run changed the remote")
	}
	if after := storetest.DirDigest(t, e.State, nil); !equalDigest(stateBefore, after) {
		t.Fatalf("dry run changed the state directory")
	}
	if r.Damage() == nil {
		t.Fatal("dry run ended the damage")
	}
}

// TestDamageRollbackStillRefusedAfterRepair: after a repair and a commit,
// an old copy of the remote put back is read with a warning but never
// committed on.
func TestDamageRollbackStillRefusedAfterRepair(t *testing.T) {
	e, d := threeDeltas(t)
	if err := os.Remove(d[2]); err != nil {
		t.Fatal(err)
	}
	r := openPartial(t, e)
	repairAndCommit(t, e, r, 2)
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(e.RemoteDir)); err != nil {
		t.Fatal(err)
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "newer.txt"), []byte("newer"))
	e.Backup()
	if err := os.RemoveAll(e.RemoteDir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(e.RemoteDir, os.DirFS(old)); err != nil {
		t.Fatal(err)
	}
	r = openPartial(t, e)
	de := r.Damage()
	if de == nil || !de.Rollback {
		t.Fatalf("an old copy put back: damage %v, want a rollback", de)
	}
	if len(r.Snapshots()) != 3 {
		t.Fatalf("the old copy's snapshots: %d, want 3", len(r.Snapshots()))
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "x.txt"), []byte("x"))
	if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); !errors.Is(err, store.ErrRollback) {
		t.Fatalf("committing on a rolled-back remote: %v, want ErrRollback", err)
	}
	// Strictly opened, it is refused outright, as before.
	r.Close()
	if _, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State}); !errors.Is(err, store.ErrRollback) {
		t.Fatalf("strict open of a rolled-back remote: %v", err)
	}
}

func equalDigest(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// damageErr is r's damage as an error (nil when intact).
func damageErr(r *store.Store) error {
	if de := r.Damage(); de != nil {
		return de
	}
	return nil
}
