package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestEveryCipherEndToEnd runs a repository's life under each cipher,
// whatever this machine would choose: init, a backup of a chat database
// and media, a small change, a fresh device's check --read-data and a
// restore equal to the source, a prune that compacts, then key rotations
// to the other cipher and back, each followed by a backup, check,
// restore and prune.
func TestEveryCipherEndToEnd(t *testing.T) {
	for _, first := range crypt.Ciphers() {
		other := crypt.XAES256GCM
		if first == other {
			other = crypt.XChaCha20Poly1305
		}
		t.Run(first.String(), func(t *testing.T) {
			e := storetest.NewEnvCipher(t, first)
			db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
			db.Insert(0, 1500, 300)
			for i := range 4 {
				storetest.WriteFile(t, filepath.Join(e.Src, "Media", fmt.Sprintf("IMG-%d.jpg", i)), storetest.RandBytes(uint64(40+i), 150<<10))
			}
			step := 0
			change := func() {
				step++
				db.Insert(1500+step*20, 1520+step*20, 20)
				if _, err := db.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
					t.Fatal(err)
				}
				storetest.WriteFile(t, filepath.Join(e.Src, "notes", fmt.Sprintf("n%d.txt", step)), fmt.Appendf(nil, "note %d", step))
			}
			e.Backup()
			change()
			e.Backup()
			wantCipher(t, e, first)
			compact(t, e)
			wantCipher(t, e, first)

			for _, c := range []crypt.Cipher{other, first} {
				rotateTo(t, e, c)
				change()
				e.Backup()
				wantCipher(t, e, c)
				compact(t, e)
				wantCipher(t, e, c)
			}
		})
	}
}

// wantCipher opens e's repository as a new device, which must find it
// sealed with c, check every byte of it and restore its latest snapshot
// equal to the source: every file byte for byte, the database row for
// row (its file is rewritten from pages, not copied).
func wantCipher(t *testing.T, e *storetest.Env, c crypt.Cipher) {
	t.Helper()
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Cipher() != c {
		t.Fatalf("the repository is sealed with %v, want %v", r.Cipher(), c)
	}
	if _, err := check.Run(e.Ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data under %v: %v", c, err)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(e.Ctx, r, restore.Options{Target: dst}); err != nil {
		t.Fatalf("restore under %v: %v", c, err)
	}
	db := func(rel string) bool { return strings.HasPrefix(rel, "msgstore.db") } // and its -wal, -shm
	got, want := storetest.DirDigest(t, dst, db), storetest.DirDigest(t, e.Src, db)
	if len(want) < 7 || !equalDigest(got, want) {
		t.Fatalf("under %v, the restored files differ from the source:\n%v\nwant\n%v", c, got, want)
	}
	if got, want := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")), storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db")); got != want {
		t.Fatalf("under %v, the restored database's rows differ: %s, want %s", c, got, want)
	}
}

// compact prunes all but the latest snapshot, which rewrites the small
// deltas into one.
func compact(t *testing.T, e *storetest.Env) {
	t.Helper()
	res, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prune: forgot %d, rewrote %d deltas into %d", res.Forgotten, res.Rewritten, res.Written)
	if res.Rewritten < 2 || res.Written == 0 {
		t.Fatalf("prune rewrote %d deltas into %d, want a compaction", res.Rewritten, res.Written)
	}
}

// rotateTo rotates e's repository to a new key sealing with c, and
// continues with it: the old key opens nothing any more.
func rotateTo(t *testing.T, e *storetest.Env, c crypt.Cipher) {
	t.Helper()
	e.Store.Close()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, Cipher: c})
	if err != nil {
		t.Fatal(err)
	}
	newKey := randKey()
	if err := r.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); err != nil {
		t.Fatalf("rotating to %v: %v", c, err)
	}
	r.Close()
	oldKey := e.Key
	e.Key = newKey
	if e.Store, err = store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Store.DeleteGarbage(e.Ctx, e.Store.Targets()); err != nil {
		t.Fatal(err)
	}
	if objs, err := store.ObjectsOpeningWith(e.Ctx, e.Remote, oldKey); err != nil || len(objs) != 0 {
		t.Fatalf("after rotating to %v the old key still opens %v (%v)", c, objs, err)
	}
	cfg, err := os.ReadFile(filepath.Join(e.RemoteDir, "config"))
	if err != nil || cfg[8] != configVersionFor(c, true) {
		t.Fatalf("rotated to %v: config version %d (%v), want %d", c, cfg[8], err, configVersionFor(c, true))
	}
}
