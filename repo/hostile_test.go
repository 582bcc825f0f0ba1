package repo_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/repo"
)

// A hostile remote controls every byte and every size it reports. These
// tests play that remote with a local-path remote whose files the test
// edits behind the client's back.

// plantDelta creates an object under deltas/ with the given name, made
// sparse up to size, whose last bytes are tail.
func plantDelta(t *testing.T, e *env, base string, size int64, tail []byte) string {
	t.Helper()
	p := filepath.Join(e.remoteDir, "deltas", base)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tail, size-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeFooter is a delta footer claiming a sealed trailer of n bytes.
func fakeFooter(n uint32) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, n), "CSDELTA1"...)
}

// allocatedDuring reports the bytes the Go heap allocated while fn ran.
func allocatedDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileHugeTrailerLength: a 4 GiB delta (sparse on the remote's
// disk) whose footer claims a trailer of nearly all of it must be refused
// as an integrity failure before the client reads or allocates it.
func TestHostileHugeTrailerLength(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("hello"))
	e.backup()
	const size = 4 << 30
	p := plantDelta(t, e, "0000000000000002-00112233445566778899aabbccddeeff", size, fakeFooter(size-12))
	var err error
	alloc := allocatedDuring(func() { _, err = e.openFresh(e.key) })
	wantIntegrity(t, err, rel(t, e, p))
	t.Logf("opening allocated %d bytes: %v", alloc, err)
	if alloc > 256<<20 {
		t.Fatalf("opening a repository with a hostile 4 GiB delta allocated %d MiB before authenticating anything", alloc>>20)
	}

	// A claim right at the cap is read, and still costs bounded memory.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	p = plantDelta(t, e, "0000000000000002-00112233445566778899aabbccddeeff", 128<<20, fakeFooter(64<<20))
	alloc = allocatedDuring(func() { _, err = e.openFresh(e.key) })
	wantIntegrity(t, err, rel(t, e, p))
	t.Logf("a trailer claimed at the cap: opening allocated %d bytes", alloc)
	if alloc > 256<<20 {
		t.Fatalf("a trailer claimed at the cap made opening allocate %d MiB", alloc>>20)
	}
}

// TestHostileListedSizes: a delta listed far larger than chatsafe writes,
// and a config object padded past its limit, are integrity failures.
func TestHostileListedSizes(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("hello"))
	e.backup()
	p := plantDelta(t, e, "0000000000000002-00112233445566778899aabbccddeeff", 32<<30, fakeFooter(100))
	_, err := e.openFresh(e.key)
	wantIntegrity(t, err, rel(t, e, p))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}

	cfg := filepath.Join(e.remoteDir, "config")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, make([]byte, 8<<10)...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = e.openFresh(e.key)
	wantIntegrity(t, err, "config")
}

// TestRestoreForceReplacesSymlinks: with --force, a target whose entries
// are symlinks where the snapshot has directories or files gets those
// symlinks replaced; nothing is written or changed where they point.
func TestRestoreForceReplacesSymlinks(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "Media", "IMG-1.jpg"), []byte("photo"))
	writeFile(t, filepath.Join(e.src, "Backups", "old.db"), []byte("old"))
	writeFile(t, filepath.Join(e.src, "settings.json"), []byte(`{"a":1}`))
	for _, d := range []string{"Media", "Backups"} {
		if err := os.Chmod(filepath.Join(e.src, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	e.backup()

	outside := t.TempDir()
	if err := os.Chmod(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, "secret.txt")
	writeFile(t, secret, []byte("keep me"))
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
	r, err := e.openFresh(e.key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Restore(e.ctx, repo.RestoreOptions{Target: dst, Force: true}); err != nil {
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
}

// TestRestoreRootModeAndTime: the target directory gets the source
// directory's mode and modification time, like every directory below it.
func TestRestoreRootModeAndTime(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("a"))
	if err := os.Mkdir(filepath.Join(e.src, "sub"), 0o751); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 2, 29, 12, 34, 56, 789000000, time.UTC)
	if err := os.Chmod(e.src, 0o751); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{e.src, filepath.Join(e.src, "sub")} {
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	e.backup()
	dst, err := e.restoreFresh("")
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
