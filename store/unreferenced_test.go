package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// TestUnreferencedSaysWhatEachObjectIs: beside the history lie a delta a
// compaction replaced (put back, as an interrupted prune leaves it), a
// delta past a missing one, a junk object named like a newer delta, and a
// file not named like a delta. Each is said to be what it is.
func TestUnreferencedSaysWhatEachObjectIs(t *testing.T) {
	e := storetest.NewEnv(t)
	for i := range 3 {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("%d.txt", i)), []byte(fmt.Sprint("version ", i)))
		e.Backup()
	}
	old := storetest.DeltaFiles(t, e.RemoteDir)[0]
	oldBytes, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, Targets: e.Store.Targets()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("prune left %s (%v): nothing replaced", old, err)
	}
	storetest.WriteFile(t, old, oldBytes)
	for i := range 2 {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("later-%d.txt", i)), []byte("later"))
		e.Backup()
	}
	live := storetest.DeltaFiles(t, e.RemoteDir)
	missing, past := live[len(live)-2], live[len(live)-1]
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(e.RemoteDir, "deltas", "00000000000000ff-00000000000000000000000000000000")
	storetest.WriteFile(t, junk, []byte("not a delta"))
	storetest.WriteFile(t, filepath.Join(e.RemoteDir, "deltas", "notes.txt"), []byte("mine"))

	r := openPartial(t, e)
	want := map[string]store.UnrefKind{
		rel(t, e, old):     store.UnrefSuperseded,
		rel(t, e, past):    store.UnrefPastDamage,
		rel(t, e, junk):    store.UnrefDamaged,
		"deltas/notes.txt": store.UnrefUnknown,
	}
	got := r.Unreferenced()
	if len(got) != len(want) {
		t.Fatalf("unreferenced: %v, want %v", got, want)
	}
	for _, u := range got {
		if k, ok := want[u.Name]; !ok || k != u.Kind {
			t.Errorf("%s: kind %d, want %d", u.Name, u.Kind, want[u.Name])
		}
	}
}
