package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestFullDeltasStayWithinTheCap: a backup larger than the size cap is cut
// into deltas that end at or below the cap. The cap is a Padmé size, so a
// full delta's padding stays within it; a delta that went past the cap by
// one chunk was padded by a whole Padmé step (3 % of it) instead.
func TestFullDeltasStayWithinTheCap(t *testing.T) {
	const capBytes = 1 << 20 // a Padmé size
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "video.mp4"), storetest.RandBytes(7, 5<<20))
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	deltas := storetest.DeltaFiles(t, e.RemoteDir)
	if len(deltas) < 5 {
		t.Fatalf("%d deltas for 5 MiB under a 1 MiB cap", len(deltas))
	}
	var over []int64
	for _, d := range deltas[:len(deltas)-1] { // the newest holds the rest
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > capBytes {
			over = append(over, fi.Size())
		}
	}
	if len(over) > 0 {
		t.Fatalf("full deltas past the %d-byte cap: %v", capBytes, over)
	}
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.DirDigest(t, dst, nil), storetest.DirDigest(t, e.Src, nil); !equalDigest(got, want) {
		t.Fatal("restored tree differs from the source")
	}
}
