package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// commitWithGuard backs up once through inst and advances the vault's
// record as the store does before each commit.
func commitWithGuard(t *testing.T, inst *instance.Instance, content string) {
	t.Helper()
	prev := inst.Store.HeadRef()
	if err := os.WriteFile(filepath.Join(inst.Config.Source, "chat.txt"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(t.Context(), inst.Store, backup.Options{Source: inst.Config.Source}); err != nil {
		t.Fatal(err)
	}
	if err := inst.Guard.Advance(t.Context(), prev, inst.Store.HeadRef()); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Store.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestVaultRefusesRollbackToNewDevice: a 3-node vault records the newest
// head; a remote put back to an older copy is refused by a device that has
// never seen the repository (no local state at all), while the real remote
// opens. A second writer advancing from a stale head is taken over.
func TestVaultRefusesRollbackToNewDevice(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := t.Context()
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	remote := filepath.Join(home, "remote")
	cfg := configs.DefaultAt(filepath.Join(home, "a.yaml"))
	cfg.Source, cfg.StateDir = filepath.Join(home, "chats"), filepath.Join(home, "state-a")
	cfg.Remotes = []configs.Remote{{Name: "r", URL: remote}}
	cfg.Key.Vault = configs.Vault{URL: strings.Join(tc.urls, ","), Account: "erin", CAFile: tc.caFile}
	if err := os.MkdirAll(cfg.Source, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := instance.Create(ctx, cfg, "", key, nil); err != nil {
		t.Fatal(err)
	}
	rems, err := instance.OpenRemotes(ctx, cfg, remotes.RetryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer instance.CloseRemotes(rems)
	if err := instance.RegisterVault(ctx, tc.client(), "erin", []byte("pw"), key, rems); err != nil {
		t.Fatal(err)
	}
	inst, err := instance.Open(ctx, cfg, instance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitWithGuard(t, inst, "one")
	old := filepath.Join(home, "old-copy")
	if err := os.CopyFS(old, os.DirFS(remote)); err != nil {
		t.Fatal(err)
	}
	stale := inst.Store.HeadRef()
	commitWithGuard(t, inst, "two")
	inst.Close()

	// A second writer that last saw the first head cannot commit over the second.
	g2, err := instance.NewVaultGuard(ctx, cfg, key, rems)
	if err != nil {
		t.Fatal(err)
	}
	next := stale
	next.Seq++
	next.Device[0] = 2
	if err := g2.Advance(ctx, stale, next); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("advancing from a stale head: %v, want taken over", err)
	}

	newDevice := func(url string) error {
		c := *cfg
		c.StateDir = filepath.Join(t.TempDir(), "state")
		c.Remotes = []configs.Remote{{Name: "r", URL: url}}
		if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := crypt.WriteKeyCache(instance.KeyCachePath(c.StateDir), key); err != nil {
			t.Fatal(err)
		}
		i, err := instance.Open(ctx, &c, instance.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer i.Close()
		// A rollback the vault reveals is read as a partial history.
		if de := i.Store.Damage(); de != nil {
			return de
		}
		return nil
	}
	if err := newDevice(remote); err != nil {
		t.Fatalf("a new device on the real remote: %v", err)
	}
	if err := newDevice(old); !errors.Is(err, store.ErrRollback) || !strings.Contains(err.Error(), "vault records") {
		t.Fatalf("a new device on the old copy: %v, want a rollback", err)
	}
}

// TestVaultGuardsRaceToCommit: two devices' guards, each on its own node
// of a 3-node vault, advance from the same head to the same sequence over
// and over: each time exactly one commits and the other is taken over.
func TestVaultGuardsRaceToCommit(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := t.Context()
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(t.TempDir(), "remote")
	cfg := configs.DefaultAt(filepath.Join(t.TempDir(), "c.yaml"))
	cfg.Remotes = []configs.Remote{{Name: "r", URL: remote}}
	rems, err := instance.OpenRemotes(ctx, cfg, remotes.RetryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer instance.CloseRemotes(rems)
	if err := instance.RegisterVault(ctx, tc.client(), "hal", []byte("pw"), key, rems); err != nil {
		t.Fatal(err)
	}
	var guards []*instance.VaultGuard
	for i := range 2 {
		c := *cfg
		c.Key.Vault = configs.Vault{URL: tc.urls[i+1] + "," + tc.urls[0], Account: "hal", CAFile: tc.caFile}
		g, err := instance.NewVaultGuard(ctx, &c, key, rems)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		guards = append(guards, g)
	}
	var prev store.HeadRef
	for seq := uint64(1); seq <= 6; seq++ {
		errs := make([]error, 2)
		nexts := make([]store.HeadRef, 2)
		var wg sync.WaitGroup
		for i, g := range guards {
			nexts[i] = store.HeadRef{Seq: seq}
			nexts[i].DeltaID[0], nexts[i].Device[0] = byte(seq), byte(i+1)
			wg.Go(func() { errs[i] = g.Advance(ctx, prev, nexts[i]) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				if won >= 0 {
					t.Fatalf("sequence %d: both devices committed", seq)
				}
				won = i
			} else if !errors.Is(err, store.ErrTakenOver) {
				t.Fatalf("sequence %d, device %d: %v", seq, i+1, err)
			}
		}
		if won < 0 {
			t.Fatalf("sequence %d: nobody committed: %v", seq, errs)
		}
		if got, err := guards[1-won].Head(ctx); err != nil || got != nexts[won] {
			t.Fatalf("sequence %d: the loser reads %+v (%v), want the winner's head", seq, got, err)
		}
		prev = nexts[won]
	}
}
