package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// regularFiles counts the regular files under dir.
func regularFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestRestoreStoppedPartWay: a delta damaged on the remote after the
// first backup makes a new device's restore fail part-way (its one file
// there fails authentication). The restore exits 6 as any integrity
// failure, and says how far it got, that the target is incomplete, where
// it stopped and what to do; the count it gives is what is on disk.
func TestRestoreStoppedPartWay(t *testing.T) {
	s := newSetup(t) // settings.json, Media/IMG-1.jpg
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	storetest.WriteFile(t, filepath.Join(s.src, "b.bin"), storetest.RandBytes(5, 300<<10))
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	d := deltaPaths(t, s.remote)
	if len(d) != 2 {
		t.Fatalf("deltas: %v", d)
	}
	// Byte 100 of the second delta lies in b.bin's first chunk (as in
	// store's TestTamperFlippedBlobByte); opening the repository reads
	// only the trailers, so the restore starts and fails at that file.
	b, err := os.ReadFile(d[1])
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0x40
	if err := os.WriteFile(d[1], b, 0o644); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "out")
	r := run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", dst)
	r.want(t, 6, filepath.Base(d[1]))
	msg := r.stderr
	for _, want := range []string{
		"stopped at " + filepath.Join(dst, "b.bin"),
		dst + " is incomplete",
		"run the restore again with --force",
		"or delete " + dst,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the failed restore's message lacks %q:\n%s", want, msg)
		}
	}
	m := regexp.MustCompile(`with (\d+) of 3 files restored`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("the failed restore's message does not say how many of the 3 files it restored:\n%s", msg)
	}
	if n, _ := strconv.Atoi(m[1]); n != regularFiles(t, dst) || n > 2 {
		t.Errorf("the message says %s files restored, %d are on disk", m[1], regularFiles(t, dst))
	}
	if _, err := os.Lstat(filepath.Join(dst, "b.bin")); err == nil {
		t.Error("the damaged file was restored")
	}
}

// TestRestoreForceCleanupCLI: restore --force says which stale SQLite
// companions it removed and which files the snapshot does not hold it
// kept; --delete needs --force, and removes them.
func TestRestoreForceCleanupCLI(t *testing.T) {
	s := newSetup(t) // settings.json, Media/IMG-1.jpg
	storetest.OpenChatDB(t, filepath.Join(s.src, "msgstore.db")).Insert(0, 50, 50)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	dst := t.TempDir()
	for name, data := range map[string]string{"old.txt": "old", "Media/old.jpg": "old photo", "msgstore.db-wal": "the app's newer log"} {
		storetest.WriteFile(t, filepath.Join(dst, name), []byte(data))
	}
	restoreTo := func(flags ...string) result {
		return run(t, t.TempDir(), append([]string{"restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", dst}, flags...)...)
	}
	restoreTo("--delete").want(t, 2, "needs --force")
	r := restoreTo("--force")
	r.want(t, 0, "removed 1 SQLite file left beside the restored databases (SQLite would have applied them to the restored data): msgstore.db-wal")
	r.want(t, 0, "kept 2 files under "+dst+" that the snapshot does not hold (--delete removes them): Media/old.jpg, old.txt")
	if _, err := os.Stat(filepath.Join(dst, "old.txt")); err != nil {
		t.Fatalf("restore --force without --delete removed old.txt: %v", err)
	}
	restoreTo("--force", "--delete").want(t, 0, "deleted 2 files under "+dst+" that the snapshot does not hold: Media/old.jpg, old.txt")
	for _, name := range []string{"old.txt", "Media/old.jpg", "msgstore.db-wal"} {
		if _, err := os.Lstat(filepath.Join(dst, name)); err == nil {
			t.Errorf("%s is still in the target", name)
		}
	}
	if n := regularFiles(t, dst); n != 3 {
		t.Errorf("the target holds %d files after --delete, want the snapshot's 3", n)
	}
}

// TestRestoreDeleteKeepsExcludedCLI: restore --force --delete with the
// installation's config keeps what its exclude: leaves out of every
// backup (the only copy), and says so apart from what it deleted.
func TestRestoreDeleteKeepsExcludedCLI(t *testing.T) {
	s := newSetup(t) // settings.json, Media/IMG-1.jpg
	cfg := readFile(t, s.cfg)
	if !strings.Contains(cfg, "\nexclude: []\n") {
		t.Fatalf("the config written by init has no empty exclude: list:\n%s", cfg)
	}
	if err := os.WriteFile(s.cfg, []byte(strings.Replace(cfg, "\nexclude: []\n", "\nexclude:\n  - \"*.tmp\"\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	storetest.WriteFile(t, filepath.Join(s.src, "draft.tmp"), []byte("never backed up"))
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	storetest.WriteFile(t, filepath.Join(s.src, "old.txt"), []byte("in no snapshot"))
	r := run(t, s.home, "restore", "--config", s.cfg, "--to", s.src, "--force", "--delete")
	r.want(t, 0, "deleted 1 file under "+s.src+" that the snapshot does not hold: old.txt")
	r.want(t, 0, "kept 1 file under "+s.src+" that the backup excludes or could not read: draft.tmp")
	if b, err := os.ReadFile(filepath.Join(s.src, "draft.tmp")); err != nil || string(b) != "never backed up" {
		t.Errorf("draft.tmp, excluded by the config, is %q after restore --delete: %v", b, err)
	}
}
