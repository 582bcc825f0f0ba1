package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
)

// droppingServer accepts TCP connections and closes each at once, as a
// remote whose server is failing would; it counts them.
func droppingServer(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

// TestInitHonoursRetryFor: init's calls to the remotes give up once
// --retry-for is spent, as every other command's do. init ignored the
// flag: with the second remote failing, `--retry-for 1s init` retried
// for ~40 s (24 connections: the default 8 tries of rclone's 3).
func TestInitHonoursRetryFor(t *testing.T) {
	addr, conns := droppingServer(t)
	d := newDevice(t, map[string]string{"chat.db": "x"})
	spec := fmt.Sprintf(":webdav,vendor=rclone,url='http://%s':chats", addr)
	r := run(t, d.home, "--retry-for", "1s", "init", "--source", d.src, "--remote", filepath.Join(d.home, "remote"), "--remote", spec,
		"--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", filepath.Join(d.home, "key.txt"))
	if r.code == 0 {
		t.Fatalf("init with a failing remote succeeded:\n%s", r.stderr)
	}
	// Within 1 s: a try or two, each of rclone's 3 low-level tries.
	if n := conns.Load(); n > 12 {
		t.Errorf("init --retry-for 1s connected %d times to a failing remote; want at most 12\n%s", n, r.stderr)
	}
}

// TestJoinHonoursRetryFor: the same for init --join, whose remote is read
// for the repository the key must open.
func TestJoinHonoursRetryFor(t *testing.T) {
	addr, conns := droppingServer(t)
	d := newDevice(t, map[string]string{"chat.db": "x"})
	k, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(d.home, "key.txt")
	if err := os.WriteFile(keyFile, []byte(k.RecoveryKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(":webdav,vendor=rclone,url='http://%s':chats", addr)
	r := run(t, d.home, "--retry-for", "1s", "init", "--join", "--source", d.src, "--remote", spec,
		"--config", d.cfg, "--state-dir", d.state, "--recovery-key-file", keyFile)
	if r.code == 0 {
		t.Fatalf("join of a failing remote succeeded:\n%s", r.stderr)
	}
	if n := conns.Load(); n > 12 {
		t.Errorf("init --join --retry-for 1s connected %d times to a failing remote; want at most 12\n%s", n, r.stderr)
	}
}

// TestInitKeepsRetryForOutOfTheConfig: --retry-for is for the run; the
// config init writes keeps the default retry_for.
func TestInitKeepsRetryForOutOfTheConfig(t *testing.T) {
	d := newDevice(t, map[string]string{"chat.db": "x"})
	run(t, d.home, "--retry-for", "1s", "init", "--source", d.src, "--remote", filepath.Join(d.home, "remote"),
		"--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", filepath.Join(d.home, "key.txt")).want(t, 0, "")
	cfg, err := configs.Load(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := configs.Default().RetryFor; cfg.RetryFor != want {
		t.Errorf("the written config's retry_for is %v, want the default %v", cfg.RetryFor, want)
	}
}

// TestKeyCommandsKeepRetryForOutOfTheConfig: key set-password and key
// remove-password update the config file; --retry-for, for their run, is
// not written into it.
func TestKeyCommandsKeepRetryForOutOfTheConfig(t *testing.T) {
	url, ca := startVault(t)
	d := newDevice(t, map[string]string{"chat.db": "x"})
	pw := filepath.Join(d.home, "pw")
	if err := os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, d.home, "init", "--source", d.src, "--remote", filepath.Join(d.home, "remote"), "--config", d.cfg, "--state-dir", d.state,
		"--vault", url, "--vault-ca", ca, "--account", "alice", "--password-file", pw).want(t, 0, "kept by the vault")
	wantDefault := func(after string) {
		t.Helper()
		cfg, err := configs.Load(d.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if want := configs.Default().RetryFor; cfg.RetryFor != want {
			t.Errorf("after %s the config's retry_for is %v, want the default %v", after, cfg.RetryFor, want)
		}
	}
	run(t, d.home, "--retry-for", "1s", "key", "set-password", "--config", d.cfg, "--password-file", pw).want(t, 0, "kept by the vault")
	wantDefault("key set-password --retry-for 1s")
	run(t, d.home, "--retry-for", "1s", "key", "remove-password", "--config", d.cfg).want(t, 0, "no longer holds")
	wantDefault("key remove-password --retry-for 1s")
}

// TestNegativeRetryForRefused: --retry-for below zero is bad usage (exit
// 2), as retry_for below zero is in a config; it was taken for "no limit".
func TestNegativeRetryForRefused(t *testing.T) {
	home := t.TempDir()
	run(t, home, "--retry-for=-5s", "snapshots", "--remote", filepath.Join(home, "nothing")).want(t, exitUsage, "--retry-for")
}
