package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// stateCaches lists the cached trailers and dictionary copies of the
// repository's state directory, by file name.
func stateCaches(t *testing.T, dir string) (trailers, dicts []string) {
	t.Helper()
	names := func(sub string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for i := range m {
			m[i] = filepath.Base(m[i])
		}
		return m
	}
	return names("trailers"), names("dicts")
}

// TestStateCachesLeaveWithTheirDeltas: the cached trailers of deltas a
// prune compacted away, and the local copy of a dictionary no live delta
// holds any more, leave the state directory with them (a daemon's would
// grow forever); so do leftovers of deltas gone while no writer ran, at
// the next writable open. A read-only open removes nothing.
func TestStateCachesLeaveWithTheirDeltas(t *testing.T) {
	e, db := dictEnv(t)
	old := oneDict(t, e.Store)
	db.DB.Close()
	// Reopened, the writer keeps a local copy of the dictionary.
	e.Store.Close()
	w, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	e.Store = w
	dir := repoDir(t, e.State)
	if _, dicts := stateCaches(t, dir); !slices.Contains(dicts, old.ID.String()) {
		t.Fatalf("no local copy of dictionary %s: %v", old.ID, dicts)
	}
	// The database leaves the source: once its snapshot is forgotten, no
	// kept blob needs the dictionary.
	for _, p := range []string{"msgstore.db", "msgstore.db-wal", "msgstore.db-shm"} {
		os.Remove(filepath.Join(e.Src, p))
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "note.txt"), []byte("after the chat was deleted"))
	e.Backup()
	trailersBefore, _ := stateCaches(t, dir)
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range store.Dictionaries(e.Store) {
		if d.ID == old.ID {
			t.Fatal("the pruned repository still holds the dictionary: the test needs it gone")
		}
	}
	live := map[string]bool{}
	for _, p := range storetest.DeltaFiles(t, e.RemoteDir) {
		live[filepath.Base(p)] = true
	}
	trailers, dicts := stateCaches(t, dir)
	for _, name := range trailers {
		if !live[name] {
			t.Errorf("after prune, the trailer of %s, no longer in the repository, is still cached", name)
		}
	}
	if slices.Contains(dicts, old.ID.String()) {
		t.Errorf("after prune, the local copy of dictionary %s, no longer in the repository, is still there", old.ID)
	}
	t.Logf("cached trailers %d before prune, %d after; %d live deltas", len(trailersBefore), len(trailers), len(live))

	// Leftovers of deltas gone while no writer ran: a read-only open
	// leaves them, a writable one removes them.
	goneTrailer := filepath.Join(dir, "trailers", "0000000000000001-00112233445566778899aabbccddeeff")
	goneDict := filepath.Join(dir, "dicts", old.ID.String())
	storetest.WriteFile(t, goneTrailer, []byte("a trailer"))
	storetest.WriteFile(t, goneDict, []byte("a dictionary"))
	e.Store.Close()
	for _, ro := range []bool{true, false} {
		r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		for _, p := range []string{goneTrailer, goneDict} {
			_, err := os.Stat(p)
			if ro && err != nil {
				t.Errorf("a read-only open removed %s: %v", p, err)
			}
			if !ro && !os.IsNotExist(err) {
				t.Errorf("a writable open left %s, of a delta no longer in the repository (%v)", p, err)
			}
		}
	}
}

// TestStateCachesKeptOnARolledBackRemote: a remote that serves an older
// head than this device saw (or than the vault records) hides the newer
// deltas, not removes them for good (a repair or the remote put right
// brings them back): a writable open and its reloads leave their cached
// trailers.
func TestStateCachesKeptOnARolledBackRemote(t *testing.T) {
	e, d := threeDeltas(t)
	dir := repoDir(t, e.State)
	newest := filepath.Join(dir, "trailers", filepath.Base(d[2]))
	if _, err := os.Stat(newest); err != nil {
		t.Fatalf("the newest delta's trailer is not cached: %v", err)
	}
	// The remote rolled back: its newest delta hidden.
	hidden := filepath.Join(t.TempDir(), "hidden")
	if err := os.Rename(d[2], hidden); err != nil {
		t.Fatal(err)
	}
	r := openPartial(t, e)
	if de := r.Damage(); de == nil || !de.Rollback {
		t.Fatalf("a rolled-back remote: damage %v, want a rollback", de)
	}
	if err := r.Reload(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(newest); err != nil {
		t.Errorf("a writable open of a rolled-back remote removed the cached trailer of its hidden newest delta: %v", err)
	}

	// The vault records a newer head than the remote serves, which this
	// device's own guard does not know of: the sweep waits too.
	if err := os.Rename(hidden, d[2]); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	e.Store = w
	w.NoteRollback(fmt.Errorf("%w: the vault records sequence 4", store.ErrRollback))
	vaultKnown := filepath.Join(dir, "trailers", "0000000000000004-00112233445566778899aabbccddeeff")
	storetest.WriteFile(t, vaultKnown, []byte("a trailer"))
	if err := w.Reload(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vaultKnown); err != nil {
		t.Errorf("a reload after the vault reported a rollback removed a cached trailer: %v", err)
	}
}
