package store_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// newestDelta returns the size of the delta with the highest sequence.
func newestDelta(t *testing.T, e *storetest.Env) int64 {
	t.Helper()
	d := storetest.DeltaFiles(t, e.RemoteDir)
	if len(d) == 0 {
		t.Fatal("no deltas on the remote")
	}
	sort.Strings(d)
	fi, err := os.Stat(d[len(d)-1])
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPaddingHidesSmallChanges: the cloud cannot tell one new message
// from fifty by the size of the delta.
func TestPaddingHidesSmallChanges(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 2000, 500)
	e.Backup()
	db.Insert(2000, 2001, 1)
	e.Backup()
	one := newestDelta(t, e)
	db.Insert(2001, 2051, 10)
	e.Backup()
	fifty := newestDelta(t, e)
	t.Logf("delta of one message: %d bytes, of fifty: %d bytes", one, fifty)
	if one != fifty {
		t.Fatalf("one message gave a %d-byte delta, fifty a %d-byte one: the cloud can count messages", one, fifty)
	}
}

// TestPaddingOverheadIsBounded: a large delta (a video) grows by at most
// 12 % for its padding.
func TestPaddingOverheadIsBounded(t *testing.T) {
	e := storetest.NewEnv(t)
	const video = 20_000_000
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "VID-0001.mp4"), storetest.RandBytes(9, video))
	e.Backup()
	size := newestDelta(t, e)
	t.Logf("a %d-byte video gave a %d-byte delta (%.2f %% more)", video, size, 100*float64(size-video)/video)
	if size < video || float64(size) > 1.12*video {
		t.Fatalf("a %d-byte video gave a %d-byte delta, want at most 12 %% more", video, size)
	}
	if _, err := e.RestoreFresh(""); err != nil {
		t.Fatal(err)
	}
}

// TestPaddingAuthenticated: the padding is accounted for by the trailer
// (bytes added or removed are refused at open) and authenticated by
// check --read-data (bytes changed are found).
func TestPaddingAuthenticated(t *testing.T) {
	e, d := threeDeltas(t)
	p := d[1]
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tlen := int(binary.LittleEndian.Uint32(b[len(b)-12:]))
	padEnd := len(b) - 12 - tlen // the padding ends where the trailer starts
	flipByte(t, p, int64(padEnd-1))
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatalf("a changed padding byte broke opening (only check --read-data reads it): %v", err)
	}
	_, err = check.Run(e.Ctx, r, check.Options{ReadData: true})
	wantIntegrity(t, err, rel(t, e, p))

	grown := append(append(append([]byte(nil), b[:padEnd]...), 0), b[padEnd:]...)
	if err := os.WriteFile(p, grown, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, p))
}

// TestPaddingAfterPrune: compaction writes through the same writer, so
// its deltas are padded too, within the same bound.
func TestPaddingAfterPrune(t *testing.T) {
	e := storetest.NewEnv(t)
	for i := range 8 {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("note-%d.txt", i)), storetest.RandBytes(uint64(i), 10<<10))
		e.Backup()
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "VID-1.mp4"), storetest.RandBytes(99, 3<<20))
	e.Backup()
	res, err := prune.Run(e.Ctx, e.Store, prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rewritten == 0 {
		t.Fatalf("prune compacted nothing: %+v", res)
	}
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(e.Ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatal(err)
	}
	sizes, padding := store.DeltaPadding(r)
	for i, size := range sizes {
		unpadded := size - padding[i]
		t.Logf("delta %d: %d bytes, %d of them padding", i, size, padding[i])
		if padding[i] < 40 || (size > 64<<10 && float64(padding[i]) > 0.12*float64(unpadded)+40) {
			t.Errorf("delta of %d bytes has %d bytes of padding", size, padding[i])
		}
	}
}
