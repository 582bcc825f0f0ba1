package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/store"
)

// TestOfflineMergeKeepsLeftBehind: fork resolve merges this device's
// offline branch with the phone's, but one delta this device backed up
// offline is in neither branch (here a damaged copy in the spool). The
// merge must not drop it: it stays in the spool, counted by Offline(),
// after the merge is uploaded and across a reopen, until takeover
// --discard-offline drops it.
func TestOfflineMergeKeepsLeftBehind(t *testing.T) {
	o := newOfflineRepo(t)
	r := o.backupOffline(t, true)
	r.Close()
	o.srv.Start()
	o.phoneCommits(t, 3).Close()
	sp := spooled(t, o.state)
	if len(sp) != 1 {
		t.Fatalf("spool: %v", sp)
	}
	b, err := os.ReadFile(sp[0])
	if err != nil {
		t.Fatal(err)
	}
	// Same sequence, another id: its trailer does not authenticate, so
	// no branch holds it (the phone's history is newer).
	base := filepath.Base(sp[0])
	i := strings.IndexByte(base, '-') + 1
	stray := filepath.Join(filepath.Dir(sp[0]), base[:i]+"ff"+base[i:len(base)-2])
	if err := os.WriteFile(stray, b, 0o600); err != nil {
		t.Fatal(err)
	}

	r, err = store.Open(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	o.resolveToOurs(t, r)
	has := func(when string, waiting int) {
		t.Helper()
		if _, err := os.Stat(stray); err != nil {
			t.Fatalf("%s: the delta the merge left behind is gone: %v", when, err)
		}
		if off, ok := r.Offline(); !ok || off.Snapshots != waiting {
			t.Errorf("%s: Offline() = %+v, %v; want %d snapshots waiting", when, off, ok, waiting)
		}
	}
	has("after fork resolve", 2) // the merged one too, until uploaded
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatalf("sync after fork resolve: %v", err)
	}
	has("after the merge's upload", 1)
	r.Close()
	r, err = store.Open(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	has("reopened", 1)
	if res, err := r.Takeover(t.Context(), store.TakeoverOptions{DiscardOffline: true}); err != nil || res.Dropped != 1 {
		t.Fatalf("takeover --discard-offline: %+v %v", res, err)
	}
	if _, err := os.Stat(stray); err == nil {
		t.Error("takeover --discard-offline kept the delta")
	}
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatalf("sync after the takeover: %v", err)
	}
	if _, ok := r.Offline(); ok {
		t.Error("still offline after the discard and a sync")
	}
}
