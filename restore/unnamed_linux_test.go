package restore_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
)

// backUpVideo backs up one 16 MiB file (several fetches) at
// media/video.mp4, mode 0640, and returns the environment and its bytes.
func backUpVideo(t *testing.T) (*storetest.Env, []byte) {
	t.Helper()
	e := storetest.NewEnv(t)
	want := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(r.Uint32())
	}
	p := filepath.Join(e.Src, "media", "video.mp4")
	storetest.WriteFile(t, p, want)
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	e.Backup()
	return e, want
}

// dirNames lists the names in dir.
func dirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	var names []string
	for _, ent := range ents {
		names = append(names, ent.Name())
	}
	return names, err
}

// restoreWatchingDir restores backUpVideo's file and returns what media/
// held at each progress report before the file was whole.
func restoreWatchingDir(t *testing.T) [][]string {
	t.Helper()
	e, want := backUpVideo(t)
	dst := filepath.Join(t.TempDir(), "restored")
	var seen [][]string
	_, err := restore.Run(e.Ctx, e.Store, restore.Options{Target: dst, Progress: func(done, total int64) {
		if done == total {
			return
		}
		names, err := dirNames(filepath.Join(dst, "media"))
		if err != nil {
			t.Errorf("listing media/ during the restore: %v", err)
			return
		}
		seen = append(seen, names)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "media", "video.mp4")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("media/video.mp4 restored as %d bytes (%v), want the %d backed up", len(got), err, len(want))
	}
	if fi, err := os.Stat(filepath.Join(dst, "media", "video.mp4")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("media/video.mp4 restored with mode %v (%v), want 0640", fi.Mode(), err)
	}
	if len(seen) == 0 {
		t.Fatal("no progress report came before the file was whole: the test saw nothing")
	}
	left, err := os.ReadDir(filepath.Join(dst, "media"))
	if err != nil || len(left) != 1 {
		t.Fatalf("media/ after the restore: %v, %v; want video.mp4 alone", left, err)
	}
	return seen
}

// TestRestoreFileUnnamedUntilWhole: on Linux a file being restored has no
// name in its directory until it is whole (O_TMPFILE, then a link): not
// its own, and no temporary one that a crash would leave behind.
func TestRestoreFileUnnamedUntilWhole(t *testing.T) {
	requireTmpfile(t)
	for i, names := range restoreWatchingDir(t) {
		if len(names) != 0 {
			t.Fatalf("progress report %d: while the file was written media/ held %q", i, names)
		}
	}
}

// TestRestoreTemporaryNameFallback: where unnamed files are not to be had
// (a file system without O_TMPFILE), the file is written under a
// temporary name beside its destination and renamed into place.
func TestRestoreTemporaryNameFallback(t *testing.T) {
	restore.SetUnnamedFiles(t, false)
	for i, names := range restoreWatchingDir(t) {
		if len(names) != 1 || !strings.HasPrefix(names[0], ".chatsafe-restore-") {
			t.Fatalf("progress report %d: while the file was written media/ held %q, want one temporary name", i, names)
		}
	}
}

// requireTmpfile fails the test, saying why, where the test directory's
// file system makes no unnamed files: the tests of them would say less.
func requireTmpfile(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatalf("the test directory %s makes no unnamed file (O_TMPFILE): %v; run the tests on ext4, xfs, btrfs or tmpfs", dir, err)
	}
	unix.Close(fd)
}

// TestRestoreLinksThroughProc: where a kernel refuses to link a file by
// its descriptor alone, the unnamed file is linked through /proc.
func TestRestoreLinksThroughProc(t *testing.T) {
	requireTmpfile(t)
	restore.LinkThroughProc(t)
	for i, names := range restoreWatchingDir(t) {
		if len(names) != 0 {
			t.Fatalf("progress report %d: while the file was written media/ held %q", i, names)
		}
	}
	if restore.LinksRefused() {
		t.Fatal("the link through /proc was refused: the file was copied to a temporary name")
	}
}

// TestRestoreCopiesWhereLinksRefused: where no unnamed file can be linked
// (a security module, a file system with O_TMPFILE and no links), the
// whole file is copied to a temporary name and renamed into place, bytes
// and mode; nothing else is left.
func TestRestoreCopiesWhereLinksRefused(t *testing.T) {
	requireTmpfile(t)
	restore.RefuseLinks(t)
	restoreWatchingDir(t)
	if !restore.LinksRefused() {
		t.Fatal("no link was refused: the test did not reach the copy")
	}
}

// TestRestoreCancelledLeavesNothing: a restore stopped in the middle of a
// file leaves no part of it, under its name or a temporary one, whether
// it was unnamed or not.
func TestRestoreCancelledLeavesNothing(t *testing.T) {
	requireTmpfile(t)
	e, _ := backUpVideo(t)
	for _, unnamed := range []bool{true, false} {
		restore.SetUnnamedFiles(t, unnamed)
		ctx, cancel := context.WithCancel(e.Ctx)
		dst := filepath.Join(t.TempDir(), "restored")
		_, err := restore.Run(ctx, e.Store, restore.Options{Target: dst, Progress: func(done, total int64) {
			if done < total {
				cancel()
			}
		}})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("unnamed %v: restore cancelled at its first write: %v, want context.Canceled", unnamed, err)
		}
		names, err := dirNames(filepath.Join(dst, "media"))
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 0 {
			t.Fatalf("unnamed %v: the cancelled restore left media/ holding %s", unnamed, strings.Join(names, ", "))
		}
	}
}

// TestRestoreForceCopiesWhereLinksRefused: with --force over a file of the
// same name, where links to a temporary name are refused, the file is
// copied to one and renamed over the old file.
func TestRestoreForceCopiesWhereLinksRefused(t *testing.T) {
	requireTmpfile(t)
	restore.RefuseTemporaryLinks(t)
	e, want := backUpVideo(t)
	dst := filepath.Join(t.TempDir(), "restored")
	storetest.WriteFile(t, filepath.Join(dst, "media", "video.mp4"), []byte("an older video"))
	if _, err := restore.Run(e.Ctx, e.Store, restore.Options{Target: dst, Force: true}); err != nil {
		t.Fatalf("restore --force: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "media", "video.mp4")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("media/video.mp4 restored as %d bytes (%v), want the %d backed up", len(got), err, len(want))
	}
	if !restore.LinksRefused() {
		t.Fatal("no link was refused: the test did not reach the copy")
	}
	if left, _ := filepath.Glob(filepath.Join(dst, "media", ".chatsafe-restore-*")); len(left) != 0 {
		t.Fatalf("temporary names left in the target: %v", left)
	}
}
