package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/statusapi"
)

// cmdOf is `chatsafe ARGS` for the installation at cfg, as its messages
// name it.
func cmdOf(cfg, args string) string { return cmdline.Installation{Config: cfg}.Cmd(args) }

// hints checks that r says each of the commands in want, written for the
// installation at cfg (with its --config), and no bare `chatsafe CMD`
// for them: copied from a second installation's message, the bare one
// would run against the default installation.
func (r result) hints(t *testing.T, cfg string, want ...string) {
	t.Helper()
	out := r.stdout + r.stderr
	for _, w := range want {
		if in := cmdOf(cfg, w); !strings.Contains(out, in) {
			t.Errorf("no %s in:\n%s", in, out)
		}
		if strings.Contains(out, "`chatsafe "+w+"`") {
			t.Errorf("a bare `chatsafe %s` in:\n%s", w, out)
		}
	}
}

// TestHintsCarryTheConfig: a second installation (its config elsewhere
// than the default) gets the commands its messages tell to run with its
// --config, and no message says the same thing twice.
func TestHintsCarryTheConfig(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "status", "--config", s.cfg).hints(t, s.cfg, "daemon", "service start")
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")

	// An existing repository on the remote: the join line is this one's.
	other := filepath.Join(s.home, "cs2", "chatsafe.yaml")
	r := run(t, s.home, "init", "--source", s.src, "--remote", s.remote, "--config", other)
	r.want(t, 2, "init --join")
	if !strings.Contains(r.stderr, "--recovery-key-file FILE --config "+other+"\n") {
		t.Errorf("the init --join line lacks --config %s:\n%s", other, r.stderr)
	}

	key := filepath.Join(s.home, "state", "key")
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, s.home, "backup", "--config", s.cfg)
	r.want(t, 2, "corrupt")
	r.hints(t, s.cfg, "key import")
	if n := strings.Count(r.stderr, "corrupt"); n != 1 {
		t.Errorf("the corrupt key cache said %d times:\n%s", n, r.stderr)
	}
	os.Remove(key)
	run(t, s.home, "snapshots", "--config", s.cfg).hints(t, s.cfg, "key import")
	run(t, s.home, "key", "import", "--config", s.cfg, "--recovery-key-file", s.keyFile).want(t, 0, "")

	holdState(t, s.cfg)
	r = run(t, s.home, "takeover", "--config", s.cfg)
	r.want(t, exitStateInUse, "")
	r.hints(t, s.cfg, "status", "service stop", "takeover", "service start")
	if strings.Count(r.stderr, "stop") > 3 || strings.Contains(r.stderr, "stop it first; stop") {
		t.Errorf("takeover beside the daemon repeats itself:\n%s", r.stderr)
	}
}

// TestTakenOverHintsCarryTheConfig: taken over, backup and status (and the
// daemon's last error they show) tell to run the takeover of this
// installation.
func TestTakenOverHintsCarryTheConfig(t *testing.T) {
	a, b, _, _ := twoDevices(t)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	write(t, b.src, "msgstore.txt", "new laptop, day 2")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	write(t, a.src, "msgstore.txt", "old phone, day 2")
	r := run(t, a.home, "backup", "--config", a.cfg)
	r.want(t, exitTakenOver, "")
	r.hints(t, a.cfg, "takeover")

	sock := filepath.Join(a.home, "run", "a.sock")
	setSocket(t, a.cfg, sock)
	startDaemonBinary(t, a.home, a.cfg, sock)
	waitStatus(t, sock, nil, func(st statusapi.Status) bool { return st.State == statusapi.StateTakenOver }, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("A's daemon is not taken over: %+v %v", st, err)
	}, nil)
	r = run(t, a.home, "status", "--config", a.cfg)
	r.want(t, exitTakenOver, "")
	r.hints(t, a.cfg, "takeover")
	r = run(t, a.home, "backup", "--config", a.cfg)
	r.want(t, exitTakenOver, "")
	r.hints(t, a.cfg, "takeover")
}
