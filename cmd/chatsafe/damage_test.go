package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// damagedSnapshotIDs lists the snapshot ids `snapshots --json` prints, wanting
// exit code code.
func damagedSnapshotIDs(t *testing.T, home string, code int, args ...string) []string {
	t.Helper()
	r := run(t, home, append([]string{"snapshots", "--json"}, args...)...)
	if r.code != code {
		t.Fatalf("snapshots: exit %d, want %d\n%s", r.code, code, r.stderr)
	}
	var out []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("snapshots --json: %v\n%s", err, r.stdout)
	}
	var ids []string
	for _, s := range out {
		ids = append(ids, s.ID)
	}
	return ids
}

func deltaPaths(t *testing.T, dir string) []string {
	t.Helper()
	d, _ := filepath.Glob(filepath.Join(dir, "deltas", "*"))
	sort.Strings(d)
	return d
}

// TestDamagedTrailerCLI: on a WebDAV remote served by rclone, the newest
// delta's trailer is flipped. backup refuses (exit 6, naming it),
// snapshots lists the intact one (exit 9, warning), a new device restores
// the older snapshot (exit 9), check exits 6; repair --dry-run changes
// nothing, repair makes the repository writable, and backup commits.
func TestDamagedTrailerCLI(t *testing.T) {
	home := t.TempDir()
	srv := remotetest.StartWebDAV(t, t.TempDir())
	src, cfg, keyFile := filepath.Join(home, "chats"), filepath.Join(home, "chatsafe.yaml"), filepath.Join(home, "key.txt")
	os.MkdirAll(src, 0o755)
	write(t, src, "msgstore.txt", "day 1")
	run(t, home, "init", "--source", src, "--remote", srv.Spec, "--config", cfg, "--state-dir", filepath.Join(home, "state"), "--recovery-key-out", keyFile).want(t, 0, "recovery key")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	first := damagedSnapshotIDs(t, home, 0, "--config", cfg)
	write(t, src, "msgstore.txt", "day 2")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	d := deltaPaths(t, srv.ObjectsDir())
	if len(d) != 2 {
		t.Fatalf("deltas: %v", d)
	}
	b, _ := os.ReadFile(d[1])
	b[len(b)-30] ^= 0x40
	os.WriteFile(d[1], b, 0o644)
	name := filepath.Base(d[1])

	write(t, src, "msgstore.txt", "day 3")
	run(t, home, "backup", "--config", cfg).want(t, 6, name)
	if n := len(deltaPaths(t, srv.ObjectsDir())); n != 2 {
		t.Fatalf("%d deltas after a refused backup, want 2", n)
	}
	if ids := damagedSnapshotIDs(t, home, 9, "--config", cfg); len(ids) != 1 || ids[0] != first[0] {
		t.Fatalf("intact snapshots: %v, want %v", ids, first)
	}
	run(t, home, "snapshots", "--config", cfg).want(t, 9, "WARNING")
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), "restore", "--remote", srv.Spec, "--recovery-key-file", keyFile, "--snapshot", first[0][:8], "--to", dst).want(t, 9, name)
	if got, _ := os.ReadFile(filepath.Join(dst, "msgstore.txt")); string(got) != "day 1" {
		t.Fatalf("restored %q", got)
	}
	run(t, home, "check", "--config", cfg).want(t, 6, name)

	before := storetest.DirDigest(t, srv.ObjectsDir(), nil)
	run(t, home, "repair", "--config", cfg, "--dry-run").want(t, 0, "move aside: deltas/"+name)
	if after := storetest.DirDigest(t, srv.ObjectsDir(), nil); len(after) != len(before) || after["deltas/"+name] != before["deltas/"+name] {
		t.Fatal("repair --dry-run changed the remote")
	}
	run(t, home, "repair", "--config", cfg).want(t, 0, "repaired")
	if _, err := os.Stat(filepath.Join(srv.ObjectsDir(), "damaged", name)); err != nil {
		t.Fatalf("the damaged delta was not moved aside: %v", err)
	}
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	if ids := damagedSnapshotIDs(t, home, 0, "--config", cfg); len(ids) != 2 || ids[0] != first[0] {
		t.Fatalf("snapshots after repair: %v", ids)
	}
	run(t, home, "check", "--config", cfg, "--read-data").want(t, 0, "no errors")
	run(t, home, "repair", "--config", cfg).want(t, 0, "nothing to repair")
}

// TestDeletedNewestCLI: on a local remote the newest delta is deleted.
// This device saw it: snapshots warns of a rollback (exit 9), backup is
// refused (exit 6), repair recovers, and an old copy of the remote put
// back afterwards is still refused for committing.
func TestDeletedNewestCLI(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(`{"a":2}`), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	d := deltaPaths(t, s.remote)
	os.Remove(d[1])
	name := filepath.Base(d[1])
	if ids := damagedSnapshotIDs(t, s.home, 9, "--config", s.cfg); len(ids) != 1 {
		t.Fatalf("intact snapshots: %v", ids)
	}
	run(t, s.home, "snapshots", "--config", s.cfg).want(t, 9, name)
	os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(`{"a":3}`), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 6, "rollback")
	run(t, s.home, "repair", "--config", s.cfg).want(t, 0, "repaired")
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(s.remote)); err != nil {
		t.Fatal(err)
	}
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	os.RemoveAll(s.remote)
	if err := os.CopyFS(s.remote, os.DirFS(old)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(`{"a":4}`), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 6, "rollback")
	if n := len(deltaPaths(t, s.remote)); n != 2 {
		t.Fatalf("%d deltas on the rolled-back remote, want 2 (nothing committed)", n)
	}
	run(t, s.home, "snapshots", "--config", s.cfg).want(t, 9, "rollback")
}
