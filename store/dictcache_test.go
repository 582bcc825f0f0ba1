package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestDictionaryLocalCopy: a writable open keeps a sealed copy of the
// repository's dictionary in the state directory, and later processes of
// the device read it from there, not from the remote: a restore still
// works once the remote's copy is damaged. A local copy that does not
// open (damaged here) is never used: the read goes to the remote, and
// with the remote's copy damaged too it is an integrity error naming the
// dictionary. A read-only open replaces nothing.
func TestDictionaryLocalCopy(t *testing.T) {
	e, _ := dictEnv(t)
	d := oneDict(t, e.Store)
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	e.Store.Close()
	w, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	local := filepath.Join(repoDir(t, e.State), "dicts", d.ID.String())
	if fi, err := os.Stat(local); err != nil || fi.Size() != d.SealedLen {
		t.Fatalf("local copy of the dictionary: %v, want %d bytes", err, d.SealedLen)
	}
	flipByte(t, filepath.Join(e.RemoteDir, filepath.FromSlash(d.Delta)), d.Offset+d.SealedLen/2)

	restoreWith := func() error {
		r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		dst := filepath.Join(t.TempDir(), "restored")
		if _, err := restore.Run(e.Ctx, r, restore.Options{Target: dst}); err != nil {
			return err
		}
		if got := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); got != want {
			t.Fatalf("restored database digest %s, want %s", got, want)
		}
		return nil
	}
	if err := restoreWith(); err != nil {
		t.Fatalf("restore with the local copy, the remote's damaged: %v", err)
	}

	flipByte(t, local, d.SealedLen/2)
	damaged, _ := os.ReadFile(local)
	err = restoreWith()
	if !errors.Is(err, store.ErrIntegrity) || !strings.Contains(err.Error(), "dictionary "+d.ID.String()) {
		t.Fatalf("restore with both copies damaged: %v, want an integrity error naming dictionary %s", err, d.ID)
	}
	if now, _ := os.ReadFile(local); string(now) != string(damaged) {
		t.Fatal("a read-only open changed the local copy")
	}
}

// A key rotation leaves no local copy of a dictionary sealed under the old
// key: the first open under the new key reads the re-sealed dictionary
// without warning that a local copy "does not open" (damaged or tampered
// with), which a normal rotation is not.
func TestRotateLeavesNoOldDictionaryCopy(t *testing.T) {
	e, _ := dictEnv(t)
	oneDict(t, e.Store)
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	e.Store.Close()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	newKey := randKey()
	if err := r.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	core, logs := observer.New(zap.WarnLevel)
	nr, err := store.Open(e.Ctx, e.Remote, newKey, store.Options{StateDir: e.State, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer nr.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(e.Ctx, nr, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if got := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); got != want {
		t.Fatalf("restored database digest %s, want %s", got, want)
	}
	for _, l := range logs.All() {
		t.Errorf("warning under the new key: %s %v", l.Message, l.ContextMap())
	}
}
