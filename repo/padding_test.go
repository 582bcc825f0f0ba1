package repo_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
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
