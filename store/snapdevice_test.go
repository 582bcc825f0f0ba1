package store_test

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

var (
	phoneID  = [16]byte{0xa1, 0xa2, 0xa3, 0xa4, 1}
	laptopID = [16]byte{0xb1, 0xb2, 0xb3, 0xb4, 2}
)

// phoneThenLaptop: phone A backs up three times; laptop B joins at A's
// head and backs up twice from its own source. It returns B's store
// (open, writable) and the five snapshots, oldest first.
func phoneThenLaptop(t *testing.T, e *storetest.Env) (*store.Store, store.Options, []store.Snapshot) {
	t.Helper()
	e.Store.Close()
	var err error
	if e.Store, err = store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeviceID: phoneID, Hostname: "phone"}); err != nil {
		t.Fatal(err)
	}
	note := filepath.Join(e.Src, "note.txt")
	var snaps []store.Snapshot
	for i := range 3 {
		storetest.WriteFile(t, note, storetest.RandBytes(uint64(10+i), 40<<10))
		snaps = append(snaps, e.Backup().Snapshot)
	}
	e.Store.Close()

	bOpts := store.Options{StateDir: t.TempDir(), DeviceID: laptopID, Hostname: "laptop"}
	b, err := store.Open(e.Ctx, e.Remote, e.Key, bOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.JoinedAt(snaps[2].Seq); err != nil {
		t.Fatal(err)
	}
	bSrc := t.TempDir()
	for i := range 2 {
		storetest.WriteFile(t, filepath.Join(bSrc, "note.txt"), storetest.RandBytes(uint64(20+i), 40<<10))
		res, err := backup.Run(e.Ctx, b, backup.Options{Source: bSrc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Sync(e.Ctx); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, res.Snapshot)
	}
	return b, bOpts, snaps
}

// wantDevices checks that got lists the snapshots of phone as A's and
// those of laptop as B's: the device that took each.
func wantDevices(t *testing.T, when string, got, phone, laptop []store.Snapshot) {
	t.Helper()
	by := map[[16]byte]store.Snapshot{}
	for _, s := range got {
		by[s.ID] = s
	}
	for dev, want := range map[[16]byte][]store.Snapshot{phoneID: phone, laptopID: laptop} {
		for _, w := range want {
			s, ok := by[w.ID]
			switch {
			case !ok:
				t.Errorf("%s: snapshot %s (sequence %d) is gone", when, w.ShortID(), w.Seq)
			case s.Device != dev:
				t.Errorf("%s: snapshot %s (sequence %d) reads as device %x, want %x (the device that took it)", when, w.ShortID(), w.Seq, s.Device[:4], dev[:4])
			}
		}
	}
}

// TestRotationKeepsSnapshotDevice: after B rotates the key, A's snapshots
// still read as A's, and a prune on B that keeps only the last snapshot
// still keeps A's newest as the newest of device A (the only copy of
// what A backed up last), also through a second prune over the compacted
// history, and a reader without state sees it as A's.
func TestRotationKeepsSnapshotDevice(t *testing.T) {
	e := storetest.NewEnv(t)
	b, bOpts, snaps := phoneThenLaptop(t, e)
	wantDevices(t, "before the rotation", b.Snapshots(), snaps[:3], snaps[3:])

	newKey, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if b, err = store.Open(e.Ctx, e.Remote, newKey, bOpts); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, _, err := b.DeleteGarbage(e.Ctx, b.Targets()); err != nil {
		t.Fatal(err)
	}
	wantDevices(t, "after B rotated the key", b.Snapshots(), snaps[:3], snaps[3:])

	aNewest := snaps[2]
	label := aNewest.Hostname + "/" + hex.EncodeToString(phoneID[:4]) // the host in the record
	pruneKeeps := func(when string) {
		t.Helper()
		res, err := prune.Run(e.Ctx, b, prune.Options{Policy: prune.Policy{KeepLast: 1}})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		found := false
		for _, d := range res.Decisions {
			if d.Snapshot.ID == aNewest.ID {
				found = true
				if !d.Keep || d.NewestOf != label {
					t.Fatalf("%s: A's newest snapshot %s: keep %v, newest of %q (want kept as the newest of %s); reasons %q",
						when, aNewest.ShortID(), d.Keep, d.NewestOf, label, strings.Join(d.Reasons, ", "))
				}
			}
		}
		if !found {
			t.Fatalf("%s: prune did not see A's newest snapshot %s", when, aNewest.ShortID())
		}
		fresh, err := store.Open(e.Ctx, storetest.OpenRemote(t, e.RemoteDir), newKey, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		var left []store.Snapshot
		for _, s := range fresh.Snapshots() {
			if s.ID == aNewest.ID {
				left = append(left, s)
			}
		}
		if len(left) != 1 || left[0].Device != phoneID {
			t.Fatalf("%s: a reader without state lists A's newest snapshot %d times, as device %x", when, len(left), left)
		}
	}
	pruneKeeps("the first prune after the rotation")

	// More of B, and a prune over the compacted history.
	bSrc := t.TempDir()
	storetest.WriteFile(t, filepath.Join(bSrc, "note.txt"), []byte("laptop, later"))
	if _, err := backup.Run(e.Ctx, b, backup.Options{Source: bSrc}); err != nil {
		t.Fatal(err)
	}
	pruneKeeps("the second prune")
}

// TestPruneCompactsOldDeviceNewest: a prune on B compacts the delta
// holding A's newest snapshot like any other (its record keeps A's
// device), and keeps that snapshot as A's, through a second prune too.
func TestPruneCompactsOldDeviceNewest(t *testing.T) {
	e := storetest.NewEnv(t)
	b, _, snaps := phoneThenLaptop(t, e)
	for _, when := range []string{"the first prune", "the second prune"} {
		res, err := prune.Run(e.Ctx, b, prune.Options{Policy: prune.Policy{KeepLast: 1}})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if n := len(storetest.DeltaFiles(t, e.RemoteDir)); n != 1 {
			t.Fatalf("%s: compacted %d deltas, %d left on the remote; want the five small ones compacted into one", when, res.Rewritten, n)
		}
		kept := map[[16]byte]string{}
		for _, d := range res.Decisions {
			if d.Keep {
				kept[d.Snapshot.ID] = d.NewestOf
			}
		}
		if len(kept) != 2 || kept[snaps[4].ID] != "" || !strings.HasSuffix(kept[snaps[2].ID], "/"+hex.EncodeToString(phoneID[:4])) {
			t.Fatalf("%s kept %v; want B's newest and A's newest (as A's)", when, kept)
		}
		fresh, err := e.OpenFresh(e.Key)
		if err != nil {
			t.Fatal(err)
		}
		wantDevices(t, when, fresh.Snapshots(), snaps[2:3], snaps[4:])
		fresh.Close()
	}
}
