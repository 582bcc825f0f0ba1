package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// dictEnv is a repository holding one backup of a real chat database
// large enough for the writer to make a dictionary, and a media file that
// rotateKey re-seals e's repository to a new key, reopens it on the same
// state directory, makes it e's store and returns the key.
func rotateKey(t *testing.T, e *storetest.Env) crypt.Key {
	t.Helper()
	newKey, _ := crypt.NewKey()
	if err := e.Store.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); err != nil {
		t.Fatal(err)
	}
	e.Store.Close()
	nr, err := store.Open(e.Ctx, e.Remote, newKey, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	e.Store, e.Key = nr, newKey
	return newKey
}

// never uses one.
func dictEnv(t *testing.T) (*storetest.Env, *storetest.ChatDB) {
	t.Helper()
	e := storetest.NewEnv(t)
	return e, firstDictBackup(t, e)
}

// firstDictBackup writes dictEnv's database and photo into e's source and
// backs them up.
func firstDictBackup(t *testing.T, e *storetest.Env) *storetest.ChatDB {
	t.Helper()
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 4000, 500)
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "IMG-1.jpg"), append([]byte{0xff, 0xd8, 0xff, 0xe0}, storetest.RandBytes(3, 50<<10)...))
	e.Backup()
	return db
}

func oneDict(t *testing.T, r *store.Store) store.DictInfo {
	t.Helper()
	ds := store.Dictionaries(r)
	if len(ds) != 1 || ds[0].Users < 50 {
		t.Fatalf("dictionaries %+v, want one used by the database's pages", ds)
	}
	return ds[0]
}

func restoreDigest(t *testing.T, e *storetest.Env, key crypt.Key) (string, error) {
	t.Helper()
	r, err := e.OpenFresh(key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(e.Ctx, r, restore.Options{Target: dst}); err != nil {
		return "", err
	}
	return storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")), nil
}

// TestDictionaryPages: a database's pages are compressed with a
// dictionary made of its own pages, kept in the repository; a new device
// restores them byte for byte and check --read-data verifies them; the
// next backup, on another device too, continues with the same dictionary.
func TestDictionaryPages(t *testing.T) {
	e, db := dictEnv(t)
	d := oneDict(t, e.Store)
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got, err := restoreDigest(t, e, e.Key); err != nil || got != want {
		t.Fatalf("restore: %v (digest %s, want %s)", err, got, want)
	}
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data: %v", err)
	}
	// Browsing (dump, mount) reads the pages through the same path.
	snap, err := browse.Select(fresh, "latest", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := browse.Lookup(e.Ctx, fresh, snap, "msgstore.db")
	if err != nil {
		t.Fatal(err)
	}
	f, err := browse.Open(e.Ctx, fresh, &n)
	if err != nil {
		t.Fatal(err)
	}
	var dumped bytes.Buffer
	if _, err := f.WriteTo(e.Ctx, &dumped); err != nil {
		t.Fatalf("dumping the database: %v", err)
	}
	dumpPath := filepath.Join(t.TempDir(), "dumped.db")
	storetest.WriteFile(t, dumpPath, dumped.Bytes())
	if got := storetest.DBDigest(t, dumpPath); got != want {
		t.Fatalf("dumped database digest %s, want %s", got, want)
	}

	// The same device, reopened (a CLI backup is a new process), and a
	// device that joins both continue with the repository's dictionary.
	e.Store.Close()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	if id, gen := store.WriterDict(r); id != d.ID || gen != 1 {
		t.Fatalf("reopened writer has dictionary %s gen %d, want %s", id, gen, d.ID)
	}
	r.Close()
	joined, err := store.Open(e.Ctx, storetest.OpenRemote(t, e.RemoteDir), e.Key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e.Store = joined
	db.Insert(4000, 4300, 50)
	e.Backup()
	d2 := oneDict(t, joined)
	if d2.ID != d.ID || d2.Users <= d.Users {
		t.Fatalf("after the joined device's backup: %+v, want %s with more users than %d", d2, d.ID, d.Users)
	}
	want = storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got, err := restoreDigest(t, e, e.Key); err != nil || got != want {
		t.Fatalf("restore after the second backup: %v", err)
	}
}

// TestDictionaryDamaged: a dictionary the remote altered is an integrity
// error naming it, for exactly the blobs compressed with it: the media
// file, which does not use it, still restores, and check --read-data fails.
func TestDictionaryDamaged(t *testing.T) {
	e, _ := dictEnv(t)
	d := oneDict(t, e.Store)
	p := filepath.Join(e.RemoteDir, filepath.FromSlash(d.Delta))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := d.Offset + d.SealedLen/2
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()

	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	_, err = check.Run(e.Ctx, fresh, check.Options{ReadData: true})
	if !errors.Is(err, store.ErrIntegrity) || !strings.Contains(err.Error(), d.ID.String()) {
		t.Fatalf("check --read-data of a damaged dictionary: %v, want an integrity error naming %s", err, d.ID)
	}
	dst := filepath.Join(t.TempDir(), "r")
	_, err = restore.Run(e.Ctx, fresh, restore.Options{Target: dst, Include: []string{"Media"}})
	if err != nil {
		t.Fatalf("restoring the media, which needs no dictionary: %v", err)
	}
	_, err = restore.Run(e.Ctx, fresh, restore.Options{Target: filepath.Join(t.TempDir(), "r2")})
	if !errors.Is(err, store.ErrIntegrity) || !strings.Contains(err.Error(), "dictionary "+d.ID.String()) {
		t.Fatalf("restoring the database: %v, want an integrity error naming dictionary %s", err, d.ID)
	}
}

// TestDictionaryPruneAndRotate: prune keeps a dictionary while a kept
// blob needs it and removes it with the last one; key rotation re-seals
// it, and the pages stay compressed with it.
func TestDictionaryPruneAndRotate(t *testing.T) {
	e, _ := dictEnv(t)
	d := oneDict(t, e.Store)
	storetest.WriteFile(t, filepath.Join(e.Src, "note.txt"), []byte("x"))
	e.Backup()
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if d2 := oneDict(t, e.Store); d2.ID != d.ID {
		t.Fatalf("after prune: %+v", d2)
	}

	newKey := rotateKey(t, e)
	if d2 := oneDict(t, e.Store); d2.ID != d.ID || d2.Users != d.Users {
		t.Fatalf("after rotation: %+v, want %+v", d2, d)
	}
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got, err := restoreDigest(t, e, newKey); err != nil || got != want {
		t.Fatalf("restore after rotation: %v", err)
	}

	// The database goes: its pages, and with them the dictionary, are
	// pruned.
	os.Remove(filepath.Join(e.Src, "msgstore.db"))
	os.Remove(filepath.Join(e.Src, "msgstore.db-wal"))
	os.Remove(filepath.Join(e.Src, "msgstore.db-shm"))
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if ds := store.Dictionaries(e.Store); len(ds) != 0 {
		t.Fatalf("dictionaries after the database was pruned: %+v", ds)
	}
	if _, err := check.Run(e.Ctx, e.Store, check.Options{ReadData: true}); err != nil {
		t.Fatal(err)
	}
}

// TestDictionaryInFormat1Repository: a repository written before
// dictionaries takes backups that use one, and reads old and new alike.
func TestDictionaryInFormat1Repository(t *testing.T) {
	remoteDir, key := copyFormat1(t)
	e := &storetest.Env{T: t, Ctx: t.Context(), Src: t.TempDir(), RemoteDir: remoteDir, State: t.TempDir(), Key: key, Remote: storetest.OpenRemote(t, remoteDir)}
	var err error
	if e.Store, err = store.Open(e.Ctx, e.Remote, key, store.Options{StateDir: e.State}); err != nil {
		t.Fatal(err)
	}
	defer func() { e.Store.Close() }()
	old := e.Store.Snapshots()
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 4000, 500)
	e.Backup()
	oneDict(t, e.Store)
	fresh, err := e.OpenFresh(key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data: %v", err)
	}
	if _, err := restore.Run(e.Ctx, fresh, restore.Options{Snapshot: old[0].IDString(), Target: filepath.Join(t.TempDir(), "old")}); err != nil {
		t.Fatalf("restoring a format 1 snapshot beside dictionary pages: %v", err)
	}
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got, err := restoreDigest(t, e, key); err != nil || got != want {
		t.Fatalf("restoring the new snapshot: %v", err)
	}
}
