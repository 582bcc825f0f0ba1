package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/check"
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
	remoteDir, key := copyFixture(t, "format4")
	digests, err := os.ReadFile(filepath.Join(remoteDir, "DIGESTS"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(digests)), "\n")
	r, err := store.Open(t.Context(), storetest.OpenRemote(t, remoteDir), key, store.Options{})
	if err != nil {
		t.Fatalf("opening a version 4 repository: %v", err)
	}
	defer r.Close()
	if ds := store.Dictionaries(r); len(ds) != 1 {
		t.Fatalf("version 4 repository: %d dictionaries, want 1", len(ds))
	}
	if _, err := check.Run(t.Context(), r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data of a version 4 repository: %v", err)
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
