package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// A new user, before `chatsafe init`: every command that needs the config
// says where it looked and what to run, in the same words.
func TestNewUserWithoutConfig(t *testing.T) {
	home := t.TempDir()
	def := filepath.Join(home, "default-config", "config.yaml")
	for _, args := range [][]string{{"backup"}, {"ui"}, {"ui", "--print-url"}, {"prune"}, {"snapshots"}, {"key", "show"}} {
		r := run(t, home, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "no config at "+def) || !strings.Contains(r.stderr, "chatsafe init --source DIR") {
			t.Errorf("%v: exit %d, want %d naming %s and `chatsafe init --source DIR`:\n%s", args, r.code, exitUsage, def, r.stderr)
		}
	}
	// No daemon and no config: status says both (a daemon needs a config first).
	r := run(t, home, "status")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "no config at "+def) || !strings.Contains(r.stderr, "chatsafe init --source DIR") {
		t.Errorf("status: exit %d, want %d naming %s and `chatsafe init --source DIR`:\n%s", r.code, exitUnreachable, def, r.stderr)
	}
}

var goName = regexp.MustCompile(`\b[a-z]+\.[A-Z][A-Za-z]+\b`)

// Help speaks to users: no Go package or type names.
func TestHelpNamesNoGoTypes(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, text := range []string{c.Long, c.Short, c.Use, c.Example} {
			if m := goName.FindString(text); m != "" {
				t.Errorf("%s: help names %q", c.CommandPath(), m)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(buildRootCommand(&globalOptions{defaultConfig: "/nonexistent/config.yaml"}))
}

// Counts read as English: one file, two files.
func TestPlural(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 files", 1: "1 file", 2: "2 files", 12345: "12,345 files"} {
		if got := plural(n, "file"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}

// The README's first command with a directory that is not there: the error
// names the flag the user gave, not a config key in a file that does not
// exist.
func TestDaemonMissingSource(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, "inst", "chatsafe.yaml")
	missing := filepath.Join(home, "path", "to", "chat-history")
	r := run(t, home, "daemon", "--config", cfg, "--source", missing)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--source "+missing) || strings.Contains(r.stderr, "fix source") {
		t.Fatalf("exit %d, want %d naming --source %s:\n%s", r.code, exitUsage, missing, r.stderr)
	}
}

// init and init --join end with the commands to run next; for an
// installation whose config is not the default one they name it, or the
// commands as printed would read the default config (another
// installation's, or none).
func TestInitNextNamesTheConfig(t *testing.T) {
	s := newSetup(t)
	other := run(t, s.home, "init", "--source", s.src, "--remote", filepath.Join(s.home, "remote2"),
		"--config", filepath.Join(s.home, "other.yaml"), "--state-dir", filepath.Join(s.home, "state2"))
	other.want(t, 0, "Next:")
	cfg := filepath.Join(s.home, "other.yaml")
	for _, cmd := range []string{"`chatsafe backup --config " + cfg + "`", "`chatsafe daemon --config " + cfg + "`"} {
		if !strings.Contains(other.stdout, cmd) {
			t.Errorf("init --config %s does not say %s:\n%s", cfg, cmd, other.stdout)
		}
	}
	joined := filepath.Join(s.home, "joined.yaml")
	join := run(t, s.home, "init", "--join", "--source", s.src, "--remote", s.remote, "--recovery-key-file", s.keyFile,
		"--config", joined, "--state-dir", filepath.Join(s.home, "state3"))
	join.want(t, 0, "Next:")
	if cmd := "`chatsafe backup --config " + joined + "`"; !strings.Contains(join.stdout, cmd) {
		t.Errorf("init --join --config %s does not say %s:\n%s", joined, cmd, join.stdout)
	}
	// The default config needs no flag.
	def := run(t, s.home, "init", "--source", s.src, "--remote", filepath.Join(s.home, "remote4"), "--state-dir", filepath.Join(s.home, "state4"))
	def.want(t, 0, "Next:")
	if !strings.Contains(def.stdout, "`chatsafe backup` for a backup now") {
		t.Errorf("init with the default config names a config:\n%s", def.stdout)
	}
}

// init and init --join show the remotes they set up as logs and status do:
// a connection string's secrets (an obscured password is reversible) are
// not printed to the terminal.
func TestInitShowsRemotesRedacted(t *testing.T) {
	home := t.TempDir()
	src := filepath.Join(home, "chats")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	remote := ":local,pass=TOPSECRET:" + filepath.Join(home, "remote")
	key := filepath.Join(home, "key.txt")
	first := run(t, home, "init", "--source", src, "--remote", remote, "--config", filepath.Join(home, "a.yaml"),
		"--state-dir", filepath.Join(home, "a"), "--recovery-key-out", key)
	first.want(t, 0, "chatsafe is set up")
	join := run(t, home, "init", "--join", "--source", src, "--remote", remote, "--recovery-key-file", key,
		"--config", filepath.Join(home, "b.yaml"), "--state-dir", filepath.Join(home, "b"))
	join.want(t, 0, "continues the repository")
	for _, r := range []result{first, join} {
		if strings.Contains(r.stdout+r.stderr, "TOPSECRET") {
			t.Errorf("the connection string's password is shown:\n%s%s", r.stdout, r.stderr)
		}
	}
}
