package remotes

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// TestStalePartialsRemovedOnFirstWrite: a daemon killed mid-upload left
// tmp/....partial objects on a WebDAV remote (rclone's own server). The next
// process to write there removes the stale ones before its first upload,
// not an hour later at prune; a fresh one (maybe another writer's upload in
// flight) stays, and a remote only read from is left alone.
func TestStalePartialsRemovedOnFirstWrite(t *testing.T) {
	srv := remotetest.StartWebDAV(t, filepath.Join(t.TempDir(), "dav"))
	old := time.Now().Add(-2 * time.Hour)
	const stale, fresh = "tmp/deltas/00aa.0123456789abcdef.partial", "tmp/deltas/00bb.fedcba9876543210.partial"
	killed := mustOpen(t, srv.Spec, Options{})
	put(t, killed, "config", []byte("the repository's config"))
	plant(t, killed, stale, []byte("half an upload"), old)
	plant(t, killed, fresh, []byte("an upload in flight"), time.Now())

	reader := mustOpen(t, srv.Spec, Options{})
	if got := get(t, reader, "config", 0, -1); string(got) != "the repository's config" {
		t.Fatalf("config read back as %q", got)
	}
	if raw := rawNames(t, reader); !slices.Contains(raw, stale) {
		t.Fatalf("reading removed the stale partial: %q", raw)
	}

	noClean := mustOpen(t, srv.Spec, Options{StalePartialAge: -1})
	put(t, noClean, "deltas/0001", []byte("delta 1"))
	if raw := rawNames(t, noClean); !slices.Contains(raw, stale) {
		t.Fatalf("StalePartialAge < 0 removed the stale partial: %q", raw)
	}

	writer := mustOpen(t, srv.Spec, Options{})
	put(t, writer, "deltas/0002", []byte("delta 2"))
	raw := rawNames(t, writer)
	if slices.Contains(raw, stale) {
		t.Errorf("the stale partial survived the first write: %q", raw)
	}
	if !slices.Contains(raw, fresh) {
		t.Errorf("a fresh partial (maybe in flight) was removed: %q", raw)
	}
	if !slices.Contains(raw, "deltas/0002") || !slices.Contains(raw, "deltas/0001") {
		t.Errorf("committed objects missing: %q", raw)
	}
}
