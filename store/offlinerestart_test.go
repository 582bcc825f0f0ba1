package store_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// phoneCommits has another device (the phone) commit n snapshots of its
// own on the remote, and upload them.
func (o *offlineRepo) phoneCommits(t *testing.T, n int) *store.Store {
	t.Helper()
	other, err := store.Open(t.Context(), o.rem, o.key, store.Options{StateDir: t.TempDir(), DeviceID: [16]byte{2}, Hostname: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for i := range n {
		storetest.WriteFile(t, filepath.Join(src, "note.txt"), []byte{byte(i), 'x'})
		if _, err := backup.Run(t.Context(), other, backup.Options{Source: src}); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return other
}

// openedFromState opens this device's store from its state while the
// remote is down (after marking the device joined, if joined), then
// starts the remote again; the store is closed when the test ends.
func (o *offlineRepo) openedFromState(t *testing.T, joined bool) *store.Store {
	t.Helper()
	if joined {
		j, err := store.Open(t.Context(), o.rem, o.key, o.opts())
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Joined(); err != nil {
			t.Fatal(err)
		}
		j.Close()
	}
	o.srv.Stop()
	r, err := store.OpenFromState(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	o.srv.Start()
	return r
}

// resolveToOurs resolves the fork r loaded in favour of this device's
// branch.
func (o *offlineRepo) resolveToOurs(t *testing.T, r *store.Store) {
	t.Helper()
	f := r.Fork()
	if f == nil {
		t.Fatal("no fork loaded")
	}
	var ours string
	for _, b := range f.Branches {
		if b.Device == o.opts().DeviceID {
			ours = b.DeltaIDString()
		}
	}
	if _, err := r.ResolveFork(t.Context(), ours); err != nil {
		t.Fatal(err)
	}
}

// backupOffline opens this device's store without its remote (from the
// state, or normally and the remote then goes away) and commits one
// snapshot into the spool.
func (o *offlineRepo) backupOffline(t *testing.T, fromState bool) *store.Store {
	t.Helper()
	var r *store.Store
	var err error
	if fromState {
		o.srv.Stop()
		r, err = store.OpenFromState(t.Context(), o.rem, o.key, o.opts())
	} else {
		r, err = store.Open(t.Context(), o.rem, o.key, o.opts())
		o.srv.Stop()
	}
	if err != nil {
		t.Fatal(err)
	}
	o.change(t, 600)
	if res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil || res.Unchanged {
		t.Fatalf("offline backup: %v %+v", err, res)
	}
	return r
}

// TestOfflineRestartBeforeUploadDoesNotFork: a restart between the
// offline commit and its upload, while another device committed the same
// sequence, loads both as a fork. The first sync must see the other
// device's delta (loaded now, not unknown) and upload nothing; fork
// resolve then merges both histories.
func TestOfflineRestartBeforeUploadDoesNotFork(t *testing.T) {
	for _, fromState := range []bool{false, true} {
		t.Run(map[bool]string{false: "online-open", true: "from-state"}[fromState], func(t *testing.T) {
			o := newOfflineRepo(t)
			r := o.backupOffline(t, fromState)
			r.Close() // restart before any upload
			o.srv.Start()
			o.phoneCommits(t, 1).Close()
			before := storetest.DeltaFiles(t, o.srv.ObjectsDir())

			r, err := store.Open(t.Context(), o.rem, o.key, o.opts())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// The phone's snapshot of that sequence is not this device's.
			if off, ok := r.Offline(); !ok || off.Snapshots != 1 {
				t.Errorf("Offline() = %+v, %v; want 1 snapshot of this device waiting", off, ok)
			}
			_, err = r.Sync(t.Context())
			if !errors.Is(err, store.ErrTakenOver) || !strings.Contains(err.Error(), "fork resolve") {
				t.Errorf("sync: %v, want taken over, pointing at fork resolve", err)
			}
			if after := storetest.DeltaFiles(t, o.srv.ObjectsDir()); len(after) != len(before) {
				t.Fatalf("uploaded the offline delta beside the other device's one: remote had %d deltas, now %v", len(before), after)
			}
			for _, tgt := range []*store.Target{store.NewTarget(o.rem.String(), o.rem)} {
				if err := r.SyncTarget(t.Context(), tgt, store.SyncHooks{}); !errors.Is(err, store.ErrTakenOver) {
					t.Errorf("the uploader's SyncTarget: %v, want taken over", err)
				}
			}
			if after := storetest.DeltaFiles(t, o.srv.ObjectsDir()); len(after) != len(before) {
				t.Fatalf("the uploader's step uploaded beside the other device's delta: %v", after)
			}

			o.resolveToOurs(t, r)
			if _, err := r.Sync(t.Context()); err != nil {
				t.Fatalf("sync after fork resolve: %v", err)
			}
			fresh, err := store.Open(t.Context(), o.rem, o.key, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			if f := fresh.Fork(); f != nil {
				t.Errorf("a fresh device sees a fork after the merge: %+v", f)
			}
			devices := map[[16]byte]int{}
			for _, s := range fresh.Snapshots() {
				devices[s.Device]++
			}
			if devices[o.opts().DeviceID] != 2 || devices[[16]byte{2}] != 1 {
				t.Errorf("snapshots by device after the merge: %v, want 2 of this device and 1 of the phone", devices)
			}
		})
	}
}

// TestOfflineTakeoverKeepsUnsentDeltas: the other device's prune
// compacted away the history this device's offline delta continues, so
// there is no fork to resolve. Neither the take-over's advice nor
// takeover may drop that delta silently: fork resolve says what to do,
// takeover refuses (saying how many snapshots it would drop) unless asked
// to discard them, and the spool keeps them until then.
func TestOfflineTakeoverKeepsUnsentDeltas(t *testing.T) {
	o := newOfflineRepo(t)
	r := o.backupOffline(t, true)
	o.srv.Start()
	other := o.phoneCommits(t, 2)
	if _, err := prune.Run(t.Context(), other, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := r.Sync(t.Context()); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("sync: %v, want taken over", err)
	}
	r.Close()
	if n := len(spooled(t, o.state)); n != 1 {
		t.Fatalf("spool holds %d deltas, want the offline one", n)
	}

	r, err := store.Open(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	// The status counts the snapshot the history left behind too.
	if off, ok := r.Offline(); !ok || off.Snapshots != 1 {
		t.Errorf("Offline() = %+v, %v; want the 1 snapshot waiting in the spool", off, ok)
	}
	_, err = r.ResolveFork(t.Context(), "")
	if err == nil || !strings.Contains(err.Error(), "--discard-offline") {
		t.Errorf("fork resolve: %v, want it to say the offline snapshots cannot be merged and how to drop them", err)
	}
	_, err = r.Takeover(t.Context(), store.TakeoverOptions{})
	if !errors.Is(err, store.ErrOfflineUnsent) || !strings.Contains(err.Error(), "1 snapshot") {
		t.Errorf("takeover: %v, want a refusal naming the 1 snapshot it would drop", err)
	}
	r.Close()
	r, err = store.Open(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spooled(t, o.state)); n != 1 {
		t.Fatalf("after a refused takeover and a reopen the spool holds %d deltas, want the offline one", n)
	}
	if _, err := r.Takeover(t.Context(), store.TakeoverOptions{DiscardOffline: true}); err != nil {
		t.Fatalf("takeover --discard-offline: %v", err)
	}
	r.Close()
	r, err = store.Open(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := len(spooled(t, o.state)); n != 0 {
		t.Errorf("after takeover --discard-offline the spool holds %d deltas", n)
	}
	o.change(t, 900)
	if _, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil {
		t.Fatalf("backup after the takeover: %v", err)
	}
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatalf("sync after the takeover: %v", err)
	}
}

// TestOfflineFromStateNothingCommitted: a store opened from the state
// that committed nothing before the remote came back is a normal open
// made late. Another device's newer commit is then what a normal open
// makes of it: a device that joined continues it, one that wrote is
// taken over with the plain message (no offline snapshots, no fork
// resolve: there is nothing to merge).
func TestOfflineFromStateNothingCommitted(t *testing.T) {
	for _, joined := range []bool{false, true} {
		t.Run(map[bool]string{false: "wrote", true: "joined"}[joined], func(t *testing.T) {
			o := newOfflineRepo(t)
			r := o.openedFromState(t, joined)
			o.phoneCommits(t, 1).Close()
			_, err := r.Sync(t.Context())
			if !joined {
				if !errors.Is(err, store.ErrTakenOver) || strings.Contains(err.Error(), "offline") || strings.Contains(err.Error(), "fork resolve") {
					t.Fatalf("sync: %v, want the plain take-over", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("sync of a device that joined: %v", err)
			}
			if to := r.TakenOver(); to != nil {
				t.Fatalf("a device that joined is taken over: %v", to)
			}
			o.change(t, 600)
			if _, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil {
				t.Fatalf("backup after the remote came back: %v", err)
			}
			if _, err := r.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			fresh, err := store.Open(t.Context(), o.rem, o.key, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			if f := fresh.Fork(); f != nil || len(fresh.Snapshots()) != 3 {
				t.Errorf("fresh device: fork %v, %d snapshots; want a line of 3", f, len(fresh.Snapshots()))
			}
		})
	}
}

// TestOfflineCommitDuringChecksIsChecked: a commit that lands while
// confirmOffline's checks run (the daemon's cycle beside its uploader)
// was made without the remote's listing too. Here the other device also
// commits then: the checks must run again with that commit and find it,
// not clear offline_from on the first round's verdict and upload both
// beside it.
func TestOfflineCommitDuringChecksIsChecked(t *testing.T) {
	o := newOfflineRepo(t)
	r := o.backupOffline(t, true)
	defer r.Close()
	o.srv.Start()
	once := false
	setHook(t, func(p string) error {
		if p != "offline:checked" || once {
			return nil
		}
		once = true
		o.phoneCommits(t, 1).Close()
		o.change(t, 900)
		if res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil || res.Unchanged {
			t.Errorf("the backup during the checks: %v %+v", err, res)
		}
		return nil
	})
	_, err := r.Sync(t.Context())
	if !once {
		t.Fatal("the checks never reached their end")
	}
	if n := len(storetest.DeltaFiles(t, o.srv.ObjectsDir())); !errors.Is(err, store.ErrTakenOver) || n != 2 {
		t.Fatalf("sync: %v; the remote holds %d deltas, want taken over and the 2 of before (the first and the phone's)", err, n)
	}
}
