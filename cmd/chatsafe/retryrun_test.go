package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/statusapi"
)

// --retry-for is the run's: the config a command loads is the file as it
// is, and the flag reaches the remotes as an option of the run. No command
// that writes a loaded config back can then put the flag into the file,
// and every command still gives up on a failing remote when the flag says.

// TestLoadConfigKeepsTheFilesRetryFor: loadConfig with --retry-for set
// returns the file's retry_for.
func TestLoadConfigKeepsTheFilesRetryFor(t *testing.T) {
	home := t.TempDir()
	g := &globalOptions{RetryFor: time.Second, defaultConfig: filepath.Join(home, "default-config", "config.yaml")}
	for _, file := range []struct {
		yaml string
		want time.Duration
	}{
		{"retry_for: 90s\n", 90 * time.Second},
		{"", 0}, // the default: no time cap
	} {
		path := filepath.Join(home, "chatsafe.yaml")
		yaml := fmt.Sprintf("source: %s\nstate_dir: %s\n%s", home, filepath.Join(home, "state"), file.yaml)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := g.loadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(cfg.RetryFor); got != file.want {
			t.Errorf("loadConfig with --retry-for %v: retry_for %v, want the file's %v", g.RetryFor, got, file.want)
		}
	}
}

// failingRemoteDevice sets up an installation on a local remote whose
// config file keeps the default retry_for (no time cap: a failing remote
// is tried for ~40 s), and returns it with a remote spec of a server that
// drops every connection, and that server's connection count.
func failingRemoteDevice(t *testing.T) (d device, keyFile, spec string, count func() int64) {
	t.Helper()
	addr, conns := droppingServer(t)
	d = newDevice(t, map[string]string{"chat.db": "x"})
	keyFile = filepath.Join(d.home, "key.txt")
	run(t, d.home, "init", "--source", d.src, "--remote", filepath.Join(d.home, "remote"), "--config", d.cfg, "--state-dir", d.state,
		"--recovery-key-out", keyFile).want(t, 0, "")
	if cfg := loadFile(t, d.cfg); cfg.RetryFor != 0 {
		t.Fatalf("init wrote retry_for %v; the test needs the default 0 (no time cap)", cfg.RetryFor)
	}
	return d, keyFile, fmt.Sprintf(":webdav,vendor=rclone,url='http://%s':chats", addr), conns.Load
}

func loadFile(t *testing.T, path string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// editConfig applies edit to the config file at path.
func editConfig(t *testing.T, path string, edit func(*configs.Config)) {
	t.Helper()
	cfg := loadFile(t, path)
	edit(cfg)
	if err := cfg.Write(path); err != nil {
		t.Fatal(err)
	}
}

// TestBackupAndCheckHonourRetryFor: backup (instance.Open of the config)
// and check --remote (remotes opened from the flags, no config) give up on
// a failing remote once --retry-for 1s is spent.
func TestBackupAndCheckHonourRetryFor(t *testing.T) {
	d, keyFile, spec, conns := failingRemoteDevice(t)
	editConfig(t, d.cfg, func(c *configs.Config) {
		c.Remotes = append(c.Remotes, configs.Remote{Name: "failing", URL: spec})
	})
	r := run(t, d.home, "--retry-for", "1s", "backup", "--config", d.cfg)
	if r.code == 0 {
		t.Fatalf("backup with a failing remote succeeded:\n%s", r.stderr)
	}
	// Two calls to the failing remote (its listing before the commit, and
	// the upload's read of its config), each within 1 s: a few tries of
	// rclone's 3 low-level tries each. Without the flag: ~44.
	before := conns()
	if before > 24 {
		t.Errorf("backup --retry-for 1s connected %d times to a failing remote; want at most 24\n%s", before, r.stderr)
	}
	if cfg := loadFile(t, d.cfg); cfg.RetryFor != 0 {
		t.Errorf("after backup --retry-for 1s the config's retry_for is %v, want 0", cfg.RetryFor)
	}
	r = run(t, t.TempDir(), "--retry-for", "1s", "check", "--remote", spec, "--recovery-key-file", keyFile)
	if r.code == 0 {
		t.Fatalf("check of a failing remote succeeded:\n%s", r.stderr)
	}
	// One call: within 1 s, a try or a few.
	if n := conns() - before; n > 12 {
		t.Errorf("check --remote --retry-for 1s connected %d times to a failing remote; want at most 12\n%s", n, r.stderr)
	}
}

// TestDaemonHonoursRetryFor: the daemon's first open of a failing first
// remote gives up once --retry-for 1s is spent, and the daemon runs
// offline.
func TestDaemonHonoursRetryFor(t *testing.T) {
	d, _, spec, conns := failingRemoteDevice(t)
	editConfig(t, d.cfg, func(c *configs.Config) { c.Remotes[0].URL = spec })
	sock := loadFile(t, d.cfg).StatusSocket

	g := &globalOptions{defaultConfig: filepath.Join(d.home, "default-config", "config.yaml")}
	root := buildRootCommand(g)
	var out, errb strings.Builder
	root.SetArgs([]string{"--retry-for", "1s", "daemon", "--config", d.cfg})
	root.SetOut(&out)
	root.SetErr(&errb)
	ctx, cancel := context.WithCancel(t.Context())
	exited := make(chan error, 1)
	go func() { exited <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-exited; err != nil {
			t.Errorf("daemon: %v\n%s", err, errb.String())
		}
	}()
	waitStatus(t, sock, exited, func(st statusapi.Status) bool { return st.State == statusapi.StateOffline }, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("the daemon with a failing first remote is not offline after 60s: %+v, %v", st, err)
	}, func() string { return "" }) // the daemon logs to the process's stderr
	if n := conns(); n > 12 {
		t.Errorf("daemon --retry-for 1s connected %d times to a failing remote before it ran offline; want at most 12", n)
	}
	if cfg := loadFile(t, d.cfg); cfg.RetryFor != 0 {
		t.Errorf("the daemon's config file has retry_for %v, want 0", cfg.RetryFor)
	}
}

// TestDaemonRetryForOutlivesReload: the daemon gets --retry-for as its
// Retry option, beside its config; a reload reads the file's retry_for
// and the option still holds over it.
func TestDaemonRetryForOutlivesReload(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "chatsafe.yaml")
	yaml := fmt.Sprintf("source: %s\nstate_dir: %s\nretry_for: 90s\n", home, filepath.Join(home, "state"))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{RetryFor: time.Second, defaultConfig: filepath.Join(home, "default-config", "config.yaml")}
	cfg, err := g.loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	log, err := logs.New(logs.Options{Level: "warn", Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	o := daemonOptions(cfg, DaemonOptions{}, g, log)
	next, err := o.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if o.Retry.Budget != time.Second {
		t.Errorf("the daemon's retry budget is %v, want --retry-for's 1s", o.Retry.Budget)
	}
	for _, c := range []*configs.Config{o.Config, next} {
		if got := time.Duration(c.RetryFor); got != 90*time.Second {
			t.Errorf("a config of the daemon has retry_for %v, want the file's 1m30s", got)
		}
	}
}
