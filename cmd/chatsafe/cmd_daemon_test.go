package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
)

var recoveryKeyRE = regexp.MustCompile(`[0-9A-F]{4}(-[0-9A-F]{4}){15}`)

// `chatsafe daemon --config F --source DIR` with no F yet makes a new
// installation on the embedded defaults, all of it beside F: config, state,
// socket, local remote and recovery-key file; it shows the key once.
func TestDaemonMakesDefaultsAtTheConfigPath(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "chats")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "msg.txt"), []byte("hello"), 0o644)
	cfgPath := filepath.Join(dir, "inst", "chatsafe.yaml")

	g := &globalOptions{defaultConfig: filepath.Join(dir, "default-config", "config.yaml")}
	root := buildRootCommand(g)
	var out, errb bytes.Buffer
	root.SetArgs([]string{"daemon", "--config", cfgPath, "--source", src})
	root.SetOut(&out)
	root.SetErr(&errb)
	ctx, cancel := context.WithCancel(t.Context())
	exited := make(chan error, 1)
	go func() { exited <- root.ExecuteContext(ctx) }()
	sock := filepath.Join(dir, "inst", "state", "chatsafe.sock")
	waitSocket(t, sock, exited, func() string { return "" })
	cancel()
	if err := <-exited; err != nil {
		t.Fatalf("daemon: %v\n%s", err, errb.String())
	}

	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	inst := filepath.Join(dir, "inst")
	if cfg.StateDir != filepath.Join(inst, "state") || cfg.Remotes[0].URL != filepath.Join(inst, "remote") || cfg.StatusSocket != sock {
		t.Fatalf("new config is not beside %s: state %s, remote %s, socket %s", cfgPath, cfg.StateDir, cfg.Remotes[0].URL, cfg.StatusSocket)
	}
	shown := recoveryKeyRE.FindAllString(out.String(), -1)
	if len(shown) != 1 {
		t.Fatalf("recovery key shown %d times:\n%s", len(shown), out.String())
	}
	b, err := os.ReadFile(filepath.Join(inst, "recovery-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := crypt.ParseRecoveryKey(string(b)); err != nil || k.RecoveryKey() != shown[0] {
		t.Fatalf("recovery-key.txt does not hold the key shown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(inst, "state", "key")); err != nil {
		t.Fatalf("no key cache in the new state directory: %v", err)
	}

	// The installation works with the ordinary commands.
	run(t, dir, "backup", "--config", cfgPath).want(t, 0, "")
	if r := run(t, dir, "snapshots", "--config", cfgPath); r.code != 0 || !strings.Contains(r.stdout, "ID") {
		t.Fatalf("snapshots: %+v", r)
	}

	// The next start uses the config it made and shows no key.
	out.Reset()
	root = buildRootCommand(g)
	root.SetArgs([]string{"daemon", "--config", cfgPath})
	root.SetOut(&out)
	root.SetErr(&errb)
	ctx, cancel = context.WithCancel(t.Context())
	go func() { exited <- root.ExecuteContext(ctx) }()
	waitSocket(t, sock, exited, func() string { return "" })
	cancel()
	if err := <-exited; err != nil || recoveryKeyRE.MatchString(out.String()) {
		t.Fatalf("restart: %v\n%s", err, out.String())
	}
}

// --config naming a missing file without --source is a config error, not a
// new installation.
func TestDaemonMissingConfigWithoutSource(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "daemon", "--config", filepath.Join(dir, "nope.yaml")).want(t, 2, "nope.yaml")
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Fatalf("a failed start created state: %v", err)
	}
}

// The daemon keeps a log file only on Windows, in its state directory.
func TestDaemonLogFilePerOS(t *testing.T) {
	state := filepath.Join("C:", "ProgramData", "chatsafe", "state")
	if got := daemonLogFile("windows", state); got != filepath.Join(state, "chatsafe.log") {
		t.Errorf("windows: %q", got)
	}
	for _, goos := range []string{"linux", "darwin"} {
		if got := daemonLogFile(goos, state); got != "" {
			t.Errorf("%s: %q, want none (the journal, launchd's log)", goos, got)
		}
	}
}
