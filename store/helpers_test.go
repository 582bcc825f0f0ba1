package store_test

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

// env is one device backing up one source directory to a local-path remote.
type env struct {
	t         *testing.T
	ctx       context.Context
	src       string
	remoteDir string
	state     string
	key       crypt.Key
	remote    remotes.Remote
	r         *store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), src: t.TempDir(), remoteDir: t.TempDir(), state: t.TempDir()}
	var err error
	if e.key, err = crypt.NewKey(); err != nil {
		t.Fatal(err)
	}
	e.remote = openRemote(t, e.remoteDir)
	if e.r, err = store.Init(e.ctx, e.remote, e.key, store.Options{StateDir: e.state}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.r.Close() })
	return e
}

func openRemote(t *testing.T, dir string) remotes.Remote { return openRemoteB(t, dir) }

func openRemoteB(t testing.TB, dir string) remotes.Remote {
	t.Helper()
	rem, err := remotes.Open(t.Context(), dir, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rem.Close() })
	return rem
}

// backup runs one cycle and uploads it.
func (e *env) backup() *backup.Result {
	e.t.Helper()
	res, err := backup.Run(e.ctx, e.r, backup.Options{Source: e.src})
	if err != nil {
		e.t.Fatalf("backup: %v", err)
	}
	if _, err := e.r.Sync(e.ctx); err != nil {
		e.t.Fatalf("flush: %v", err)
	}
	return res
}

// reopen opens the repository as a new device would: no state directory.
func (e *env) openFresh(key crypt.Key) (*store.Store, error) {
	return store.Open(e.ctx, openRemote(e.t, e.remoteDir), key, store.Options{})
}

func (e *env) restoreFresh(snapshot string) (string, error) {
	e.t.Helper()
	r, err := e.openFresh(e.key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	dst := filepath.Join(e.t.TempDir(), "restored")
	_, err = restore.Run(e.ctx, r, restore.Options{Snapshot: snapshot, Target: dst})
	return dst, err
}

func remoteSize(t *testing.T, dir string) int64 {
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

func deltaFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "deltas", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// chatDB is a messaging app's WAL-mode message database.
type chatDB struct {
	t  testing.TB
	db *sql.DB
}

func openChatDB(t *testing.T, path string) *chatDB { return openChatDBB(t, path) }

func openChatDBB(t testing.TB, path string) *chatDB {
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
	return &chatDB{t: t, db: db}
}

// messageBody is deterministic, chat-like text; "SECRETWORD<n>" marks it for
// plaintext searches.
func messageBody(i int) string {
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

// insert adds messages [from, to) in batches of one transaction each.
func (c *chatDB) insert(from, to, batch int) {
	c.t.Helper()
	for i := from; i < to; i += batch {
		tx, err := c.db.Begin()
		if err != nil {
			c.t.Fatal(err)
		}
		for j := i; j < min(i+batch, to); j++ {
			if _, err := tx.Exec(`INSERT INTO messages(id, chat, sender, body, ts) VALUES(?,?,?,?,?)`, j, j%37, fmt.Sprintf("+4477009%05d", j%500), messageBody(j), 1700000000+j); err != nil {
				c.t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *chatDB) count() int {
	var n int
	if err := c.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// dirDigest maps each regular file under dir to its sha256, with modes.
func dirDigest(t *testing.T, dir string, skip func(rel string) bool) map[string]string {
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

func containsInTree(t *testing.T, dir string, needle []byte) []string {
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

// dbDigest hashes a database's rows, so two databases compare by content.
func dbDigest(t *testing.T, path string) string {
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
