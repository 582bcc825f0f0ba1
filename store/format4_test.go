package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// testdata/format4 is a repository written by chatsafe before pages on a
// base (trailer version 4, its pages compressed with a dictionary): two
// backups of a message database, the second after 20 edits, with its
// recovery key and the database's digest at each (DIGESTS). Every later
// chatsafe must read it.
func TestReadsFormat4Repository(t *testing.T) {
	readsFixture(t, "format4", func(t *testing.T, r *store.Store) {})
}

// testdata/format5 is the same written by chatsafe before groups of pages
// (trailer version 5: main at beccda8): the second backup's changed pages
// are on their previous version.
func TestReadsFormat5Repository(t *testing.T) {
	readsFixture(t, "format5", func(t *testing.T, r *store.Store) {
		if n, _ := store.OnBase(r); n == 0 {
			t.Fatal("version 5 repository: no page on a base")
		}
	})
}

// testdata/format6 is the same written by chatsafe before run lists
// (trailer version 6: main at 45852e0): the first backup's pages are
// sealed in groups, and its lists name every page.
func TestReadsFormat6Repository(t *testing.T) {
	readsFixture(t, "format6", func(t *testing.T, r *store.Store) {
		if len(store.Groups(r)) == 0 {
			t.Fatal("version 6 repository: no group")
		}
		if plain, runs, _, _ := store.ListBlobs(r); plain == 0 || runs != 0 {
			t.Fatalf("version 6 repository: %d plain lists and %d run lists, want only plain ones", plain, runs)
		}
	})
}

// testdata/config3 is the same sealed with XAES-256-GCM, which its
// version 3 config names under the config's seal: deltas written by
// branch cipher8 (trailer version 7), the config re-encoded in the layout
// chatsafe first released (configv3.go).
func TestReadsConfig3Repository(t *testing.T) {
	readsFixture(t, "config3", func(t *testing.T, r *store.Store) {
		if r.Cipher() != crypt.XAES256GCM {
			t.Fatalf("version 3 config: %v, want XAES-256-GCM", r.Cipher())
		}
	})
}

// readsFixture opens the fixture repository name, checks its data and
// restores every snapshot to the digests it lists; more checks the opened
// store first.
func readsFixture(t *testing.T, name string, more func(*testing.T, *store.Store)) {
	remoteDir, key := copyFixture(t, name)
	digests, err := os.ReadFile(filepath.Join(remoteDir, "DIGESTS"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(digests)), "\n")
	r, err := store.Open(t.Context(), storetest.OpenRemote(t, remoteDir), key, store.Options{})
	if err != nil {
		t.Fatalf("opening repository %s: %v", name, err)
	}
	defer r.Close()
	// Every repository before config version 3 names no cipher.
	if name != "config3" && r.Cipher() != crypt.XChaCha20Poly1305 {
		t.Fatalf("repository %s: %v, want XChaCha20-Poly1305", name, r.Cipher())
	}
	if ds := store.Dictionaries(r); len(ds) != 1 {
		t.Fatalf("repository %s: %d dictionaries, want 1", name, len(ds))
	}
	more(t, r)
	if _, err := check.Run(t.Context(), r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data of repository %s: %v", name, err)
	}
	snaps := r.Snapshots()
	if len(snaps) != len(want) {
		t.Fatalf("%d snapshots, want %d", len(snaps), len(want))
	}
	for i, s := range snaps {
		dst := filepath.Join(t.TempDir(), "r")
		if _, err := restore.Run(t.Context(), r, restore.Options{Snapshot: s.IDString(), Target: dst}); err != nil {
			t.Fatalf("restoring snapshot %d: %v", i+1, err)
		}
		if got := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); got != want[i] {
			t.Fatalf("snapshot %d restored to digest %s, want %s", i+1, got, want[i])
		}
	}
}
