package repo_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/chatsafe/chatsafe/repo"
)

// newestDelta returns the size of the delta with the highest sequence.
func newestDelta(t *testing.T, e *env) int64 {
	t.Helper()
	d := deltaFiles(t, e.remoteDir)
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
	e := newEnv(t)
	db := openChatDB(t, filepath.Join(e.src, "msgstore.db"))
	db.insert(0, 2000, 500)
	e.backup()
	db.insert(2000, 2001, 1)
	e.backup()
	one := newestDelta(t, e)
	db.insert(2001, 2051, 10)
	e.backup()
	fifty := newestDelta(t, e)
	t.Logf("delta of one message: %d bytes, of fifty: %d bytes", one, fifty)
	if one != fifty {
		t.Fatalf("one message gave a %d-byte delta, fifty a %d-byte one: the cloud can count messages", one, fifty)
	}
}

// TestPaddingOverheadIsBounded: a large delta (a video) grows by at most
// 12 % for its padding.
func TestPaddingOverheadIsBounded(t *testing.T) {
	e := newEnv(t)
	const video = 20_000_000
	writeFile(t, filepath.Join(e.src, "Media", "VID-0001.mp4"), randBytes(9, video))
	e.backup()
	size := newestDelta(t, e)
	t.Logf("a %d-byte video gave a %d-byte delta (%.2f %% more)", video, size, 100*float64(size-video)/video)
	if size < video || float64(size) > 1.12*video {
		t.Fatalf("a %d-byte video gave a %d-byte delta, want at most 12 %% more", video, size)
	}
	if _, err := e.restoreFresh(""); err != nil {
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
	r, err := e.openFresh(e.key)
	if err != nil {
		t.Fatalf("a changed padding byte broke opening (only check --read-data reads it): %v", err)
	}
	_, err = r.Check(e.ctx, repo.CheckOptions{ReadData: true})
	wantIntegrity(t, err, rel(t, e, p))

	grown := append(append(append([]byte(nil), b[:padEnd]...), 0), b[padEnd:]...)
	if err := os.WriteFile(p, grown, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = e.openFresh(e.key)
	wantIntegrity(t, err, rel(t, e, p))
}

// TestPaddingAfterPrune: compaction writes through the same writer, so
// its deltas are padded too, within the same bound.
func TestPaddingAfterPrune(t *testing.T) {
	e := newEnv(t)
	for i := range 8 {
		writeFile(t, filepath.Join(e.src, fmt.Sprintf("note-%d.txt", i)), randBytes(uint64(i), 10<<10))
		e.backup()
	}
	writeFile(t, filepath.Join(e.src, "Media", "VID-1.mp4"), randBytes(99, 3<<20))
	e.backup()
	res, err := e.r.Prune(e.ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rewritten == 0 {
		t.Fatalf("prune compacted nothing: %+v", res)
	}
	r, err := e.openFresh(e.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Check(e.ctx, repo.CheckOptions{ReadData: true}); err != nil {
		t.Fatal(err)
	}
	sizes, padding := repo.DeltaPadding(r)
	for i, size := range sizes {
		unpadded := size - padding[i]
		t.Logf("delta %d: %d bytes, %d of them padding", i, size, padding[i])
		if padding[i] < 40 || (size > 64<<10 && float64(padding[i]) > 0.12*float64(unpadded)+40) {
			t.Errorf("delta of %d bytes has %d bytes of padding", size, padding[i])
		}
	}
}
