package store_test

import (
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// TestMediaFillsFullDeltas: a video's chunks (up to 2 MiB) fill each full
// delta to within 64 KiB of the cap. A delta is cut before a blob that
// does not fit, and what is left up to the cap is padding (the cap is a
// Padmé size, and below it a smaller Padmé size is still wasted room): up
// to a whole chunk, unless the writer splits the chunk to fill it
// (backup's fixedChunks). The video restores byte for byte.
func TestMediaFillsFullDeltas(t *testing.T) {
	const capBytes = 4 << 20 // a Padmé size
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "video.mp4"), storetest.RandBytes(7, 21<<20))
	storetest.WriteFile(t, filepath.Join(e.Src, "photo.jpg"), storetest.RandBytes(8, 300<<10))
	r := backupUnderCap(t, e, capBytes)
	ds, err := r.Bytes(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) < 6 {
		t.Fatalf("%d deltas for 21 MiB under a 4 MiB cap", len(ds))
	}
	for _, d := range ds[:len(ds)-1] { // the newest holds the rest
		if content := d.Size - d.Padding; d.Size > capBytes || content < capBytes-64<<10 {
			t.Errorf("full delta %s: %d bytes, %d of them padding; want at most %d, and content within 64 KiB of it", d.Name, d.Size, d.Padding, capBytes)
		}
	}
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.DirDigest(t, dst, nil), storetest.DirDigest(t, e.Src, nil); !equalDigest(got, want) {
		t.Fatal("restored tree differs from the source")
	}
}
