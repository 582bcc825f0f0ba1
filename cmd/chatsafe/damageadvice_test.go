package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDamageAdviceWithoutConfig: a restore with --remote alone (a device
// without a config) of a repository whose newest delta is damaged
// restores the intact snapshot (exit 9) and says what repairs it from
// there: not `chatsafe repair`, which needs a config (and this device
// cannot make one on a damaged repository: init --join refuses it), but
// a repair on a device whose config names the remote, or else a new
// repository for what was restored. Both pieces of advice work.
func TestDamageAdviceWithoutConfig(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	write(t, s.src, "settings.json", `{"a":2}`)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	d := deltaPaths(t, s.remote)
	if len(d) != 2 {
		t.Fatalf("deltas: %v", d)
	}
	b, _ := os.ReadFile(d[1])
	b[len(b)-30] ^= 0x40
	os.WriteFile(d[1], b, 0o644)
	name := filepath.Base(d[1])

	home := t.TempDir()
	restored := filepath.Join(home, "chats")
	r := run(t, home, "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", restored)
	r.want(t, exitPartial, name)
	all := r.stdout + r.stderr
	if strings.Contains(all, "run `chatsafe repair --dry-run` to see") {
		t.Errorf("without a config, restore advises a repair that needs one:\n%s", all)
	}
	for _, says := range []string{"no config", "on a device whose config names this remote (" + s.remote + ")", "chatsafe init --source"} {
		if !strings.Contains(all, says) {
			t.Errorf("restore without a config does not say %q:\n%s", says, all)
		}
	}
	// The same from snapshots, which lists the intact history, and check.
	run(t, home, "snapshots", "--remote", s.remote, "--recovery-key-file", s.keyFile).want(t, exitPartial, "on a device whose config names this remote")
	r = run(t, home, "check", "--remote", s.remote, "--recovery-key-file", s.keyFile)
	r.want(t, exitIntegrity, "on a device whose config names this remote")
	if strings.Contains(r.stderr, "run `chatsafe repair --dry-run` to see") {
		t.Errorf("check without a config advises a repair that needs one:\n%s", r.stderr)
	}

	// Set up here on the damaged repository: refused.
	run(t, home, "init", "--join", "--source", restored, "--remote", s.remote, "--recovery-key-file", s.keyFile,
		"--config", filepath.Join(home, "join.yaml"), "--state-dir", filepath.Join(home, "join-state")).want(t, exitIntegrity, name)
	// The advice: a device whose config names the remote repairs it...
	run(t, s.home, "repair", "--config", s.cfg, "--dry-run").want(t, 0, "move aside: deltas/"+name)
	// ...or what was restored goes into a new repository.
	run(t, home, "init", "--source", restored, "--remote", filepath.Join(home, "new-remote"), "--config", filepath.Join(home, "new.yaml"),
		"--state-dir", filepath.Join(home, "new-state")).want(t, 0, "recovery key")
	run(t, home, "backup", "--config", filepath.Join(home, "new.yaml")).want(t, 0, "saved")
}
