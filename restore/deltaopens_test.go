package restore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// A restore opens each delta once for all its files (store.KeepDeltasOpen),
// not once per file, and closes it before it returns.
func TestRestoreOpensEachDeltaOnce(t *testing.T) {
	e := storetest.NewEnv(t)
	const files = 24
	for i := range files {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("f%02d.bin", i)), storetest.RandBytes(uint64(i), 40<<10))
	}
	e.Backup()
	if n := len(storetest.DeltaFiles(t, e.RemoteDir)); n != 1 {
		t.Fatalf("%d deltas, want 1", n)
	}

	rem := &storetest.CountingRemote{Remote: storetest.OpenRemote(t, e.RemoteDir)}
	r, err := store.Open(e.Ctx, rem, e.Key, store.Options{}) // no spool: every read goes to the remote
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	res, err := restore.Run(e.Ctx, r, restore.Options{Target: dst})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != files {
		t.Fatalf("restored %d files, want %d", res.Files, files)
	}
	for i := range files {
		b, err := os.ReadFile(filepath.Join(dst, fmt.Sprintf("f%02d.bin", i)))
		if err != nil || string(b) != string(storetest.RandBytes(uint64(i), 40<<10)) {
			t.Fatalf("file %d restored wrong (%v)", i, err)
		}
	}
	if o, c := rem.Opens.Load(), rem.Closes.Load(); o != 1 || c != 1 {
		t.Fatalf("the restore opened the delta %d times and closed it %d times, want 1 and 1", o, c)
	}
}
