package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
)

var socketLine = regexp.MustCompile(`(?m)^status_socket: .*$`)

// setSocket points a config's status_socket at sock.
func setSocket(t *testing.T, cfg, sock string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !socketLine.Match(b) {
		t.Fatalf("%s has no status_socket line:\n%s", cfg, b)
	}
	if err := os.WriteFile(cfg, socketLine.ReplaceAll(b, []byte("status_socket: "+sock)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startDaemonBinary runs `chatsafe daemon --config cfg` as a real process
// and waits until its socket answers. It returns the process's pid.
func startDaemonBinary(t *testing.T, home, cfg, sock string) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, chatsafeBinary(t), "daemon", "--config", cfg)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	// done is closed after the result, so both waitSocket and the
	// cleanup can receive from it.
	go func() { done <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("daemon %s stderr:\n%s", cfg, errb.String())
		}
	})
	waitSocket(t, sock, done, func() string { return errb.String() })
	return cmd.Process.Pid
}

// waitSocket waits until a daemon answers on sock, failing the test if it
// exits first (a value on exited) or does not answer within a minute.
func waitSocket(t *testing.T, sock string, exited <-chan error, output func() string) {
	t.Helper()
	waitStatus(t, sock, exited, func(statusapi.Status) bool { return true }, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("daemon's socket %s never answered: %v\n%s", sock, err, output())
	}, output)
}

// waitUploaded waits until the daemon on sock has no delta left to
// upload: a backup through the daemon returns once the snapshot is
// committed into the spool, and its upload follows.
func waitUploaded(t *testing.T, sock string) {
	t.Helper()
	waitStatus(t, sock, nil, func(st statusapi.Status) bool { return st.PendingDeltas == 0 }, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("the daemon on %s still has deltas to upload after 60s: %+v, %v", sock, st, err)
	}, nil)
}

// waitStatus asks the daemon on sock for its status every 20 ms until it
// answers with one done accepts, failing the test if the daemon exits
// first (a value on exited, nil for none) or with timedOut's message after
// a minute.
func waitStatus(t *testing.T, sock string, exited <-chan error, done func(statusapi.Status) bool, timedOut func(statusapi.Status, error) string, output func() string) {
	t.Helper()
	c := client.New(sock)
	defer c.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		sctx, scancel := context.WithTimeout(t.Context(), 5*time.Second)
		st, err := c.Status(sctx)
		scancel()
		if err == nil && done(st) {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("daemon exited before its socket answered: %v\n%s", err, output())
		case <-deadline:
			t.Fatal(timedOut(st, err))
		case <-tick.C:
		}
	}
}

func snapshotIDs(t *testing.T, home, cfg string) []string {
	t.Helper()
	r := run(t, home, "snapshots", "--config", cfg, "--json")
	r.want(t, 0, "")
	var snaps []snapshotJSON
	if err := json.Unmarshal([]byte(r.stdout), &snaps); err != nil {
		t.Fatalf("snapshots --json: %v %q", err, r.stdout)
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	return ids
}

// Two installations, the daemon of A on a socket that B's config names
// too: `backup --config B` must not report A's snapshot as B's, and
// `status --config B` must not show A's daemon as B's.
func TestBackupRefusesAnotherInstallationsDaemon(t *testing.T) {
	a, b := newSetup(t), newSetup(t)
	sock := filepath.Join(a.home, "run", "a.sock") // run/ is made 0700 by the daemon
	setSocket(t, a.cfg, sock)
	setSocket(t, b.cfg, sock)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	startDaemonBinary(t, a.home, a.cfg, sock)

	r := run(t, b.home, "backup", "--config", b.cfg, "--json")
	r.want(t, 0, "")
	var res struct {
		Snapshot struct {
			ID string `json:"id"`
		} `json:"snapshot"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("backup --json: %v %q", err, r.stdout)
	}
	bIDs := snapshotIDs(t, b.home, b.cfg)
	if len(bIDs) != 1 || res.Snapshot.ID != bIDs[0] {
		t.Fatalf("backup --config B reported snapshot %q; B's snapshots are %v", res.Snapshot.ID, bIDs)
	}
	for _, id := range snapshotIDs(t, a.home, a.cfg) {
		if id == res.Snapshot.ID {
			t.Fatalf("backup --config B reported A's snapshot %s", id)
		}
	}

	if !strings.Contains(r.stderr, "ran here instead") {
		t.Errorf("backup --config B does not say it ran locally:\n%s", r.stderr)
	}

	// A's own daemon still takes A's backups and answers A's status,
	// naming A's repository.
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "nothing changed")
	ast := run(t, a.home, "status", "--config", a.cfg, "--json")
	ast.want(t, 0, "")
	var doc map[string]any
	if err := json.Unmarshal([]byte(ast.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["config"] != a.cfg || doc["repository_id"] == "" || doc["repository_id"] == nil {
		t.Fatalf("status --json does not name A's installation: %v", doc)
	}

	// status names both installations and fails.
	st := run(t, b.home, "status", "--config", b.cfg)
	st.want(t, 2, a.cfg)
	if !strings.Contains(st.stderr, b.cfg) {
		t.Fatalf("status does not name B's config %s:\n%s", b.cfg, st.stderr)
	}
}

// The daemon answering on B's socket is A's, and B's own daemon (on
// another socket) holds B's state lock: backup cannot run locally either
// and says why, instead of reporting A's snapshot.
func TestBackupRefusedWhenOwnStateIsLocked(t *testing.T) {
	a, b := newSetup(t), newSetup(t)
	sockA, sockB := filepath.Join(a.home, "run", "a.sock"), filepath.Join(b.home, "run", "b.sock")
	setSocket(t, a.cfg, sockA)
	setSocket(t, b.cfg, sockB)
	startDaemonBinary(t, a.home, a.cfg, sockA)
	startDaemonBinary(t, b.home, b.cfg, sockB)
	setSocket(t, b.cfg, sockA)
	r := run(t, b.home, "backup", "--config", b.cfg)
	r.want(t, 2, "another installation")
	if !strings.Contains(r.stderr, "another chatsafe process") {
		t.Fatalf("backup does not say B's state is locked:\n%s", r.stderr)
	}
}

// knownRepositoryIDs reads the repository's local state layout; it must
// find exactly the repository the installation opens.
func TestKnownRepositoryIDsIsTheRepository(t *testing.T) {
	s := newSetup(t)
	g := &globalOptions{defaultConfig: filepath.Join(s.home, "none.yaml")}
	var errb strings.Builder
	inst, err := g.openInstance(t.Context(), s.cfg, true, &errb)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if got := knownRepositoryIDs(inst.Config.StateDir); len(got) != 1 || got[0] != inst.Store.ID() {
		t.Fatalf("known repositories %v, the installation's is %s", got, inst.Store.ID())
	}
	if got := knownRepositoryIDs(filepath.Join(s.home, "no-state")); len(got) != 0 {
		t.Fatalf("an empty state directory knows %v", got)
	}
}
