package store_test

import (
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/store"
)

// A delta must stay in the spool until every remote holds it: with two
// remotes, draining the spool after the first one loses the only copy the
// second could ever get (the spool is where the back-fill reads from until
// the second remote is reachable).
func TestSyncKeepsDeltaUntilEveryRemoteHasIt(t *testing.T) {
	e := newEnv(t)
	secondDir := t.TempDir()
	second := openRemote(t, secondDir)
	if err := store.CopyConfig(e.ctx, e.remote, second); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("only copy"))
	if _, err := e.r.Backup(e.ctx, store.BackupOptions{Source: e.src}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	onFirst, onSecond := len(deltaFiles(t, e.remoteDir)), len(deltaFiles(t, secondDir))
	if onFirst != 1 {
		t.Fatalf("%d deltas on the first remote, want 1", onFirst)
	}
	if onSecond == 0 && len(e.r.Pending()) == 0 {
		t.Fatal("the delta left the spool though the second remote does not hold it")
	}
}
