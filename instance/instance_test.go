package instance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
)

// newInstallation makes an installation under a temporary directory with
// the given remotes (local paths); nothing outside it is touched.
func newInstallation(t *testing.T, remoteDirs ...string) *configs.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := configs.DefaultAt(filepath.Join(dir, "chatsafe.yaml"))
	cfg.Source = filepath.Join(dir, "chats")
	cfg.Remotes = nil
	for i, r := range remoteDirs {
		cfg.Remotes = append(cfg.Remotes, configs.Remote{Name: string(rune('a' + i)), URL: r})
	}
	if err := os.MkdirAll(cfg.Source, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := instance.Create(t.Context(), cfg, "", key, nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The CLI's path: an opened installation syncs every delta to every
// configured remote, and only then does the spool empty.
func TestOpenSyncsEveryRemote(t *testing.T) {
	r0, r1 := t.TempDir(), t.TempDir()
	cfg := newInstallation(t, r0, r1)
	inst, err := instance.Open(t.Context(), cfg, instance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if n := len(inst.Store.Targets()); n != 2 {
		t.Fatalf("%d sync targets, want 2", n)
	}
	storetest.WriteFile(t, filepath.Join(cfg.Source, "a.txt"), []byte("hello"))
	if _, err := backup.Run(t.Context(), inst.Store, backup.Options{Source: cfg.Source}); err != nil {
		t.Fatal(err)
	}
	n, err := inst.Store.Sync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(inst.Store.Pending()) != 0 {
		t.Fatalf("%d deltas left the spool, %d still pending", n, len(inst.Store.Pending()))
	}
	for _, dir := range []string{r0, r1} {
		if got := len(storetest.DeltaFiles(t, dir)); got != 1 {
			t.Fatalf("%s holds %d deltas, want 1", dir, got)
		}
	}
}

// A remote that cannot be opened fails Open, unless KeepBroken (the
// daemon) keeps it as a broken target: then nothing leaves the spool,
// since that remote does not hold it.
func TestOpenKeepBroken(t *testing.T) {
	r0 := t.TempDir()
	cfg := newInstallation(t, r0)
	cfg.Remotes = append(cfg.Remotes, configs.Remote{Name: "broken", URL: ":nosuchbackend:x"})
	if inst, err := instance.Open(t.Context(), cfg, instance.Options{}); err == nil {
		inst.Close()
		t.Fatal("Open succeeded with a remote that cannot be opened")
	}
	inst, err := instance.Open(t.Context(), cfg, instance.Options{KeepBroken: true})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	ts := inst.Store.Targets()
	if len(ts) != 2 || ts[1].Remote != nil || ts[1].OpenErr == nil || len(inst.Remotes) != 1 {
		t.Fatalf("targets %+v, remotes %v", ts, inst.Remotes)
	}
	storetest.WriteFile(t, filepath.Join(cfg.Source, "a.txt"), []byte("hello"))
	if _, err := backup.Run(t.Context(), inst.Store, backup.Options{Source: cfg.Source}); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Store.Sync(t.Context()); err == nil {
		t.Fatal("Sync reported no error with a broken remote")
	}
	if len(storetest.DeltaFiles(t, r0)) != 1 || len(inst.Store.Pending()) != 1 {
		t.Fatalf("the working remote holds %d deltas, %d pending; want 1 and 1", len(storetest.DeltaFiles(t, r0)), len(inst.Store.Pending()))
	}
}

// TestOpenRemoteNamesItOnce: a remote that cannot be opened is named once
// in the error, not by each layer.
func TestOpenRemoteNamesItOnce(t *testing.T) {
	cfg := configs.DefaultAt(filepath.Join(t.TempDir(), "chatsafe.yaml"))
	rc := configs.Remote{Name: "nas", URL: ":ftpx,host=x:foo"}
	_, err := instance.OpenRemote(t.Context(), cfg, rc, remotes.RetryOptions{})
	if err == nil || strings.Count(err.Error(), "opening remote") != 1 || !strings.Contains(err.Error(), "nas") {
		t.Fatalf("opening a remote of an unknown backend: %v, want the remote named once", err)
	}
}
