package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// offlineRepo is a repository on rclone's WebDAV server with one snapshot
// of a chat directory (a SQLite database and a photo) taken by a store
// with a state directory.
type offlineRepo struct {
	srv        *remotetest.Server
	key        crypt.Key
	src, state string
	db         *storetest.ChatDB
	rem        remotes.Remote
}

func newOfflineRepo(t *testing.T) *offlineRepo {
	t.Helper()
	o := &offlineRepo{srv: remotetest.StartWebDAV(t, t.TempDir()), src: t.TempDir(), state: t.TempDir()}
	var err error
	if o.key, err = crypt.NewKey(); err != nil {
		t.Fatal(err)
	}
	o.rem = openNetRemote(t, o.srv.Spec)
	r, err := store.Init(t.Context(), o.rem, o.key, store.Options{StateDir: o.state})
	if err != nil {
		t.Fatal(err)
	}
	o.db = storetest.OpenChatDB(t, filepath.Join(o.src, "msgstore.db"))
	o.db.Insert(0, 500, 100)
	storetest.WriteFile(t, filepath.Join(o.src, "Media", "IMG-0001.jpg"), storetest.RandBytes(1, 200<<10))
	if _, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	return o
}

// change makes the next backup commit something new.
func (o *offlineRepo) change(t *testing.T, from int) {
	t.Helper()
	o.db.Insert(from, from+100, 50)
	storetest.WriteFile(t, filepath.Join(o.src, "Media", "IMG-late.jpg"), storetest.RandBytes(uint64(from), 50<<10))
}

func spooled(t *testing.T, state string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(state, "repo-*", "spool", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBackupCommitsWhileRemoteUnreachable: a store opened while its
// remote answered keeps backing up when the remote goes out of reach: the
// backup commits into the spool (on the head it loaded), and the deltas
// go up once the remote is back.
func TestBackupCommitsWhileRemoteUnreachable(t *testing.T) {
	o := newOfflineRepo(t)
	r, err := store.Open(t.Context(), o.rem, o.key, store.Options{StateDir: o.state})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o.srv.Stop()
	o.change(t, 500)
	res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src})
	if err != nil {
		t.Fatalf("a backup while the remote is out of reach: %v", err)
	}
	if res.Unchanged || len(spooled(t, o.state)) != 1 {
		t.Fatalf("the backup committed %+v, spool %v", res.Snapshot, spooled(t, o.state))
	}
	if _, err := r.Sync(t.Context()); !errors.Is(err, remotes.ErrUnreachable) {
		t.Fatalf("a sync while the remote is out of reach: %v", err)
	}
	o.srv.Start()
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := spooled(t, o.state); len(s) != 0 {
		t.Fatalf("still spooled after the remote came back: %v", s)
	}
	restoredSame(t, o)
}

// restoredSame restores the newest snapshot from the remote as a new
// device would and compares it with the source, byte for byte.
func restoredSame(t *testing.T, o *offlineRepo) {
	t.Helper()
	fresh, err := store.Open(t.Context(), openNetRemote(t, o.srv.Spec), o.key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if _, err := restore.Run(t.Context(), fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	notDB := func(rel string) bool { return strings.HasPrefix(rel, "msgstore.db") }
	want, got := storetest.DirDigest(t, o.src, notDB), storetest.DirDigest(t, dst, notDB)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("restored files %v, want %v", got, want)
	}
	if a, b := storetest.DBDigest(t, filepath.Join(o.src, "msgstore.db")), storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); a != b {
		t.Fatal("the restored database differs from the source")
	}
}
