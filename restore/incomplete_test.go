package restore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
)

// countFiles counts the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestRestoreInterruptedPartWay: a restore cancelled as its first bytes
// are written (Ctrl-C) stops with an IncompleteError that still is the
// cancellation, counts what is on disk against the snapshot's files,
// names where it stopped, and says the target is incomplete and what to
// do. No temporary file is left.
func TestRestoreInterruptedPartWay(t *testing.T) {
	e := storetest.NewEnv(t)
	const files = 40
	for i := range files {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("f%02d.bin", i)), storetest.RandBytes(uint64(i), 64<<10))
	}
	e.Backup()
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(e.Ctx)
	defer cancel()
	dst := filepath.Join(t.TempDir(), "out")
	res, err := restore.Run(ctx, r, restore.Options{Target: dst, Progress: func(int64, int64) { cancel() }})

	var ie *restore.IncompleteError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted restore: %v, want an IncompleteError of the cancellation", err)
	}
	onDisk := countFiles(t, dst)
	if ie.Total != files || ie.Files != res.Files || ie.Files != onDisk || ie.Files >= files {
		t.Errorf("IncompleteError says %d of %d files, the result %d, the disk holds %d (of %d)", ie.Files, ie.Total, res.Files, onDisk, files)
	}
	if !strings.HasPrefix(ie.At, filepath.Join(dst, "f")) || !ie.Fresh {
		t.Errorf("stopped at %q (fresh target %v), want a file under %s in a fresh target", ie.At, ie.Fresh, dst)
	}
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("with %d of %d files restored", onDisk, files),
		dst + " is incomplete",
		"Run the restore again with --force, or delete " + dst,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "context canceled") {
		t.Errorf("the message of an interruption repeats the cancellation: %s", msg)
	}
	if left, _ := filepath.Glob(filepath.Join(dst, ".chatsafe-restore-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestRestoreForceFailedKeepsTheUsersFiles: a restore with Force into a
// directory of the user's that fails does not suggest deleting it.
func TestRestoreForceFailedKeepsTheUsersFiles(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.bin"), storetest.RandBytes(1, 64<<10))
	e.Backup()
	dst := t.TempDir()
	storetest.WriteFile(t, filepath.Join(dst, "mine.txt"), []byte("mine"))
	ctx, cancel := context.WithCancel(e.Ctx)
	cancel()
	_, err := restore.Run(ctx, e.Store, restore.Options{Target: dst, Force: true})
	var ie *restore.IncompleteError
	if !errors.As(err, &ie) || ie.Fresh || strings.Contains(err.Error(), "delete") {
		t.Fatalf("a failed restore over the user's files: %v, want an IncompleteError that does not suggest deleting them", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "mine.txt")); string(b) != "mine" {
		t.Errorf("the user's file is %q", b)
	}
}
