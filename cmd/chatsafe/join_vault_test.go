package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/vault"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// TestJoinWithVaultPassword: the old device keeps its key in a vault; the
// new device joins with the password alone, fetches the key from the vault
// again when its key cache is gone (as the daemon does), backs up into the
// same chain, and both devices' snapshots restore.
func TestJoinWithVaultPassword(t *testing.T) {
	url, ca := startVault(t)
	oldFiles := map[string]string{"chat.db": "old"}
	a, remote, vaultArgs := initWithVault(t, url, ca, "alice", "correct horse\n", oldFiles)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")

	newFiles := map[string]string{"chat.db": "new", "more.txt": "more"}
	b := newDevice(t, newFiles)
	run(t, b.home, append([]string{"init", "--join", "--source", b.src, "--remote", remote, "--config", b.cfg, "--state-dir", b.state}, vaultArgs...)...).want(t, 0, "newest sequence 1")
	cfg, _ := os.ReadFile(b.cfg)
	if !strings.Contains(string(cfg), "password_file: "+filepath.Join(a.home, "pw")) || !strings.Contains(string(cfg), "account: alice") {
		t.Fatalf("the joined config lacks the vault:\n%s", cfg)
	}
	// backup fetches the key from the vault when the cache is gone.
	if err := os.Remove(filepath.Join(b.state, "key")); err != nil {
		t.Fatal(err)
	}
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	if _, err := os.Stat(filepath.Join(b.state, "key")); err != nil {
		t.Fatalf("the key fetched from the vault was not cached: %v", err)
	}
	snaps := listSnapshots(t, remote, vaultArgs...)
	if len(snaps) != 2 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	restoreAndCompare(t, remote, snaps[0].ID, oldFiles, vaultArgs...)
	restoreAndCompare(t, remote, snaps[1].ID, newFiles, vaultArgs...)

	// A new password on the new device: the config's password_file follows.
	pw2 := filepath.Join(b.home, "pw2")
	os.WriteFile(pw2, []byte("a new password\n"), 0o600)
	run(t, b.home, "key", "set-password", "--config", b.cfg, "--password-file", pw2).want(t, 0, "kept by the vault")
	if cfg, _ := os.ReadFile(b.cfg); !strings.Contains(string(cfg), "password_file: "+pw2) {
		t.Fatalf("set-password did not update password_file:\n%s", cfg)
	}
	newArgs := append(append([]string{}, vaultArgs[:6]...), "--password-file", pw2)
	restoreAndCompare(t, remote, snaps[1].ID, newFiles, newArgs...)
}

// TestVaultStrangerCannotErase: the vault handle is kept on the remote, so
// someone who knows only the account name spends none of the owner's
// attempts, however many passwords they try; the owner still restores.
func TestVaultStrangerCannotErase(t *testing.T) {
	url, ca := startVault(t)
	d, remote, vaultArgs := initWithVault(t, url, ca, "bob", "owner's password", map[string]string{"chat.db": "mine"})
	if _, err := os.Stat(filepath.Join(remote, "vault-handle")); err != nil {
		t.Fatalf("no vault handle on the remote: %v", err)
	}
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")

	stranger, err := vaultclient.New(vaultclient.Options{URLs: []string{url}, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.CloseIdleConnections()
	for i := range 12 {
		_, err := stranger.Recover(context.Background(), "bob", []byte("guess"), vault.Handle{})
		// A stranger is answered as for an unknown name: wrong, then "erased".
		if !errors.Is(err, vault.ErrWrongPassword) && !errors.Is(err, vault.ErrTooSoon) && !errors.Is(err, vault.ErrErased) {
			t.Fatalf("stranger's try %d: %v", i+1, err)
		}
	}
	// Through the CLI, a remote without the handle (the stranger's own)
	// gets what the stranger got (the shadow row, spent: "erased"), with
	// what to do if the password is right.
	bare := filepath.Join(t.TempDir(), "bare")
	os.CopyFS(bare, os.DirFS(remote))
	os.Remove(filepath.Join(bare, "vault-handle"))
	run(t, t.TempDir(), append([]string{"restore", "--remote", bare, "--to", filepath.Join(t.TempDir(), "o")}, vaultArgs...)...).want(t, 4, "key set-password")

	// The owner: not erased, no attempt spent.
	r := run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", filepath.Join(t.TempDir(), "out")}, vaultArgs...)...)
	r.want(t, 0, "restored")
	bad := filepath.Join(d.home, "bad")
	os.WriteFile(bad, []byte("wrong"), 0o600)
	badArgs := append(append([]string{}, vaultArgs[:6]...), "--password-file", bad)
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", filepath.Join(t.TempDir(), "x")}, badArgs...)...).want(t, 3, "9 attempts left")
}

// TestNewDeviceRefusesRollbackByVault: with only --remote and the vault
// flags (no config, no local state), a remote serving an older head than
// the vault records is read only as a partial history: the older snapshot
// is listed and restored with the warning naming the vault's record (exit
// 9, issue #15: damage is contained); the real remote is listed.
func TestNewDeviceRefusesRollbackByVault(t *testing.T) {
	url, ca := startVault(t)
	d, remote, vaultArgs := initWithVault(t, url, ca, "gil", "pw", map[string]string{"chat.db": "one"})
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(remote)); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, d.src, map[string]string{"chat.db": "two"})
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	// The vault records the newest head, as the store's commit does.
	advanceVaultToRemoteHead(t, d.cfg)

	run(t, t.TempDir(), append([]string{"snapshots", "--remote", old}, vaultArgs...)...).want(t, 9, "vault records")
	o := filepath.Join(t.TempDir(), "o")
	run(t, t.TempDir(), append([]string{"restore", "--remote", old, "--to", o}, vaultArgs...)...).want(t, 9, "vault records")
	if got, err := os.ReadFile(filepath.Join(o, "chat.db")); err != nil || string(got) != "one" {
		t.Fatalf("restored from the old copy: %q, %v; want the older snapshot", got, err)
	}
	if snaps := listSnapshots(t, remote, vaultArgs...); len(snaps) != 2 {
		t.Fatalf("the real remote: %+v", snaps)
	}
}

func advanceVaultToRemoteHead(t *testing.T, cfgPath string) {
	t.Helper()
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := instance.Open(t.Context(), cfg, instance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if err := inst.Guard.Advance(t.Context(), store.HeadRef{}, inst.Store.HeadRef()); err != nil {
		t.Fatal(err)
	}
}

// TestJoinedDaemonFetchesKeyFromVault: a device joined with the vault
// password and without a key cache starts its daemon, which fetches the key
// with the handle on the remote, and continues the same chain.
func TestJoinedDaemonFetchesKeyFromVault(t *testing.T) {
	url, ca := startVault(t)
	a, remote, vaultArgs := initWithVault(t, url, ca, "ida", "pw", map[string]string{"chat.db": "old"})
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")

	b := newDevice(t, map[string]string{"chat.db": "new"})
	run(t, b.home, append([]string{"init", "--join", "--source", b.src, "--remote", remote, "--config", b.cfg, "--state-dir", b.state}, vaultArgs...)...).want(t, 0, "newest sequence 1")
	os.Remove(filepath.Join(b.state, "key"))

	g := &globalOptions{defaultConfig: filepath.Join(b.home, "default-config", "config.yaml")}
	root := buildRootCommand(g)
	var out, errb bytes.Buffer
	root.SetArgs([]string{"daemon", "--config", b.cfg})
	root.SetOut(&out)
	root.SetErr(&errb)
	ctx, cancel := context.WithCancel(t.Context())
	exited := make(chan error, 1)
	go func() { exited <- root.ExecuteContext(ctx) }()
	waitSocket(t, filepath.Join(b.state, "chatsafe.sock"), exited, errb.String)
	// Through the daemon: it holds the state.
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "")
	// Stopped before its upload, the daemon would leave the remote behind
	// the vault's head (the next start uploads it), and the listing below
	// would read a partial history.
	waitUploaded(t, filepath.Join(b.state, "chatsafe.sock"))
	cancel()
	if err := <-exited; err != nil {
		t.Fatalf("daemon: %v\n%s", err, errb.String())
	}
	// The key cache was removed: the daemon fetched the key and cached it.
	if _, err := os.Stat(filepath.Join(b.state, "key")); err != nil {
		t.Fatalf("the daemon did not fetch and cache the key: %v", err)
	}
	snaps := listSnapshots(t, remote, vaultArgs...)
	if len(snaps) != 2 || snaps[1].Seq != 2 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	restoreAndCompare(t, remote, snaps[1].ID, map[string]string{"chat.db": "new"}, vaultArgs...)
}

// initWithVault makes a device whose key the vault keeps behind password
// for account, on a local remote beside it: what these tests start from.
func initWithVault(t *testing.T, url, ca, account, password string, files map[string]string) (d device, remote string, vaultArgs []string) {
	t.Helper()
	d = newDevice(t, files)
	pw := filepath.Join(d.home, "pw")
	os.WriteFile(pw, []byte(password), 0o600)
	remote = filepath.Join(d.home, "remote")
	vaultArgs = []string{"--vault", url, "--vault-ca", ca, "--account", account, "--password-file", pw}
	run(t, d.home, append([]string{"init", "--source", d.src, "--remote", remote, "--config", d.cfg, "--state-dir", d.state}, vaultArgs...)...).want(t, 0, "kept by the vault")
	return d, remote, vaultArgs
}
