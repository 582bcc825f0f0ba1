package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
)

// `chatsafe init --config F` without --state-dir or --remote puts the
// installation beside F (state, socket, local remote), as `chatsafe daemon
// --config F --source DIR` does for a new F, and writes where into F, so
// that the daemon run on F uses that state. The config is checked before
// anything runs: on a broken build init would write to the machine's
// default state directory (/var/lib/chatsafe as root).
func TestInitConfigPutsStateBesideIt(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "chats")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "msg.txt"), []byte("hello"), 0o644)
	cfgPath := filepath.Join(dir, "inst", "chatsafe.yaml")
	g := &globalOptions{defaultConfig: filepath.Join(dir, "default-config", "config.yaml")}

	cfg, _, err := initConfig(InitOptions{Source: src, Config: cfgPath}, g)
	if err != nil {
		t.Fatal(err)
	}
	want := configs.DefaultAt(cfgPath) // what the daemon makes at cfgPath
	if cfg.StateDir != want.StateDir || cfg.StatusSocket != want.StatusSocket || cfg.Remotes[0].URL != want.Remotes[0].URL {
		t.Fatalf("init --config %s: state %s, socket %s, remote %s; the daemon puts them at %s, %s, %s",
			cfgPath, cfg.StateDir, cfg.StatusSocket, cfg.Remotes[0].URL, want.StateDir, want.StatusSocket, want.Remotes[0].URL)
	}

	home := filepath.Join(dir, "home")
	run(t, home, "init", "--source", src, "--config", cfgPath).want(t, 0, "recovery key")
	written, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if written.StateDir != want.StateDir {
		t.Fatalf("%s says state_dir %s, want %s", cfgPath, written.StateDir, want.StateDir)
	}
	if _, err := os.Stat(filepath.Join(want.StateDir, "key")); err != nil {
		t.Fatalf("the key is not in the state beside the config: %v", err)
	}
	run(t, home, "backup", "--config", cfgPath).want(t, 0, "saved")
}

// TestInitRelativeRemotePath: init run with relative paths (a remote, the
// rclone config) writes them so that the config means the same place from
// anywhere: a config's relative paths are taken relative to its own
// directory, not to where init ran.
func TestInitRelativeRemotePath(t *testing.T) {
	home := t.TempDir()
	t.Chdir(home)
	os.MkdirAll("chats", 0o755)
	os.WriteFile(filepath.Join("chats", "msg.txt"), []byte("hello"), 0o644)
	cfg := filepath.Join("conf", "config.yaml")
	run(t, home, "init", "--source", "chats", "--remote", "remote", "--remote", "./second", "--config", cfg,
		"--state-dir", "state", "--recovery-key-out", "rk.txt").want(t, 0, "recovery key")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	t.Chdir(t.TempDir())
	run(t, home, "snapshots", "--config", filepath.Join(home, cfg)).want(t, 0, "SEQ")
	for _, dir := range []string{"remote", "second"} {
		if ents, err := os.ReadDir(filepath.Join(home, dir, "deltas")); err != nil || len(ents) == 0 {
			t.Errorf("remote %s: %d deltas (%v)", dir, len(ents), err)
		}
	}
}
