package store_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// testdata/format1 is a repository written by chatsafe's format 1 (before
// padding and the snapshot's root metadata): two backups of a small
// directory, with its recovery key. Every later chatsafe must read it.
func TestReadsFormat1Repository(t *testing.T) {
	remoteDir, key := copyFormat1(t)
	r, err := store.Open(t.Context(), storetest.OpenRemote(t, remoteDir), key, store.Options{})
	if err != nil {
		t.Fatalf("opening a format 1 repository: %v", err)
	}
	defer r.Close()
	if r.Cipher() != crypt.XChaCha20Poly1305 {
		t.Fatalf("format 1 repository: %v, want XChaCha20-Poly1305", r.Cipher())
	}
	if n := len(r.Snapshots()); n != 2 {
		t.Fatalf("format 1 repository: %d snapshots, want 2", n)
	}
	if _, err := check.Run(t.Context(), r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data of a format 1 repository: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(t.Context(), r, restore.Options{Target: dst}); err != nil {
		t.Fatalf("restoring a format 1 snapshot: %v", err)
	}
	want := map[string][]byte{
		"msgstore.db":        storetest.RandBytes(11, 40<<10),
		"Media/IMG-0001.jpg": append([]byte{0xff, 0xd8, 0xff, 0xe0}, storetest.RandBytes(12, 100<<10)...),
		"notes.txt":          []byte("second version\n"),
	}
	for name, b := range want {
		have, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || !bytes.Equal(have, b) {
			t.Errorf("%s: restored %d bytes (%v), want %d", name, len(have), err, len(b))
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "notes.txt" {
		t.Errorf("link: %q, %v", l, err)
	}
	fi, err := os.Stat(filepath.Join(dst, "Media"))
	if err != nil || fi.Mode().Perm() != 0o750 || !fi.ModTime().Equal(time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("Media: %v, %v", fi, err)
	}
}

// copyFormat1 copies testdata/format1 into a new directory and returns it
// with the repository's key.
func copyFormat1(t *testing.T) (string, crypt.Key) { return copyFixture(t, "format1") }

// copyFixture copies the repository testdata/name into a new directory and
// returns it with the repository's key (its RECOVERY-KEY file).
func copyFixture(t *testing.T, name string) (string, crypt.Key) {
	t.Helper()
	remoteDir := t.TempDir()
	if err := os.CopyFS(remoteDir, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	rk, err := os.ReadFile(filepath.Join(remoteDir, "RECOVERY-KEY"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypt.ParseRecoveryKey(strings.TrimSpace(string(rk)))
	if err != nil {
		t.Fatal(err)
	}
	return remoteDir, key
}
