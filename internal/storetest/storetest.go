// Package storetest holds what the tests of the store and of the packages
// above it (backup, restore, check, prune) share: a device backing up a
// source directory to a local-path remote, a real WAL-mode chat database
// written while backing up, and digests to compare a restore with its
// source.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// Env is one device backing up one source directory to a local-path remote.
type Env struct {
	T         *testing.T
	Ctx       context.Context
	Src       string
	RemoteDir string
	State     string
	Key       crypt.Key
	Remote    remotes.Remote
	Store     *store.Store
}

// NewEnv makes a new repository on a new local-path remote, sealed with
// this machine's cipher (crypt.PreferredCipher).
func NewEnv(t *testing.T) *Env {
	t.Helper()
	return NewEnvCipher(t, 0)
}

// NewEnvCipher is NewEnv with a repository sealed with c (0: the
// machine's), for the tests that must run under each cipher whatever the
// host.
func NewEnvCipher(t *testing.T, c crypt.Cipher) *Env {
	t.Helper()
	e := &Env{T: t, Ctx: t.Context(), Src: t.TempDir(), RemoteDir: t.TempDir(), State: t.TempDir()}
	var err error
	if e.Key, err = crypt.NewKey(); err != nil {
		t.Fatal(err)
	}
	e.Remote = OpenRemote(t, e.RemoteDir)
	if e.Store, err = store.Init(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, Cipher: c}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Store.Close() })
	return e
}

// OpenRemote opens a local-path remote at dir, closed at the end of the test.
func OpenRemote(t testing.TB, dir string) remotes.Remote {
	t.Helper()
	rem, err := remotes.Open(t.Context(), dir, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rem.Close() })
	return rem
}

// Backup runs one cycle and syncs it to the remote.
func (e *Env) Backup() *backup.Result {
	e.T.Helper()
	res, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src})
	if err != nil {
		e.T.Fatalf("backup: %v", err)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		e.T.Fatalf("flush: %v", err)
	}
	return res
}

// OpenFresh opens the repository as a new device would: no state directory.
func (e *Env) OpenFresh(key crypt.Key) (*store.Store, error) {
	return store.Open(e.Ctx, OpenRemote(e.T, e.RemoteDir), key, store.Options{})
}

// RestoreFresh restores a snapshot as a new device would, into a new directory.
func (e *Env) RestoreFresh(snapshot string) (string, error) {
	e.T.Helper()
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	dst := filepath.Join(e.T.TempDir(), "restored")
	_, err = restore.Run(e.Ctx, r, restore.Options{Snapshot: snapshot, Target: dst})
	return dst, err
}

// RemoteSize sums the sizes of the files under dir.
func RemoteSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

// DeltaFiles lists the delta objects of a local-path remote.
func DeltaFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "deltas", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// WriteFile writes a file, making its directories.
func WriteFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// RandBytes is n deterministic pseudo-random bytes.
func RandBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ChatDB is a messaging app's WAL-mode message database.
type ChatDB struct {
	t  testing.TB
	DB *sql.DB
}

// OpenChatDB opens (creating) a chat database at path.
func OpenChatDB(t testing.TB, path string) *ChatDB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY, chat INTEGER NOT NULL, sender TEXT NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS messages_chat_ts ON messages(chat, ts);`); err != nil {
		t.Fatal(err)
	}
	return &ChatDB{t: t, DB: db}
}

// MessageBody is deterministic, chat-like text; "SECRETWORD<n>" marks it for
// plaintext searches.
func MessageBody(i int) string {
	words := []string{"hello", "see", "you", "tomorrow", "at", "the", "station", "ok", "great", "thanks", "love", "it", "lunch", "photo", "call", "me", "later"}
	r := rand.New(rand.NewPCG(uint64(i), 7))
	var sb strings.Builder
	fmt.Fprintf(&sb, "SECRETWORD%d ", i)
	for n := 5 + r.IntN(30); n > 0; n-- {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteByte(' ')
	}
	return sb.String()
}

// Insert adds messages [from, to) in batches of one transaction each.
func (c *ChatDB) Insert(from, to, batch int) {
	c.t.Helper()
	for i := from; i < to; i += batch {
		tx, err := c.DB.Begin()
		if err != nil {
			c.t.Fatal(err)
		}
		for j := i; j < min(i+batch, to); j++ {
			if _, err := tx.Exec(`INSERT INTO messages(id, chat, sender, body, ts) VALUES(?,?,?,?,?)`, j, j%37, fmt.Sprintf("+4477009%05d", j%500), MessageBody(j), 1700000000+j); err != nil {
				c.t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			c.t.Fatal(err)
		}
	}
}

// DirDigest maps each regular file under dir to its sha256, with modes.
func DirDigest(t *testing.T, dir string, skip func(rel string) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." || (skip != nil && skip(rel)) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel] = fmt.Sprintf("dir %v", fi.Mode().Perm())
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%x %v %d", sha256.Sum256(b), fi.Mode().Perm(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ContainsInTree lists the files under dir whose name or content holds needle.
func ContainsInTree(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.Contains(p[len(dir):], string(needle)) {
			hits = append(hits, p+" (name)")
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, needle) {
				hits = append(hits, p)
			}
		}
		return nil
	})
	return hits
}

// DBDigest hashes a database's rows, so two databases compare by content.
func DBDigest(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id, chat, sender, body, ts FROM messages ORDER BY id")
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	defer rows.Close()
	h := sha256.New()
	n := 0
	for rows.Next() {
		var id, chat, ts int64
		var sender, body string
		if err := rows.Scan(&id, &chat, &sender, &body, &ts); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%d|%d|%s|%s|%d\n", id, chat, sender, body, ts)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d rows %x", n, h.Sum(nil))
}

// BenchCorpus is a ~20 MB message database and ~30 MB of media.
func BenchCorpus(b testing.TB) (src string, size int64) {
	b.Helper()
	src = b.TempDir()
	db := OpenChatDB(b, filepath.Join(src, "msgstore.db"))
	db.Insert(0, 120000, 4000)
	db.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	for i := 0; i < 15; i++ {
		p := filepath.Join(src, "Media", fmt.Sprintf("IMG-%03d.jpg", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, append([]byte{0xff, 0xd8, 0xff}, RandBytes(uint64(i), 2<<20)...), 0o644)
	}
	filepath.Walk(src, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	return src, size
}

// NewStore makes a new repository on a new local-path remote; it returns
// the store and the remote's directory.
func NewStore(b testing.TB) (*store.Store, string) {
	b.Helper()
	key, _ := crypt.NewKey()
	remoteDir := b.TempDir()
	rem := OpenRemote(b, remoteDir)
	r, err := store.Init(b.Context(), rem, key, store.Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r, remoteDir
}

// TableRows renders every message of the database at path, in id order,
// through a read-only connection (which sees the -wal of a live one).
func TableRows(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, chat, sender, body, ts FROM messages ORDER BY id`)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, chat, ts int64
		var sender, body string
		if err := rows.Scan(&id, &chat, &sender, &body, &ts); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d|%d|%s|%s|%d\n", id, chat, sender, body, ts)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
