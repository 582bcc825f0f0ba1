package restore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestRestoreClosesDirectories: each directory is opened once for the
// files restored into it (restoreroot.go, dirHandle) and closed after its
// last file, whether the restore succeeds or is cancelled: no descriptor
// outlives Run.
func TestRestoreClosesDirectories(t *testing.T) {
	e := storetest.NewEnv(t)
	for d := range 6 {
		for f := range 5 {
			storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("d%d", d), "sub", fmt.Sprintf("f%d.bin", f)), []byte(fmt.Sprintf("file %d of %d", f, d)))
		}
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "top.txt"), []byte("top"))
	e.Backup()
	before := openFDs(t)
	dst := filepath.Join(t.TempDir(), "restored")
	res, err := restore.Run(e.Ctx, e.Store, restore.Options{Target: dst})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 31 {
		t.Fatalf("restored %d files, want 31", res.Files)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "d5", "sub", "f4.bin")); err != nil || string(b) != "file 4 of 5" {
		t.Fatalf("d5/sub/f4.bin: %q, %v", b, err)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open after the restore, %d before", after, before)
	}

	// Cancelled at the first file written: the restore stops with the
	// context's error and still closes every directory.
	ctx, cancel := context.WithCancel(e.Ctx)
	defer cancel()
	dst = filepath.Join(t.TempDir(), "cancelled")
	_, err = restore.Run(ctx, e.Store, restore.Options{Target: dst, Progress: func(int64, int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled restore: %v, want context.Canceled", err)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open after the cancelled restore, %d before", after, before)
	}
}
