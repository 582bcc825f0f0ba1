package store_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestGoneSecondRemoteRefusedAfterReopen: a second remote that held the
// repository is gone when the store is opened again (a new process). Its
// sync must not make a new repository there, however new the process.
func TestGoneSecondRemoteRefusedAfterReopen(t *testing.T) {
	e, secondDir := backedUpOnTwo(t, filepath.Join(t.TempDir(), "nas"))
	if err := os.Rename(secondDir, secondDir+".away"); err != nil {
		t.Fatal(err)
	}
	s := reopenOnTwo(t, e, secondDir)
	if _, err := s.Sync(e.Ctx); !errors.Is(err, store.ErrRepositoryGone) || !strings.Contains(err.Error(), `"nas"`) {
		t.Fatalf("sync to the gone remote after a reopen: %v, want %v naming it", err, store.ErrRepositoryGone)
	}
	if _, err := os.Stat(secondDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the gone remote's folder was made again (stat: %v)", err)
	}
}

// TestGoneFirstRemoteAtOpen: the first remote's folder is gone when a
// store that read the repository there opens again: that is
// ErrRepositoryGone, not "no repository here, run init".
func TestGoneFirstRemoteAtOpen(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("one"))
	e.Backup()
	e.Store.Close()
	if err := os.Rename(e.RemoteDir, e.RemoteDir+".away"); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if !errors.Is(err, store.ErrRepositoryGone) || errors.Is(err, store.ErrNoRepository) {
		t.Fatalf("opening with the first remote's folder gone: %v, want %v", err, store.ErrRepositoryGone)
	}
	// A device that never read the repository there is told to set it up.
	if _, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir()}); !errors.Is(err, store.ErrNoRepository) {
		t.Fatalf("opening an empty remote with a new state directory: %v, want %v", err, store.ErrNoRepository)
	}
}

// TestSecondRemoteLostOnlyItsConfig: a second remote that held the
// repository lost its config but not its deltas (a partial copy, a
// config deleted by hand). That is not the folder gone: the next sync
// puts the config back, as before.
func TestSecondRemoteLostOnlyItsConfig(t *testing.T) {
	e, secondDir := backedUpOnTwo(t, t.TempDir())
	if err := os.Remove(filepath.Join(secondDir, "config")); err != nil {
		t.Fatal(err)
	}
	s := reopenOnTwo(t, e, secondDir)
	if _, err := s.Sync(e.Ctx); err != nil {
		t.Fatalf("sync to a remote that lost only its config: %v", err)
	}
	if _, err := os.Stat(filepath.Join(secondDir, "config")); err != nil {
		t.Fatalf("the config was not put back: %v", err)
	}
}

// backedUpOnTwo backs a file up to a new repository and to a second
// local remote at secondDir ("nas"), then closes the store, as a process
// that ends.
func backedUpOnTwo(t *testing.T, secondDir string) (*storetest.Env, string) {
	t.Helper()
	e := storetest.NewEnv(t)
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("nas", storetest.OpenRemote(t, secondDir))})
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("one"))
	e.Backup()
	e.Store.Close()
	return e, secondDir
}

// reopenOnTwo opens e's repository again with its state, as the next
// process would, with the same two targets.
func reopenOnTwo(t *testing.T, e *storetest.Env, secondDir string) *store.Store {
	t.Helper()
	s, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("nas", storetest.OpenRemote(t, secondDir))})
	return s
}

// TestKeyRotationRefusesAGoneRemote: a key rotation writes the whole
// repository, re-sealed, to every remote. One that held it and lost it
// (its drive not mounted) must not be filled: that is a whole repository
// on the disk that happens to be there.
func TestKeyRotationRefusesAGoneRemote(t *testing.T) {
	e, secondDir := backedUpOnTwo(t, filepath.Join(t.TempDir(), "nas"))
	if err := os.Rename(secondDir, secondDir+".away"); err != nil {
		t.Fatal(err)
	}
	s := reopenOnTwo(t, e, secondDir)
	newKey, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	unlock := s.Exclusive()
	err = s.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote, s.Targets()[1].Remote})
	unlock()
	if !errors.Is(err, store.ErrRepositoryGone) {
		t.Fatalf("rotating with a remote gone: %v, want %v", err, store.ErrRepositoryGone)
	}
	if _, err := os.Stat(secondDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the rotation filled the gone remote's folder (stat: %v)", err)
	}
}

// TestStateFromBeforeHoldersRefusesAnEmptyRemote: a state directory
// written before chatsafe recorded which remotes held the repository
// cannot tell a remote that lost it from a new one. An empty remote is
// refused until the user asks for it (--reseed); remotes that hold the
// repository are recorded, and once all are, the state knows again.
func TestStateFromBeforeHoldersRefusesAnEmptyRemote(t *testing.T) {
	e, secondDir := backedUpOnTwo(t, filepath.Join(t.TempDir(), "nas"))
	forgetHolders(t, e.State)
	if err := os.Rename(secondDir, secondDir+".away"); err != nil {
		t.Fatal(err)
	}
	s := reopenOnTwo(t, e, secondDir)
	if _, err := s.Sync(e.Ctx); !errors.Is(err, store.ErrRepositoryGone) || !strings.Contains(err.Error(), "--reseed nas") {
		t.Fatalf("sync to an empty remote with a state from before holders: %v, want %v", err, store.ErrRepositoryGone)
	}
	if _, err := os.Stat(secondDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the empty remote was filled (stat: %v)", err)
	}
	if err := s.ReseedNamed([]string{"nas"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(e.Ctx); err != nil {
		t.Fatalf("sync after --reseed: %v", err)
	}
	s.Close()

	// Both recorded now: the state knows which remotes held it again.
	if err := os.RemoveAll(secondDir); err != nil {
		t.Fatal(err)
	}
	s = reopenOnTwo(t, e, secondDir)
	if _, err := s.Sync(e.Ctx); !errors.Is(err, store.ErrRepositoryGone) || strings.Contains(err.Error(), "did not record") {
		t.Fatalf("sync to the recorded remote, gone: %v", err)
	}
}

// forgetHolders rewrites the repository's state file as a chatsafe from
// before the holders record left it.
func forgetHolders(t *testing.T, stateDir string) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(stateDir, "repo-*", "state.json"))
	if len(paths) != 1 {
		t.Fatalf("state files: %v", paths)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if _, ok := st["holders"]; !ok {
		t.Fatalf("the state records no holders: %s", b)
	}
	delete(st, "holders")
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}
