package backup_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// A large database is stored with a list index in its tree entry and its
// small changes as patches: the tree entry stays a few hundred bytes, and
// both versions restore.
func TestListIndexAndPatches(t *testing.T) {
	ctx := t.Context()
	src := t.TempDir()
	dbPath := filepath.Join(src, "msg.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE m(id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin()
	for i := 0; i < 160000; i++ {
		tx.Exec(`INSERT INTO m VALUES(?, ?)`, i, fmt.Sprintf("message number %d with some text to fill the page %d", i, i*7))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rem, err := remotes.Open(ctx, t.TempDir(), remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	key, _ := crypt.NewKey()
	r, err := store.Init(ctx, rem, key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first, err := backup.Run(ctx, r, backup.Options{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 160000; i += 3989 {
		db.Exec(`UPDATE m SET body = 'edited' WHERE id = ?`, i)
	}
	second, err := backup.Run(ctx, r, backup.Options{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []store.Snapshot{first.Snapshot, second.Snapshot} {
		nodes, err := r.Tree(ctx, s.Tree)
		if err != nil {
			t.Fatal(err)
		}
		var n *store.Node
		for j := range nodes {
			if nodes[j].Name == "msg.db" {
				n = &nodes[j]
			}
		}
		if n == nil || n.Content.Index == (crypt.ID{}) || n.Content.Lists != nil {
			t.Fatalf("snapshot %d: the database entry has no list index: %+v", i, n)
		}
		if wantPatches := i; len(n.Content.Patches) != wantPatches {
			t.Fatalf("snapshot %d: %d patches, want %d", i, len(n.Content.Patches), wantPatches)
		}
		dst := filepath.Join(t.TempDir(), "out")
		if _, err := restore.Run(ctx, r, restore.Options{Snapshot: s.IDString(), Target: dst}); err != nil {
			t.Fatal(err)
		}
		rdb, err := sql.Open("sqlite", "file:"+filepath.Join(dst, "msg.db")+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var edited int
		var ic string
		rdb.QueryRow(`PRAGMA integrity_check`).Scan(&ic)
		rdb.QueryRow(`SELECT count(*) FROM m WHERE body = 'edited'`).Scan(&edited)
		rdb.Close()
		if ic != "ok" || edited != i*41 {
			t.Fatalf("snapshot %d restored: integrity %q, %d edited rows, want %d", i, ic, edited, i*41)
		}
	}
	if second.AddedBytes > 64<<10 {
		t.Errorf("41 scattered edits added %d bytes", second.AddedBytes)
	}
	t.Logf("41 scattered edits added %d bytes", second.AddedBytes)
}
