package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// machine is one installation on one machine: its source, state and
// config, all on one shared remote.
type machine struct {
	home, src, cfg string
}

// twoDevices makes device A with `init` on a WebDAV remote served by
// rclone, and device B by copying A's key into a new state directory (as
// a join does) with its own source and config.
func twoDevices(t *testing.T) (a, b machine, srv *remotetest.Server, keyFile string) {
	t.Helper()
	srv = remotetest.StartWebDAV(t, t.TempDir())
	mk := func(name string) machine {
		home := filepath.Join(t.TempDir(), name)
		d := machine{home: home, src: filepath.Join(home, "chats"), cfg: filepath.Join(home, "chatsafe.yaml")}
		if err := os.MkdirAll(d.src, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b = mk("old-phone"), mk("new-laptop")
	keyFile = filepath.Join(a.home, "recovery-key.txt")
	write(t, a.src, "msgstore.txt", "old phone, day 1")
	run(t, a.home, "init", "--source", a.src, "--remote", srv.Spec, "--config", a.cfg, "--state-dir", filepath.Join(a.home, "state"), "--recovery-key-out", keyFile).want(t, 0, "recovery key")
	// B: the same repository and key, its own state and source.
	conf, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := strings.ReplaceAll(string(conf), a.home, b.home)
	if err := os.WriteFile(b.cfg, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(a.home, "state", "key"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(b.home, "state"), 0o700)
	if err := os.WriteFile(filepath.Join(b.home, "state", "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	return a, b, srv, keyFile
}

// deviceOf is the device id a state directory holds.
func deviceOf(t *testing.T, d machine) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.home, "state", "device"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type listed struct {
	ID, Hostname, Device, Branch string
}

func listWriterSnapshots(t *testing.T, home, cfg string) []listed {
	t.Helper()
	r := run(t, home, "snapshots", "--config", cfg, "--json")
	var out []struct {
		ID       string `json:"id"`
		Hostname string `json:"hostname"`
		Device   string `json:"device"`
		Branch   string `json:"branch"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("snapshots --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	var l []listed
	for _, s := range out {
		l = append(l, listed{s.ID, s.Hostname, s.Device, s.Branch})
	}
	return l
}

// restoreHas restores snapshot id as a new device would and checks one file.
func restoreHas(t *testing.T, srv *remotetest.Server, keyFile, id, name, want string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	run(t, t.TempDir(), "restore", "--remote", srv.Spec, "--recovery-key-file", keyFile, "--snapshot", id, "--to", dst).want(t, 0, "restored")
	got, err := os.ReadFile(filepath.Join(dst, name))
	if err != nil || !bytes.Equal(got, []byte(want)) {
		t.Fatalf("snapshot %s: %s = %q, %v; want %q", id[:8], name, got, err, want)
	}
}

// TestSwitchDevices: the new device continues the chain, the old one stops
// with exit 7 and stays stopped, takeover hands the repository back, and
// every snapshot either device reported is listed and restores exactly.
func TestSwitchDevices(t *testing.T) {
	a, b, srv, keyFile := twoDevices(t)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	write(t, b.src, "msgstore.txt", "new laptop, day 2")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	write(t, a.src, "msgstore.txt", "old phone, day 2")
	r := run(t, a.home, "backup", "--config", a.cfg)
	r.want(t, 7, "taken over")
	saidOnce(t, r, "taken over")
	if !strings.Contains(r.stderr, "chatsafe takeover") {
		t.Errorf("the taken-over message does not say what to do: %s", r.stderr)
	}
	// A restart does not resume writing.
	run(t, a.home, "backup", "--config", a.cfg).want(t, 7, "taken over")
	snaps := listWriterSnapshots(t, b.home, b.cfg)
	if len(snaps) != 2 || snaps[0].Device == snaps[1].Device || snaps[0].Device == "" {
		t.Fatalf("snapshots: %+v", snaps)
	}
	restoreHas(t, srv, keyFile, snaps[0].ID, "msgstore.txt", "old phone, day 1")
	restoreHas(t, srv, keyFile, snaps[1].ID, "msgstore.txt", "new laptop, day 2")

	run(t, a.home, "takeover", "--config", a.cfg).want(t, 0, "writes the repository again")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	write(t, b.src, "msgstore.txt", "new laptop, day 3")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 7, "taken over")
	snaps = listWriterSnapshots(t, a.home, a.cfg)
	if len(snaps) != 3 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	restoreHas(t, srv, keyFile, snaps[2].ID, "msgstore.txt", "old phone, day 2")
	run(t, a.home, "check", "--config", a.cfg, "--read-data").want(t, 0, "no errors")
}

// TestForkOnPurpose: device A's newest delta is hidden while B writes the
// same sequence, then put back. check exits 6 naming the fork, prune keeps
// both branches, both restore, and fork resolve ends it.
func TestForkOnPurpose(t *testing.T) {
	a, b, srv, keyFile := twoDevices(t)
	forkOnPurpose(t, a, b, srv)
	both, _ := filepath.Glob(filepath.Join(srv.ObjectsDir(), "deltas", "0000000000000002-*"))
	if len(both) != 2 {
		t.Fatalf("deltas of sequence 2: %v", both)
	}

	r := run(t, a.home, "check", "--config", a.cfg)
	r.want(t, 6, "forked")
	for _, p := range both {
		if !strings.Contains(r.stderr, filepath.Base(p)[17:25]) {
			t.Errorf("check does not name branch %s:\n%s", filepath.Base(p), r.stderr)
		}
	}
	run(t, a.home, "prune", "--config", a.cfg).want(t, 6, "forked")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 6, "fork resolve")
	for _, p := range both {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("a branch was deleted: %v", err)
		}
	}
	snaps := listWriterSnapshots(t, a.home, a.cfg)
	if len(snaps) != 3 || snaps[1].Branch == "" || snaps[2].Branch == "" || snaps[1].Branch == snaps[2].Branch {
		t.Fatalf("snapshots of a fork: %+v", snaps)
	}
	want := map[string]string{deviceOf(t, a): "old phone, day 2", deviceOf(t, b): "new laptop, day 2"}
	for _, s := range snaps[1:] {
		restoreHas(t, srv, keyFile, s.ID, "msgstore.txt", want[s.Device])
	}

	run(t, a.home, "fork", "resolve", "--config", a.cfg, "--keep", snaps[1].Branch[:8]).want(t, 0, "fork resolved")
	run(t, a.home, "check", "--config", a.cfg, "--read-data").want(t, 0, "no errors")
	after := listWriterSnapshots(t, b.home, b.cfg)
	if len(after) != 3 || after[1].Branch != "" {
		t.Fatalf("snapshots after resolve: %+v", after)
	}
	write(t, a.src, "msgstore.txt", "old phone, day 3")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	run(t, a.home, "prune", "--config", a.cfg).want(t, 0, "forgot")
	// B saw its own delta at 2; the merged history goes on past it.
	run(t, b.home, "backup", "--config", b.cfg).want(t, 7, "taken over")
}

// TestTakenOverSaidByEveryWriter: on a device another one took over,
// backup is not the only command to say so. prune --dry-run and a repair
// with nothing to repair warn (exit 0), a prune with nothing to compact
// refuses as backup does (exit 7), fork resolve warns; each says it once,
// in backup's words.
func TestTakenOverSaidByEveryWriter(t *testing.T) {
	a, b, _, _ := twoDevices(t)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	write(t, b.src, "msgstore.txt", "new laptop, day 2")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	// B compacts the two deltas into one: a prune on A then has nothing
	// to compact and goes straight to deleting garbage. (A's delta holds
	// A's newest snapshot, which prune keeps as A's: its record keeps A's
	// device in B's compacted delta.)
	run(t, b.home, "prune", "--config", b.cfg).want(t, 0, "compacted 2 deltas")

	said := func(r result, code int) {
		t.Helper()
		r.want(t, code, "taken over")
		saidOnce(t, r, "taken over")
		if !strings.Contains(r.stderr, "new-laptop") && !strings.Contains(r.stderr, "another device") {
			t.Errorf("the take-over does not name the other device: %s", r.stderr)
		}
		if !strings.Contains(r.stderr, "chatsafe takeover") {
			t.Errorf("the take-over does not say what to do: %s", r.stderr)
		}
	}
	r := run(t, a.home, "prune", "--config", a.cfg, "--dry-run")
	said(r, 0)
	if !strings.Contains(r.stdout, "compact 0 deltas") {
		t.Fatalf("the dry run would compact: %s", r.stdout)
	}
	said(run(t, a.home, "repair", "--config", a.cfg), 0)
	said(run(t, a.home, "prune", "--config", a.cfg), 7)
	said(run(t, a.home, "fork", "resolve", "--config", a.cfg, "--keep", "00"), 1)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 7, "taken over")
	run(t, b.home, "check", "--config", b.cfg).want(t, 0, "no errors")
}

// forkOnPurpose forks a's history: a backs up twice; its delta 2 is
// hidden (through the server, so its listings follow) while b, which
// joined at 1, commits its own sequence 2, and then put back.
func forkOnPurpose(t *testing.T, a, b machine, srv *remotetest.Server) {
	t.Helper()
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	run(t, b.home, "snapshots", "--config", b.cfg).want(t, 0, "1")
	write(t, a.src, "msgstore.txt", "old phone, day 2")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	deltas, _ := filepath.Glob(filepath.Join(srv.ObjectsDir(), "deltas", "0000000000000002-*"))
	if len(deltas) != 1 {
		t.Fatalf("deltas of sequence 2: %v", deltas)
	}
	// Hidden and put back through the server, so its listings follow.
	rem, err := remotes.Open(t.Context(), srv.Spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	name := "deltas/" + filepath.Base(deltas[0])
	hidden, err := os.ReadFile(deltas[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := rem.Delete(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	write(t, b.src, "msgstore.txt", "new laptop, day 2")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	if err := rem.Put(t.Context(), name, bytes.NewReader(hidden), int64(len(hidden))); err != nil {
		t.Fatal(err)
	}
}
