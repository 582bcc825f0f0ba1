package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/vault"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// startDaemonInProcess runs `chatsafe daemon --config d.cfg` in this
// process until the test ends, and waits until its socket answers. It
// returns the socket and the daemon's output so far.
func startDaemonInProcess(t *testing.T, d device) (sock string, output func() string) {
	t.Helper()
	g := &globalOptions{defaultConfig: filepath.Join(d.home, "default-config", "config.yaml")}
	root := buildRootCommand(g)
	var out syncBuffer
	root.SetArgs([]string{"daemon", "--config", d.cfg})
	root.SetOut(&out)
	root.SetErr(&out)
	ctx, cancel := context.WithCancel(t.Context())
	exited := make(chan error, 1)
	go func() { exited <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-exited; err != nil {
			t.Errorf("daemon: %v\n%s", err, out.String())
		}
	})
	sock = filepath.Join(d.state, "chatsafe.sock")
	waitSocket(t, sock, exited, out.String)
	return sock, out.String
}

// TestSetPasswordWhileDaemonRuns: `key set-password` registers the key
// again with a new vault handle while the installation's daemon runs. The
// daemon's next backups must still commit (the vault is their commit
// point, and the handle is part of the owner proof), without a restart.
func TestSetPasswordWhileDaemonRuns(t *testing.T) {
	url, ca := startVault(t)
	a, remote, vaultArgs := initWithVault(t, url, ca, "alice", "first password", map[string]string{"chat.db": "one"})
	sock, _ := startDaemonInProcess(t, a)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "")

	pw2 := filepath.Join(a.home, "pw2")
	os.WriteFile(pw2, []byte("a new password\n"), 0o600)
	run(t, a.home, "key", "set-password", "--config", a.cfg, "--password-file", pw2).want(t, 0, "kept by the vault")

	writeFiles(t, a.src, map[string]string{"chat.db": "two"})
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "")
	writeFiles(t, a.src, map[string]string{"chat.db": "three"})
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved by the daemon")
	waitUploaded(t, sock)

	newArgs := append(append([]string{}, vaultArgs[:6]...), "--password-file", pw2)
	snaps := listSnapshots(t, remote, newArgs...)
	restoreAndCompare(t, remote, snaps[len(snaps)-1].ID, map[string]string{"chat.db": "three"}, newArgs...)
}

// syncBuffer is a bytes.Buffer that a daemon's goroutines may write while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// spendVaultAttempts logs in n times with a wrong password and the vault
// handle the remote holds, as whoever can read the remote can.
func spendVaultAttempts(t *testing.T, url, ca, account, remote string, n int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(remote, instance.VaultHandleObject))
	if err != nil {
		t.Fatal(err)
	}
	h, err := vault.ParseHandle(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	c, err := vaultclient.New(vaultclient.Options{URLs: []string{url}, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	for range n {
		if _, err := c.Recover(t.Context(), account, []byte("a guess"), h); !errors.Is(err, vault.ErrWrongPassword) && !errors.Is(err, vault.ErrErased) {
			t.Fatalf("a wrong password: %v", err)
		}
	}
}

// TestStatusWarnsOfSpentVaultAttempts: someone with the remote spends the
// vault's password attempts while the daemon runs. The daemon's next
// commit asks the vault (the head record is its commit point) and status
// says how many wrong passwords were tried; once the vault erased the key,
// status says that password recovery no longer works and what to do. A
// command that reads the vault here warns too.
func TestStatusWarnsOfSpentVaultAttempts(t *testing.T) {
	url, ca := startVault(t)
	a, remote, _ := initWithVault(t, url, ca, "alice", "the password", map[string]string{"chat.db": "one"})
	startDaemonInProcess(t, a)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "")
	if r := run(t, a.home, "status", "--config", a.cfg); strings.Contains(r.stdout, "wrong password") {
		t.Fatalf("status warns before any wrong password:\n%s", r.stdout)
	}

	spendVaultAttempts(t, url, ca, "alice", remote, 3)
	writeFiles(t, a.src, map[string]string{"chat.db": "two"})
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "")
	run(t, a.home, "status", "--config", a.cfg).want(t, 0, "3 wrong passwords")

	spendVaultAttempts(t, url, ca, "alice", remote, 8)
	writeFiles(t, a.src, map[string]string{"chat.db": "three"})
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "")
	st := run(t, a.home, "status", "--config", a.cfg)
	st.want(t, 0, "password recovery no longer works")
	st.want(t, 0, "chatsafe key set-password")
	run(t, a.home, "snapshots", "--config", a.cfg).want(t, 0, "password recovery no longer works")
}
