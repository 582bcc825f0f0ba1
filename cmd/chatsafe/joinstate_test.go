package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreJoinStateDirHelp: restore --join --config DIR/FILE keeps its
// state in DIR/state, as init does, and restore --help says so as init's
// does (it said the state went to the default place).
func TestRestoreJoinStateDirHelp(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	dir := filepath.Join(t.TempDir(), "new-device")
	r := run(t, s.home, "restore", "--join", "--remote", s.remote, "--recovery-key-file", s.keyFile,
		"--to", filepath.Join(dir, "chats"), "--config", filepath.Join(dir, "chatsafe.yaml"))
	r.want(t, 0, "state:   "+filepath.Join(dir, "state"))

	root := buildRootCommand(&globalOptions{defaultConfig: "/nonexistent/config.yaml"})
	usage := func(cmd string) string {
		c, _, err := root.Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		return c.Flags().Lookup("state-dir").Usage
	}
	if u := usage("restore"); !strings.Contains(u, "DIR/state for --config DIR/FILE") {
		t.Errorf("restore --state-dir: %q does not say where --config puts the state", u)
	}
	if i, r := usage("init"), usage("restore"); !strings.HasSuffix(r, strings.TrimPrefix(i, "local state directory")) {
		t.Errorf("restore --state-dir says %q, init --state-dir %q", r, i)
	}
}
