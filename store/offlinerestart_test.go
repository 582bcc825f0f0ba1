package store_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
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
