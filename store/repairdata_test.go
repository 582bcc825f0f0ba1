package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// Damage inside a blob of a live delta: its trailer opens, so the history
// loads whole, and only reading every blob (check --read-data) finds it.
// repair with ReadData acts on it as on a lost delta: an intact copy on
// another remote takes its place, or else the history is cut before it.

// inFirstBlob is an offset inside a delta's first blob: blobs start at
// offset 0, each longer than its seal's overhead.
const inFirstBlob = 20

// flipAlone flips the byte at off of the file at p, written anew: a local
// remote hard-links the spooled delta it uploads, so the remotes may share
// one file, and only this one is to change.
func flipAlone(t *testing.T, p string, off int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// blobDamaged flips a byte inside a blob of the i-th delta (0-based) on
// the first remote, and on the second too with both, and returns its
// name and the device opened again, whose history loads whole.
func (d *twoRemotes) blobDamaged(t *testing.T, i int, both bool) (string, *store.Store) {
	t.Helper()
	p := storetest.DeltaFiles(t, d.RemoteDir)[i]
	name := "deltas/" + filepath.Base(p)
	flipAlone(t, p, inFirstBlob)
	if both {
		flipAlone(t, filepath.Join(d.secondDir, filepath.FromSlash(name)), inFirstBlob)
	}
	r := d.reopen(t)
	if r.Damage() != nil {
		t.Fatalf("a flipped byte inside a blob is damage to the structure: %v", r.Damage())
	}
	if err := r.VerifyDelta(d.Ctx, name); !errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("reading every blob of %s: %v, want an integrity error", name, err)
	}
	return name, r
}

// wantWholeOnFirst opens the first remote as a new device would: every
// byte of every live delta verifies, n snapshots are listed, and each
// restores with exactly the files backed up for it.
func (d *twoRemotes) wantWholeOnFirst(t *testing.T, n int) {
	t.Helper()
	fresh, err := d.OpenFresh(d.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if fresh.Damage() != nil {
		t.Fatalf("the first remote is damaged after the repair: %v", fresh.Damage())
	}
	for _, di := range fresh.LiveDeltas() {
		if err := fresh.VerifyDelta(d.Ctx, di.Name); err != nil {
			t.Errorf("after the repair: %v", err)
		}
	}
	snaps := fresh.Snapshots()
	if len(snaps) != n {
		t.Fatalf("%d snapshots on the first remote after the repair, want %d", len(snaps), n)
	}
	for k, s := range snaps {
		dst, err := d.RestoreFresh(s.IDString())
		if err != nil {
			t.Fatalf("restoring snapshot %d: %v", k+1, err)
		}
		files, _ := filepath.Glob(filepath.Join(dst, "*"))
		if len(files) != k+1 {
			t.Errorf("snapshot %d restored %d files, want %d", k+1, len(files), k+1)
		}
		for i := range k + 1 {
			b, err := os.ReadFile(filepath.Join(dst, fmt.Sprintf("day-%d.txt", i)))
			if want := fmt.Sprint("messages of day ", i); err != nil || string(b) != want {
				t.Errorf("snapshot %d, day-%d.txt: %q (%v), want %q", k+1, i, b, err, want)
			}
		}
	}
}

// TestRepairReadDataCopiesBackBlobDamage: a byte inside a blob of delta 3
// of 5 is flipped on the first remote only. Repair without ReadData reads
// no blob and finds nothing; with it, it finds the damage, plans the
// second remote's copy in its place (a dry run changes nothing), and the
// repair leaves every delta verifying and every snapshot restorable, the
// damaged object kept in damaged/.
func TestRepairReadDataCopiesBackBlobDamage(t *testing.T) {
	d := newTwoRemotes(t, 5, nil)
	name, r := d.blobDamaged(t, 2, false)
	if plan, err := r.Repair(d.Ctx, false); err != nil || !plan.Intact() {
		t.Fatalf("repair without reading the blobs: %+v, %v; want nothing to repair", plan, err)
	}
	before := storetest.DirDigest(t, d.RemoteDir, nil)
	for _, dry := range []bool{true, false} {
		plan, err := r.RepairWith(d.Ctx, store.RepairOptions{DryRun: dry, ReadData: true})
		if err != nil {
			t.Fatalf("repair (dry run %v): %v", dry, err)
		}
		if plan.Intact() || plan.Cuts() || len(plan.Copies) != 1 {
			t.Fatalf("repair (dry run %v): damage %v, copies %v, cuts %v; want one copy and no cut", dry, plan.Damage, plan.Copies, plan.Cuts())
		}
		if c := plan.Copies[0]; c.Name != name || c.From != "second" || !c.Replaces {
			t.Fatalf("repair (dry run %v): copy %+v, want %s from second replacing the damaged one", dry, c, name)
		}
		if plan.KeepSeq != 5 || plan.Snapshots != 5 || len(plan.Lost) != 0 || plan.ReadBytes == 0 {
			t.Fatalf("repair (dry run %v): head %d, %d snapshots, lost %v, read %d; want the whole history, having read it", dry, plan.KeepSeq, plan.Snapshots, plan.Lost, plan.ReadBytes)
		}
		if dry && !equalDigest(before, storetest.DirDigest(t, d.RemoteDir, nil)) {
			t.Fatal("a dry run changed the remote")
		}
	}
	if r.Damage() != nil || len(r.Snapshots()) != 5 || r.HeadSeq() != 5 {
		t.Fatalf("after the repair: damage %v, %d snapshots, head %d", r.Damage(), len(r.Snapshots()), r.HeadSeq())
	}
	if _, err := os.Stat(filepath.Join(d.RemoteDir, "damaged", filepath.Base(name))); err != nil {
		t.Fatalf("the damaged object was not kept in damaged/: %v", err)
	}
	d.wantWholeOnFirst(t, 5)
	storetest.WriteFile(t, filepath.Join(d.Src, "day-5.txt"), []byte("messages of day 5"))
	d.Backup()
	if r.HeadSeq() != 6 {
		t.Fatalf("the backup after the repair committed %d, want 6", r.HeadSeq())
	}
}

// TestRepairReadDataCutsWithoutIntactCopy: the same byte is flipped on
// both remotes. The second remote's copy does not verify, so repair does
// what it does for a lost delta: it keeps the history up to delta 2,
// moves deltas 3 to 5 to damaged/, commits a repair head, and names the
// three snapshots lost.
func TestRepairReadDataCutsWithoutIntactCopy(t *testing.T) {
	d := newTwoRemotes(t, 5, nil)
	name, r := d.blobDamaged(t, 2, true)
	deltas := storetest.DeltaFiles(t, d.RemoteDir)
	for _, dry := range []bool{true, false} {
		plan, err := r.RepairWith(d.Ctx, store.RepairOptions{DryRun: dry, ReadData: true})
		if err != nil {
			t.Fatalf("repair (dry run %v): %v", dry, err)
		}
		if !plan.Cuts() || len(plan.Copies) != 0 || len(plan.Rejected) != 1 || plan.KeepSeq != 2 || plan.Snapshots != 2 {
			t.Fatalf("repair (dry run %v): cuts %v, copies %v, rejected %v, keep %d with %d snapshots; want a cut at 2",
				dry, plan.Cuts(), plan.Copies, plan.Rejected, plan.KeepSeq, plan.Snapshots)
		}
		if len(plan.Left) == 0 || plan.Left[0].Object != name {
			t.Fatalf("repair (dry run %v): damage left %v, want %s", dry, plan.Left, name)
		}
		if len(plan.Lost) != 3 || plan.Lost[0].Seq != 3 {
			t.Fatalf("repair (dry run %v): lost snapshots %v, want those of sequences 3 to 5", dry, plan.Lost)
		}
		if fmt.Sprint(plan.MoveAside) != fmt.Sprint(relNames(deltas[2:])) {
			t.Fatalf("repair (dry run %v): moves aside %v, want %v", dry, plan.MoveAside, relNames(deltas[2:]))
		}
	}
	if _, err := r.Sync(d.Ctx); err != nil {
		t.Fatal(err)
	}
	if moved, _ := filepath.Glob(filepath.Join(d.RemoteDir, "damaged", "*")); len(moved) != 3 {
		t.Fatalf("moved aside: %v, want deltas 3 to 5", moved)
	}
	d.wantWholeOnFirst(t, 2)
	storetest.WriteFile(t, filepath.Join(d.Src, "later.txt"), []byte("after the repair"))
	d.Backup()
	if n := len(r.Snapshots()); n != 3 {
		t.Fatalf("%d snapshots after the next backup, want 3", n)
	}
}

// TestRepairReadDataWaitsForUnmountedRemote: with the second remote's
// folder gone (an unmounted drive looks the same), the copy may be there
// once it is back: repair cuts nothing, changes nothing, and says why
// (ErrRepositoryGone, exit 5); once it is back the copy comes from it.
func TestRepairReadDataWaitsForUnmountedRemote(t *testing.T) {
	d := newTwoRemotes(t, 4, nil)
	_, r := d.blobDamaged(t, 1, false)
	if err := os.Rename(d.secondDir, d.secondDir+".away"); err != nil {
		t.Fatal(err)
	}
	before := storetest.DirDigest(t, d.RemoteDir, nil)
	for _, dry := range []bool{true, false} {
		_, err := r.RepairWith(d.Ctx, store.RepairOptions{DryRun: dry, ReadData: true})
		if !errors.Is(err, store.ErrRepositoryGone) || !contains(err, "remote second") {
			t.Fatalf("repair (dry run %v) with the second remote's folder gone: %v, want ErrRepositoryGone naming it", dry, err)
		}
	}
	if !equalDigest(before, storetest.DirDigest(t, d.RemoteDir, nil)) {
		t.Fatal("repair changed the first remote while the second one held no repository")
	}
	if err := os.Rename(d.secondDir+".away", d.secondDir); err != nil {
		t.Fatal(err)
	}
	plan, err := r.RepairWith(d.Ctx, store.RepairOptions{ReadData: true})
	if err != nil || plan.Cuts() || len(plan.Copies) != 1 {
		t.Fatalf("repair once the second remote is back: %+v, %v", plan, err)
	}
	d.wantWholeOnFirst(t, 4)
}

// relNames are the remote names of delta files of a local remote.
func relNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = "deltas/" + filepath.Base(p)
	}
	return out
}

// TestRepairReadDataReuploadsFromSpool: delta 4 reached the first remote
// only (the second was down), so this device still holds it in its spool,
// intact, when a byte of a blob flips on the first remote. Repair with
// ReadData reads the remote's copy, not the spool's, finds the damage and
// puts the spooled copy in its place.
func TestRepairReadDataReuploadsFromSpool(t *testing.T) {
	d := newTwoRemotes(t, 3, nil)
	down := fmt.Errorf("dial tcp: connection refused: %w", remotes.ErrUnreachable)
	d.Store.SetTargets([]*store.Target{store.NewTarget("first", d.Remote), store.BrokenTarget("second", down)})
	storetest.WriteFile(t, filepath.Join(d.Src, "day-3.txt"), []byte("messages of day 3"))
	if _, err := backup.Run(d.Ctx, d.Store, backup.Options{Source: d.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Store.Sync(d.Ctx); !errors.Is(err, remotes.ErrUnreachable) {
		t.Fatalf("sync with the second remote down: %v", err)
	}
	if n := len(d.Store.Pending()); n != 1 {
		t.Fatalf("%d deltas in the spool, want the one the second remote lacks", n)
	}
	p := storetest.DeltaFiles(t, d.RemoteDir)[3]
	name := "deltas/" + filepath.Base(p)
	flipAlone(t, p, inFirstBlob)
	r := d.reopen(t)
	for _, dry := range []bool{true, false} {
		plan, err := r.RepairWith(d.Ctx, store.RepairOptions{DryRun: dry, ReadData: true})
		if err != nil {
			t.Fatalf("repair (dry run %v): %v", dry, err)
		}
		if plan.Cuts() || len(plan.Copies) != 1 || plan.Copies[0].Name != name || plan.Copies[0].From != "this device's spool" || !plan.Copies[0].Replaces {
			t.Fatalf("repair (dry run %v): damage %v, copies %+v, cuts %v; want %s from the spool", dry, plan.Damage, plan.Copies, plan.Cuts(), name)
		}
	}
	if _, err := r.Sync(d.Ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Pending()); n != 0 {
		t.Fatalf("%d deltas still in the spool after the sync", n)
	}
	if _, err := os.Stat(filepath.Join(d.RemoteDir, "damaged", filepath.Base(name))); err != nil {
		t.Fatalf("the damaged object was not kept in damaged/: %v", err)
	}
	d.wantWholeOnFirst(t, 4)
}

// flakyRead is a real remote whose first read of one byte of one
// object's blobs, once armed, comes back flipped (a bad hop, a proxy's or
// a remote's flaky cache); the object itself is intact and every later
// read is true. A read that reaches the object's end (its trailer, and
// with a small delta all of it) is left alone: it is the blobs' read
// that must fail.
type flakyRead struct {
	remotes.Remote
	mu      sync.Mutex
	name    string
	at      int64
	end     int64 // the object's size
	armed   bool
	flipped int
}

// arm flips the next read of byte at of the object name's blobs.
func (f *flakyRead) arm(t *testing.T, name string, at int64) {
	t.Helper()
	oi, err := f.Remote.Stat(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.name, f.at, f.end, f.armed, f.flipped = name, at, oi.Size, true, 0
}

func (f *flakyRead) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	rc, err := f.Remote.Get(ctx, name, off, length)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || !f.armed || name != f.name || f.at < off || length < 0 || f.at >= off+length || off+length >= f.end {
		return rc, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	b[f.at-off] ^= 0x40
	f.armed = false
	f.flipped++
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestRepairReadDataRereadsBeforeActing: the first read of a blob of
// delta 3 of 5 comes back with a byte flipped, and the object on the
// remote is intact. With no other remote to copy it from, taking that
// read for damage would cut the history at 2. Repair reads the delta
// again before it plans anything: the second read verifies, so nothing
// is cut, moved or copied, and the failed read is reported.
func TestRepairReadDataRereadsBeforeActing(t *testing.T) {
	d := newTwoRemotes(t, 5, nil)
	name := "deltas/" + filepath.Base(storetest.DeltaFiles(t, d.RemoteDir)[2])
	flaky := &flakyRead{Remote: d.Remote}
	d.Store.Close()
	core, logs := observer.New(zap.WarnLevel)
	r, err := store.Open(d.Ctx, flaky, d.Key, store.Options{StateDir: d.State, Partial: true, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	d.Store = r
	r.SetTargets([]*store.Target{store.NewTarget("first", flaky)})
	before := storetest.DirDigest(t, d.RemoteDir, nil)
	for _, dry := range []bool{true, false} {
		flaky.arm(t, name, inFirstBlob)
		plan, err := r.RepairWith(d.Ctx, store.RepairOptions{DryRun: dry, ReadData: true})
		if err != nil {
			t.Fatalf("repair (dry run %v): %v", dry, err)
		}
		if flaky.flipped != 1 {
			t.Fatalf("repair (dry run %v) read no flipped byte of %s", dry, name)
		}
		if !plan.Intact() || plan.Cuts() || len(plan.MoveAside) > 0 || len(plan.Copies) > 0 || len(plan.Lost) > 0 {
			t.Fatalf("repair (dry run %v) after one bad read of an intact delta: damage %v, cuts %v, moves aside %v, copies %v, loses %d snapshots; want nothing to repair",
				dry, plan.Damage, plan.Cuts(), plan.MoveAside, plan.Copies, len(plan.Lost))
		}
	}
	if !equalDigest(before, storetest.DirDigest(t, d.RemoteDir, nil)) {
		t.Fatal("repair changed the remote over one bad read")
	}
	if r.HeadSeq() != 5 || len(r.Snapshots()) != 5 {
		t.Fatalf("after the repair: head %d, %d snapshots; want 5 and 5", r.HeadSeq(), len(r.Snapshots()))
	}
	if n := logs.FilterMessageSnippet("read again").FilterField(zap.String("delta", name)).Len(); n != 2 {
		t.Errorf("%d warnings of a bad read of %s that a second read did not repeat, want one per repair (2): %v", n, name, logs.All())
	}
}
