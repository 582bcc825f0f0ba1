package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestConfigReads: every path that reads the config object (open, copy to
// a mirror, replace after a rotation, the rotation check) tells a missing,
// a foreign and an oversized config apart the same way.
func TestConfigReads(t *testing.T) {
	e := storetest.NewEnv(t)
	ctx := t.Context()
	emptyDir := t.TempDir()
	empty := storetest.OpenRemote(t, emptyDir)
	if _, err := store.Open(ctx, empty, e.Key, store.Options{}); !errors.Is(err, store.ErrNoRepository) {
		t.Errorf("opening an empty remote: %v, want ErrNoRepository", err)
	}
	if _, err := store.ObjectsOpeningWith(ctx, empty, e.Key); err == nil {
		t.Error("the rotation check on an empty remote succeeded")
	}

	// A copy is byte for byte; copying again is a no-op.
	for range 2 {
		if err := store.CopyConfig(ctx, e.Remote, empty); err != nil {
			t.Fatalf("copying the config to an empty remote: %v", err)
		}
	}
	want, err := os.ReadFile(filepath.Join(e.RemoteDir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(emptyDir, "config")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the copied config differs (%v)", err)
	}

	other := storetest.NewEnv(t)
	if err := store.CopyConfig(ctx, e.Remote, other.Remote); !errors.Is(err, store.ErrExists) {
		t.Errorf("copying over another repository's config: %v, want ErrExists", err)
	}

	// An oversized config on the destination is not this repository.
	big := append(bytes.Clone(want), make([]byte, 8<<10)...)
	storetest.WriteFile(t, filepath.Join(emptyDir, "config"), big)
	if err := store.CopyConfig(ctx, e.Remote, empty); !errors.Is(err, store.ErrExists) {
		t.Errorf("copying over an oversized config: %v, want ErrExists", err)
	}
	// As a source it is an integrity failure everywhere, and nothing is written.
	if err := store.CopyConfig(ctx, empty, other.Remote); !errors.Is(err, store.ErrIntegrity) {
		t.Errorf("copying an oversized config: %v, want an integrity failure", err)
	}
	if err := store.ReplaceConfig(ctx, empty, []remotes.Remote{e.Remote}); !errors.Is(err, store.ErrIntegrity) {
		t.Errorf("replacing with an oversized config: %v, want an integrity failure", err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.RemoteDir, "config")); !bytes.Equal(got, want) {
		t.Error("a failed replace changed the config")
	}
	if _, err := store.ObjectsOpeningWith(ctx, empty, e.Key); !errors.Is(err, store.ErrIntegrity) {
		t.Errorf("the rotation check over an oversized config: %v, want an integrity failure", err)
	}
	if _, err := store.Open(ctx, empty, e.Key, store.Options{}); !errors.Is(err, store.ErrIntegrity) {
		t.Errorf("opening over an oversized config: %v, want an integrity failure", err)
	}
}

// TestObjectsOpeningWith: the rotation check lists the config and every
// delta a key opens, nothing for another key, and passes over objects
// that are not well-formed deltas instead of failing on them.
func TestObjectsOpeningWith(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("hello"))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), storetest.RandBytes(3, 1<<20))
	e.Backup()
	deltas := len(storetest.DeltaFiles(t, e.RemoteDir))
	plantDelta(t, e, "0000000000000009-00112233445566778899aabbccddeeff", 4096, fakeFooter(100))
	plantDelta(t, e, "000000000000000a-00112233445566778899aabbccddeeff", 20, fakeFooter(8))
	plantDelta(t, e, "000000000000000b-00112233445566778899aabbccddeeff", 4096, fakeFooter(1<<30))
	plantDelta(t, e, "not-a-delta", 4096, fakeFooter(100))

	got, err := store.ObjectsOpeningWith(t.Context(), e.Remote, e.Key)
	if err != nil || len(got) != 1+deltas || got[0] != "config" {
		t.Fatalf("opening with the key: %v (%v), want the config and %d deltas", got, err, deltas)
	}
	other, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.ObjectsOpeningWith(t.Context(), e.Remote, other); err != nil || len(got) != 0 {
		t.Fatalf("opening with another key: %v (%v), want nothing", got, err)
	}
}
