package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// twoRemotes is a device whose deltas go to two local remotes: e's, which
// it reads, and second.
type twoRemotes struct {
	*storetest.Env
	secondDir string
	second    remotes.Remote
	guard     store.CommitGuard
}

// newTwoRemotes backs up n times to both remotes, a file more each time.
func newTwoRemotes(t *testing.T, n int, guard store.CommitGuard) *twoRemotes {
	t.Helper()
	e := storetest.NewEnv(t)
	d := &twoRemotes{Env: e, secondDir: t.TempDir(), guard: guard}
	d.second = storetest.OpenRemote(t, d.secondDir)
	d.reopen(t)
	for i := range n {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("day-%d.txt", i)), []byte(fmt.Sprint("messages of day ", i)))
		e.Backup()
	}
	return d
}

// reopen opens the first remote again as this device, partial, with both
// remotes as targets.
func (d *twoRemotes) reopen(t *testing.T) *store.Store {
	t.Helper()
	d.Store.Close()
	r, err := store.Open(d.Ctx, d.Remote, d.Key, store.Options{StateDir: d.State, Partial: true, CommitGuard: d.guard})
	if err != nil {
		t.Fatal(err)
	}
	r.SetTargets([]*store.Target{store.NewTarget("first", d.Remote), store.NewTarget("second", d.second)})
	d.Store = r
	return r
}

// TestRepairCopiesBackAcrossTwoGaps: deltas 2 and 4 of 5 are gone from the
// first remote. Its damage names only delta 2 at first (every head pins
// it); the copy of 2 shows that the heads past it lack 4 too. Repair finds
// both on the second remote and the whole history is back, with nothing
// moved aside and no repair head.
func TestRepairCopiesBackAcrossTwoGaps(t *testing.T) {
	d := newTwoRemotes(t, 5, nil)
	deltas := storetest.DeltaFiles(t, d.RemoteDir)
	for _, i := range []int{1, 3} {
		if err := os.Remove(deltas[i]); err != nil {
			t.Fatal(err)
		}
	}
	r := d.reopen(t)
	if n := len(r.Snapshots()); n != 1 {
		t.Fatalf("%d snapshots before the repair, want 1", n)
	}
	before := storetest.DirDigest(t, d.RemoteDir, nil)
	plan, err := r.Repair(d.Ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Copies) != 2 || plan.Cuts() || plan.Snapshots != 5 || plan.KeepSeq != 5 {
		t.Fatalf("dry run: copies %v, cuts %v, %d snapshots at %d; want two copies and the whole history", plan.Copies, plan.Cuts(), plan.Snapshots, plan.KeepSeq)
	}
	if after := storetest.DirDigest(t, d.RemoteDir, nil); !equalDigest(before, after) {
		t.Fatal("a dry run changed the remote")
	}
	if plan, err = r.Repair(d.Ctx, false); err != nil || len(plan.Copies) != 2 || plan.Cuts() {
		t.Fatalf("repair: %v, copies %v, cuts %v", err, plan.Copies, plan.Cuts())
	}
	if r.Damage() != nil || len(r.Snapshots()) != 5 || r.HeadSeq() != 5 {
		t.Fatalf("after the repair: damage %v, %d snapshots, head %d", r.Damage(), len(r.Snapshots()), r.HeadSeq())
	}
	if got := storetest.DeltaFiles(t, d.RemoteDir); len(got) != 5 {
		t.Fatalf("deltas on the first remote after the repair: %v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(d.State, "*", "repair-copies")); len(left) != 0 {
		t.Fatalf("repair left its copies behind: %v", left)
	}
	storetest.WriteFile(t, filepath.Join(d.Src, "after.txt"), []byte("after the repair"))
	d.Backup()
	if r.HeadSeq() != 6 {
		t.Fatalf("the backup after the repair committed %d, want 6", r.HeadSeq())
	}
}

// TestRepairCutsNothingWhileARemoteCannotBeAsked: delta 2 is gone from the
// first remote and the second remote cannot be opened. It might hold the
// copy, so repair cuts nothing: it fails naming that remote, with the
// remote's own error (unreachable: exit 5), and the first remote is left
// as it was.
func TestRepairCutsNothingWhileARemoteCannotBeAsked(t *testing.T) {
	d := newTwoRemotes(t, 3, nil)
	deltas := storetest.DeltaFiles(t, d.RemoteDir)
	if err := os.Remove(deltas[1]); err != nil {
		t.Fatal(err)
	}
	r := d.reopen(t)
	down := fmt.Errorf("dial tcp: connection refused: %w", remotes.ErrUnreachable)
	r.SetTargets([]*store.Target{store.NewTarget("first", d.Remote), store.BrokenTarget("second", down)})
	before := storetest.DirDigest(t, d.RemoteDir, nil)
	for _, dry := range []bool{true, false} {
		_, err := r.Repair(d.Ctx, dry)
		if !errors.Is(err, remotes.ErrUnreachable) || !contains(err, "remote second") {
			t.Fatalf("repair (dry run %v) with the second remote down: %v", dry, err)
		}
	}
	if after := storetest.DirDigest(t, d.RemoteDir, nil); !equalDigest(before, after) {
		t.Fatal("repair changed the remote while the second one could not be asked")
	}
	// Without that remote in the config, the history is cut as before.
	r.SetTargets([]*store.Target{store.NewTarget("first", d.Remote)})
	plan, err := r.Repair(d.Ctx, false)
	if err != nil || !plan.Cuts() || len(plan.MoveAside) != 1 {
		t.Fatalf("repair without the second remote: %+v, %v", plan, err)
	}
}

// TestRepairFromCopyEndsCommitPointRollback: with a commit point (the
// vault's head record) at sequence 3, the first remote lost delta 3: a
// rollback, as the commit point tells (NoteRollback). The copy from the
// second remote makes the remote serve the recorded head again: the
// rollback ends, the commit point stays where it was, and the next backup
// moves it on.
func TestRepairFromCopyEndsCommitPointRollback(t *testing.T) {
	g := &memGuard{}
	d := newTwoRemotes(t, 3, g)
	deltas := storetest.DeltaFiles(t, d.RemoteDir)
	if err := os.Remove(deltas[2]); err != nil {
		t.Fatal(err)
	}
	r := d.reopen(t)
	r.NoteRollback(fmt.Errorf("%w: the vault records sequence 3", store.ErrRollback))
	plan, err := r.Repair(d.Ctx, false)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if len(plan.Copies) != 1 || plan.Cuts() {
		t.Fatalf("plan: copies %v, cuts %v", plan.Copies, plan.Cuts())
	}
	if r.Damage() != nil || g.head.Seq != 3 || r.HeadSeq() != 3 {
		t.Fatalf("after the repair: damage %v, commit point %d, head %d", r.Damage(), g.head.Seq, r.HeadSeq())
	}
	storetest.WriteFile(t, filepath.Join(d.Src, "after.txt"), []byte("after the repair"))
	d.Backup()
	if g.head.Seq != 4 {
		t.Fatalf("commit point at %d after the next backup, want 4", g.head.Seq)
	}
}

func contains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// TestRepairCutsNothingWhileARemoteLostItsRepository: the second remote
// holds nothing now (its drive unmounted, its folder moved): it may hold
// the copy once it is back, so repair cuts nothing and says so.
func TestRepairCutsNothingWhileARemoteLostItsRepository(t *testing.T) {
	d := newTwoRemotes(t, 3, nil)
	deltas := storetest.DeltaFiles(t, d.RemoteDir)
	if err := os.Remove(deltas[1]); err != nil {
		t.Fatal(err)
	}
	r := d.reopen(t)
	if err := os.Rename(d.secondDir, d.secondDir+".away"); err != nil {
		t.Fatal(err)
	}
	before := storetest.DirDigest(t, d.RemoteDir, nil)
	for _, dry := range []bool{true, false} {
		if _, err := r.Repair(d.Ctx, dry); err == nil || !contains(err, "remote second") {
			t.Fatalf("repair (dry run %v) with the second remote's folder gone: %v, want a refusal naming it", dry, err)
		}
	}
	if after := storetest.DirDigest(t, d.RemoteDir, nil); !equalDigest(before, after) {
		t.Fatal("repair changed the remote while the second one held no repository")
	}
	if err := os.Rename(d.secondDir+".away", d.secondDir); err != nil {
		t.Fatal(err)
	}
	plan, err := r.Repair(d.Ctx, false)
	if err != nil || plan.Cuts() || len(plan.Copies) != 1 {
		t.Fatalf("repair once the second remote is back: %+v, %v", plan, err)
	}
}
