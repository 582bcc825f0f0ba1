package store_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestSpoiledFramesAreNeverStored: a frame the compressor got wrong (here
// every one, a byte flipped in each) never reaches the repository. A
// blob stored so would be lost for good: dedup never writes its id again,
// and only a restore or check --read-data would find it. Every kind of
// compressed blob is covered: pages with the dictionary, alone and in
// groups, pages on their previous version, plain zstd (a settings file,
// trees, lists, the dictionary itself), and the blobs a key rotation
// seals again. Every snapshot restores byte for byte and passes check
// --read-data.
func TestSpoiledFramesAreNeverStored(t *testing.T) {
	store.SpoilFrames(t)
	e, db := dictEnv(t)
	first := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	settings := bytes.Repeat([]byte("<string name=\"theme\">dark</string>\n"), 400)
	storetest.WriteFile(t, filepath.Join(e.Src, "shared_prefs", "settings.xml"), settings)
	editScattered(t, db, 40, 4000, 1)
	e.Backup()
	second := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))

	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data: %v", err)
	}
	snaps := fresh.Snapshots()
	for i, want := range []string{first, second} {
		dst := filepath.Join(t.TempDir(), "r")
		if _, err := restore.Run(e.Ctx, fresh, restore.Options{Snapshot: snaps[i].IDString(), Target: dst}); err != nil {
			t.Fatalf("restoring snapshot %d: %v", i+1, err)
		}
		if got := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); got != want {
			t.Fatalf("snapshot %d restored to digest %s, want %s", i+1, got, want)
		}
		if i == 1 {
			if got, err := os.ReadFile(filepath.Join(dst, "shared_prefs", "settings.xml")); err != nil || !bytes.Equal(got, settings) {
				t.Fatalf("settings file restored wrong: %v", err)
			}
		}
	}
	fresh.Close()
	newKey := rotateKey(t, e)
	if got, err := restoreDigest(t, e, newKey); err != nil || got != second {
		t.Fatalf("restore after a key rotation: %v (digest %s, want %s)", err, got, second)
	}
}
