package remotes_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// Two local-path remotes on one file system (two folders on one disk) must
// each hold their own copy of a delta. Linking the spooled delta into both
// made them one file: a change in place to one (a bit flip on disk, a tool
// that rewrites a file in place) damaged the other as well.
func TestTwoLocalRemotesHoldSeparateCopies(t *testing.T) {
	base := t.TempDir()
	src, state := filepath.Join(base, "chats"), filepath.Join(base, "state")
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, d := range []string{src, dirA, dirB} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.OpenRemote(t, dirA)
	s, err := store.Init(t.Context(), a, key, store.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetTargets([]*store.Target{store.NewTarget("a", a), store.NewTarget("b", storetest.OpenRemote(t, dirB))})
	storetest.WriteFile(t, filepath.Join(src, "a.txt"), storetest.RandBytes(1, 64<<10))
	if _, err := backup.Run(t.Context(), s, backup.Options{Source: src}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}

	onA, onB := storetest.DeltaFiles(t, dirA), storetest.DeltaFiles(t, dirB)
	if len(onA) != 1 || len(onB) != 1 || filepath.Base(onA[0]) != filepath.Base(onB[0]) {
		t.Fatalf("deltas: %v on a, %v on b; want the same one on each", onA, onB)
	}
	fa, errA := os.Stat(onA[0])
	fb, errB := os.Stat(onB[0])
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if os.SameFile(fa, fb) {
		t.Fatal("the two remotes' deltas are one file (a hard link): a change to one is a change to both")
	}

	wantB, err := os.ReadFile(onB[0])
	if err != nil {
		t.Fatal(err)
	}
	flipInPlace(t, onA[0], int64(len(wantB)/2))
	if gotA, _ := os.ReadFile(onA[0]); bytes.Equal(gotA, wantB) {
		t.Fatal("the flipped byte did not change a's delta")
	}
	if gotB, err := os.ReadFile(onB[0]); err != nil || !bytes.Equal(gotB, wantB) {
		t.Fatalf("flipping a byte of a's delta in place changed b's copy (err %v)", err)
	}
}

// flipInPlace inverts one byte of the file at path without replacing the
// file, as damage on disk or a tool that rewrites in place would.
func flipInPlace(t *testing.T, path string, off int64) {
	t.Helper()
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
