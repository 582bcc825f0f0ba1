package restore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
)

// A restore stays inside its target: every write goes through an os.Root,
// and with --force a symlink where the snapshot has an entry is replaced,
// never followed.

// TestRestoreForceReplacesSymlinks: with --force, a target whose entries
// are symlinks where the snapshot has directories or files gets those
// symlinks replaced; nothing is written or changed where they point.
func TestRestoreForceReplacesSymlinks(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "IMG-1.jpg"), []byte("photo"))
	storetest.WriteFile(t, filepath.Join(e.Src, "Backups", "old.db"), []byte("old"))
	storetest.WriteFile(t, filepath.Join(e.Src, "settings.json"), []byte(`{"a":1}`))
	for _, d := range []string{"Media", "Backups"} {
		if err := os.Chmod(filepath.Join(e.Src, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	e.Backup()

	outside := t.TempDir()
	if err := os.Chmod(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, "secret.txt")
	storetest.WriteFile(t, secret, []byte("keep me"))
	dst := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(filepath.Join(dst, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"Media":         outside,  // a directory of the snapshot, pointing out of the target
		"Backups":       "inside", // pointing at another directory of the target
		"settings.json": secret,   // a file of the snapshot, pointing at a file outside
	} {
		if err := os.Symlink(target, filepath.Join(dst, link)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := restore.Run(e.Ctx, r, restore.Options{Target: dst, Force: true}); err != nil {
		t.Fatalf("restore --force: %v", err)
	}

	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("restore wrote outside its target: %s holds %v", outside, ents)
	}
	if b, _ := os.ReadFile(secret); !bytes.Equal(b, []byte("keep me")) {
		t.Errorf("restore wrote through a symlink to %s: %q", secret, b)
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o700 {
		t.Errorf("restore changed the mode of %s outside its target to %v", outside, fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Join(dst, "inside")); len(ents) != 0 {
		t.Errorf("restore followed a symlink inside the target: inside/ holds %v", ents)
	}
	for name, want := range map[string]string{"Media/IMG-1.jpg": "photo", "Backups/old.db": "old", "settings.json": `{"a":1}`} {
		first, _, _ := strings.Cut(name, "/")
		fi, err := os.Lstat(filepath.Join(dst, first))
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			t.Errorf("%s: want the snapshot's entry in place of the symlink, have %v (%v)", first, fi.Mode(), err)
		}
		if b, _ := os.ReadFile(filepath.Join(dst, name)); string(b) != want {
			t.Errorf("%s restored as %q, want %q", name, b, want)
		}
	}
	if fi, _ := os.Lstat(filepath.Join(dst, "Media")); fi.Mode().Perm() != 0o777 {
		t.Errorf("Media restored with mode %v, want 0777", fi.Mode().Perm())
	}
	// settings.json took a temporary name on its way past the symlink.
	if left, _ := filepath.Glob(filepath.Join(dst, ".chatsafe-restore-*")); len(left) != 0 {
		t.Errorf("temporary names left in the target: %v", left)
	}
}

// TestRestoreRootModeAndTime: the target directory gets the source
// directory's mode and modification time, like every directory below it.
func TestRestoreRootModeAndTime(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("a"))
	if err := os.Mkdir(filepath.Join(e.Src, "sub"), 0o751); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 2, 29, 12, 34, 56, 789000000, time.UTC)
	if err := os.Chmod(e.Src, 0o751); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{e.Src, filepath.Join(e.Src, "sub")} {
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	e.Backup()
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dst, filepath.Join(dst, "sub")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o751 || !fi.ModTime().Equal(mtime) {
			t.Errorf("%s restored with mode %v, mtime %v; want 0751, %v", d, fi.Mode().Perm(), fi.ModTime().UTC(), mtime)
		}
	}
}
