package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestPagesSealedInGroups: a database's first backup seals its pages in
// groups of up to store.GroupPages; a new device restores the database
// byte for byte, reads a single page on its own (as a mount does), and
// check --read-data verifies every group and member.
func TestPagesSealedInGroups(t *testing.T) {
	e, _ := dictEnv(t)
	gs := store.Groups(e.Store)
	members := 0
	for _, g := range gs {
		if len(g.Members) < 2 || len(g.Members) > store.GroupPages {
			t.Fatalf("a group of %d pages, want 2 to %d", len(g.Members), store.GroupPages)
		}
		members += len(g.Members)
	}
	if len(gs) < 160/store.GroupPages || members < store.GroupPages/2*len(gs) {
		t.Fatalf("%d groups of %d pages in all, want most pages in full groups", len(gs), members)
	}
	oneDict(t, e.Store)
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	dst := filepath.Join(t.TempDir(), "r")
	if _, err := restore.Run(e.Ctx, fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")), storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db")); got != want {
		t.Fatalf("restored digest %s, want %s", got, want)
	}
	// Two pages of one group, then one of another, each on its own.
	for _, id := range [...]int{0, 1} {
		if p, err := store.ReadBlob(e.Ctx, fresh, gs[1].Members[id]); err != nil || len(p) != 4096 {
			t.Fatalf("reading page %d of a group alone: %d bytes, %v", id, len(p), err)
		}
	}
	if p, err := store.ReadBlob(e.Ctx, fresh, gs[2].Members[0]); err != nil || len(p) != 4096 {
		t.Fatalf("reading a page of another group: %d bytes, %v", len(p), err)
	}
	if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data: %v", err)
	}
}

// TestDamagedGroup: a group whose bytes were altered is an integrity
// error naming it and every page in it, on restore and on check.
func TestDamagedGroup(t *testing.T) {
	e, _ := dictEnv(t)
	g := store.Groups(e.Store)[3]
	flipByte(t, filepath.Join(e.RemoteDir, g.Delta), g.Offset+g.SealedLen/2)
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	_, err = restore.Run(e.Ctx, fresh, restore.Options{Target: filepath.Join(t.TempDir(), "r")})
	var ie *store.IntegrityError
	if !errors.As(err, &ie) {
		t.Fatalf("restore of a damaged group: %v, want an integrity error", err)
	}
	for _, m := range g.Members {
		if !strings.Contains(err.Error(), m.String()) {
			t.Fatalf("restore of a damaged group: %v, want it to name page %s", err, m)
		}
	}
	if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err == nil || !strings.Contains(err.Error(), g.Members[0].String()) {
		t.Fatalf("check --read-data of a damaged group: %v, want its pages named", err)
	}
}

// TestPruneKeepsGroupOfOneLivePage: a group is kept, whole, while one of
// its pages is in a kept snapshot; the groups no kept page needs go.
func TestPruneKeepsGroupOfOneLivePage(t *testing.T) {
	e, db := dictEnv(t)
	if len(store.Groups(e.Store)) < 2 {
		t.Fatal("want several groups")
	}
	if _, err := db.DB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(e.Src, "msgstore.db")
	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	// A file that is one page of the database: the next snapshot holds
	// that page, and the database no more.
	page := raw[100*4096 : 101*4096]
	storetest.WriteFile(t, filepath.Join(e.Src, "page.bin"), page)
	db.DB.Close()
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		os.Remove(p)
	}
	e.Backup()
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if gs := store.Groups(e.Store); len(gs) != 1 || len(gs[0].Members) < 2 {
		t.Fatalf("after prune: groups %d, want the one holding the kept page, whole", len(gs))
	}
	if _, err := check.Run(e.Ctx, e.Store, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data after prune: %v", err)
	}
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "page.bin")); err != nil || !bytes.Equal(got, page) {
		t.Fatalf("restored page.bin: %v", err)
	}
}
