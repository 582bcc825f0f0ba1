package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

var errCrash = errors.New("simulated crash")

// TestRotateKey re-seals a repository, first killed (by hook) after one
// upload and resumed, and checks that the new key restores everything,
// the old key is told it was rotated, and no old delta is left.
func TestRotateKey(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), storetest.RandBytes(1, 300<<10))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("second"))
	e.Backup()
	want := storetest.DirDigest(t, e.Src, nil)
	oldDeltas := storetest.DeltaFiles(t, e.RemoteDir)
	oldHead := e.Store.HeadSeq()
	newKey, _ := crypt.NewKey()

	// First attempt: "killed" after the first upload; the old key still opens.
	faults.Hook = func(p string) error {
		if p == "rotate:uploaded" {
			return errCrash
		}
		return nil
	}
	defer func() { faults.Hook = nil }()
	if err := e.Store.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); !errors.Is(err, errCrash) {
		t.Fatalf("first attempt: %v", err)
	}
	faults.Hook = nil
	e.Store.Close()
	if err := store.DropRotateWrites(e.Ctx, e.Remote, e.State, oldHead, newKey); err != nil {
		t.Fatal(err)
	}
	if dst, err := e.RestoreFresh(""); err != nil || !equalDigest(storetest.DirDigest(t, dst, nil), want) {
		t.Fatalf("old key after an interrupted rotation: %v", err)
	}

	// A small size cap: the re-sealed blobs fill several deltas.
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeltaSizeCap: 100 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := e.OpenFresh(e.Key); !errors.Is(err, store.ErrKeyRotated) {
		t.Fatalf("old key after the switch: %v, want ErrKeyRotated", err)
	}
	nr, err := store.Open(e.Ctx, e.Remote, newKey, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nr.DeleteGarbage(e.Ctx, nr.Targets()); err != nil {
		t.Fatal(err)
	}
	nr.Close()
	if n := len(storetest.DeltaFiles(t, e.RemoteDir)); n < 3 {
		t.Fatalf("%d deltas after re-sealing 300 KiB with a 100 KiB cap", n)
	}
	for _, d := range storetest.DeltaFiles(t, e.RemoteDir) {
		for _, o := range oldDeltas {
			if d == o {
				t.Fatalf("old delta %s survived the rotation", d)
			}
		}
	}
	fresh, err := e.OpenFresh(newKey)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if n := len(fresh.Snapshots()); n != 2 {
		t.Fatalf("%d snapshots after rotation, want 2", n)
	}
	dst := filepath.Join(t.TempDir(), "r")
	if _, err := restore.Run(e.Ctx, fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if !equalDigest(storetest.DirDigest(t, dst, nil), want) {
		t.Fatal("restore after rotation differs")
	}
	if _, err := os.Stat(filepath.Join(dst, "b.txt")); err != nil {
		t.Fatal(err)
	}

	// A second rotation: the first key and the second are both told.
	third, _ := crypt.NewKey()
	r2, err := store.Open(e.Ctx, e.Remote, newKey, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.ResealTo(e.Ctx, third, []remotes.Remote{e.Remote}); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	for _, k := range []crypt.Key{e.Key, newKey} {
		if _, err := e.OpenFresh(k); !errors.Is(err, store.ErrKeyRotated) {
			t.Fatalf("an earlier key after two rotations: %v", err)
		}
	}
	if _, err := e.OpenFresh(randKey()); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("a key that never opened it: %v, want ErrWrongKey", err)
	}
	if !equalDigest(restoredWith(t, e, third), want) {
		t.Fatal("restore after a second rotation differs")
	}
}

// restoredWith restores the latest snapshot as a new device holding key
// would, and digests what it wrote.
func restoredWith(t *testing.T, e *storetest.Env, key crypt.Key) map[string]string {
	t.Helper()
	r, err := e.OpenFresh(key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(e.Ctx, r, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	return storetest.DirDigest(t, dst, nil)
}

func randKey() crypt.Key {
	k, _ := crypt.NewKey()
	return k
}

// A reader with the old key meets the rotation marker, not deltas it
// cannot open; the rotating device passes it.
func TestRotatingMarker(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("x"))
	e.Backup()
	if err := e.Store.PutRotating(e.Ctx, e.Remote); err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenFresh(e.Key); !errors.Is(err, store.ErrRotating) {
		t.Fatalf("old key while rotating: %v, want ErrRotating", err)
	}
	e.Store.Close()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, Rotating: true})
	if err != nil {
		t.Fatalf("the rotating device: %v", err)
	}
	r.Close()
	if err := store.DeleteRotating(e.Ctx, e.Remote); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RestoreFresh(""); err != nil {
		t.Fatal(err)
	}
}

// A delta that another device commits during the re-sealing stops the
// switch (the old key still opens everything), and undoing the rotation
// deletes only what the rotation wrote.
func TestRotateStopsWhenAnotherDeviceCommits(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("x"))
	e.Backup()
	oldHead := e.Store.HeadSeq()
	foreign := filepath.Join(e.RemoteDir, "deltas", fmt.Sprintf("%016x-%032x", oldHead+1, 7))
	faults.Hook = func(p string) error {
		if p == "rotate:resealed" {
			return os.WriteFile(foreign, []byte("another device's delta"), 0o644)
		}
		return nil
	}
	defer func() { faults.Hook = nil }()
	newKey := randKey()
	if err := e.Store.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("got %v, want ErrTakenOver", err)
	}
	faults.Hook = nil
	if _, err := e.OpenFresh(newKey); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("the config was switched: %v", err)
	}
	if err := store.DropRotateWrites(e.Ctx, e.Remote, e.State, oldHead, newKey); err != nil {
		t.Fatal(err)
	}
	files := storetest.DeltaFiles(t, e.RemoteDir)
	if len(files) != 2 || filepath.Base(files[1]) != filepath.Base(foreign) {
		t.Fatalf("after undoing: %v, want the old delta and the foreign one", files)
	}
}
