package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// device is one machine in the switching-devices tests: its own home,
// chat directory, config and state directory.
type device struct {
	home, src, cfg, state string
}

func newDevice(t *testing.T, files map[string]string) device {
	t.Helper()
	home := t.TempDir()
	d := device{home: home, src: filepath.Join(home, "chats"), cfg: filepath.Join(home, "chatsafe.yaml"), state: filepath.Join(home, "state")}
	writeFiles(t, d.src, files)
	return d
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// listSnapshots lists the repository with nothing but the remote and the
// key flags (no config).
func listSnapshots(t *testing.T, remote string, keyArgs ...string) []snapshotJSON {
	t.Helper()
	r := run(t, t.TempDir(), append([]string{"snapshots", "--remote", remote, "--json"}, keyArgs...)...)
	r.want(t, 0, "")
	var snaps []snapshotJSON
	if err := json.Unmarshal([]byte(r.stdout), &snaps); err != nil {
		t.Fatalf("snapshots --json: %v %q", err, r.stdout)
	}
	return snaps
}

// restoreAndCompare restores snapshot id without a config and checks the
// files are exactly want.
func restoreAndCompare(t *testing.T, remote, id string, want map[string]string, keyArgs ...string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--snapshot", id, "--to", dst}, keyArgs...)...).want(t, 0, "restored")
	got := map[string]string{}
	filepath.WalkDir(dst, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dst, p)
			got[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if len(got) != len(want) {
		t.Fatalf("snapshot %s restored %v, want %v", id, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("snapshot %s: %s = %q, want %q", id, k, got[k], v)
		}
	}
}

func noFileAt(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatalf("%s was written (%v)", p, err)
		}
	}
}

// TestJoinWithRecoveryKey: the old device backs up to a WebDAV remote
// served by rclone; a new device joins with the recovery key and backs up
// into the same chain; both devices' snapshots are listed and restore
// exactly, with nothing but the remote and the key.
func TestJoinWithRecoveryKey(t *testing.T) {
	dav := remotetest.StartWebDAV(t, t.TempDir())
	oldFiles := map[string]string{"chat.db": "old device", "Media/a.jpg": "picture"}
	a := newDevice(t, oldFiles)
	keyFile := filepath.Join(a.home, "recovery-key.txt")
	run(t, a.home, "init", "--source", a.src, "--remote", dav.Spec, "--config", a.cfg, "--state-dir", a.state, "--recovery-key-out", keyFile).want(t, 0, "recovery key")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")

	newFiles := map[string]string{"chat.db": "new device", "Media/a.jpg": "picture", "Media/b.jpg": "another"}
	b := newDevice(t, newFiles)
	// init without --join says what to run, and writes nothing.
	r := run(t, b.home, "init", "--source", b.src, "--remote", dav.Spec, "--config", b.cfg, "--state-dir", b.state)
	r.want(t, 2, "chatsafe init --join --source "+b.src)
	noFileAt(t, b.cfg, b.state)
	// A wrong key: exit 3, nothing written.
	wrong := filepath.Join(b.home, "wrong")
	os.WriteFile(wrong, []byte(strings.Repeat("ABCD-", 15)+"ABCD\n"), 0o600)
	run(t, b.home, "init", "--join", "--source", b.src, "--remote", dav.Spec, "--config", b.cfg, "--state-dir", b.state, "--recovery-key-file", wrong).want(t, 3, "wrong recovery key")
	noFileAt(t, b.cfg, b.state)

	join := []string{"init", "--join", "--source", b.src, "--remote", dav.Spec, "--config", b.cfg, "--state-dir", b.state, "--recovery-key-file", keyFile}
	run(t, b.home, join...).want(t, 0, "newest sequence 1")
	// The rollback guard holds from the start: the head's sequence is seen.
	states, _ := filepath.Glob(filepath.Join(b.state, "repo-*", "state.json"))
	if len(states) != 1 {
		t.Fatalf("state files %v", states)
	}
	if st, _ := os.ReadFile(states[0]); !strings.Contains(string(st), `"seen_seq":1`) {
		t.Fatalf("state after join: %s", st)
	}
	// Joining again: the config is there (exit 2), and so is the state.
	run(t, b.home, join...).want(t, 2, "already exists")
	join[7] = filepath.Join(b.home, "second.yaml")
	run(t, b.home, join...).want(t, 2, "already joined")
	noFileAt(t, join[7])

	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	key := []string{"--recovery-key-file", keyFile}
	snaps := listSnapshots(t, dav.Spec, key...)
	if len(snaps) != 2 || snaps[0].Seq != 1 || snaps[1].Seq != 2 {
		t.Fatalf("snapshots after the new device's backup: %+v", snaps)
	}
	restoreAndCompare(t, dav.Spec, snaps[0].ID, oldFiles, key...)
	restoreAndCompare(t, dav.Spec, snaps[1].ID, newFiles, key...)
	run(t, t.TempDir(), append([]string{"check", "--remote", dav.Spec, "--read-data"}, key...)...).want(t, 0, "no errors: 2 snapshots")
}

// TestJoinWhereNoRepository: --join on an empty remote says so and writes
// nothing.
func TestJoinWhereNoRepository(t *testing.T) {
	s := newSetup(t)
	d := newDevice(t, map[string]string{"x": "y"})
	empty := filepath.Join(d.home, "empty-remote")
	run(t, d.home, "init", "--join", "--source", d.src, "--remote", empty, "--config", d.cfg, "--state-dir", d.state, "--recovery-key-file", s.keyFile).want(t, 2, "no chatsafe repository")
	noFileAt(t, d.cfg, d.state)
}

// TestRestoreJoin: the one-step form restores and sets the device up with
// the restored directory as its source; the next backup continues the chain.
func TestRestoreJoin(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	d := newDevice(t, nil)
	to := filepath.Join(d.home, "restored")
	run(t, d.home, "restore", "--join", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", to, "--config", d.cfg, "--state-dir", d.state).want(t, 0, "this device now continues")
	b, err := os.ReadFile(filepath.Join(to, "settings.json"))
	if err != nil || string(b) != `{"a":1}` {
		t.Fatalf("restored settings.json: %q %v", b, err)
	}
	cfg, _ := os.ReadFile(d.cfg)
	if !strings.Contains(string(cfg), "source: "+to) {
		t.Fatalf("the config's source is not the restore target:\n%s", cfg)
	}
	os.WriteFile(filepath.Join(to, "new.txt"), []byte("after the switch"), 0o644)
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	snaps := listSnapshots(t, s.remote, "--recovery-key-file", s.keyFile)
	if len(snaps) != 2 || snaps[1].Seq != 2 || snaps[1].Files != 3 {
		t.Fatalf("snapshots: %+v", snaps)
	}
}

// TestInitNeverOverwritesRecoveryKeyFile: an existing --recovery-key-out
// file is refused before anything is written.
func TestInitNeverOverwritesRecoveryKeyFile(t *testing.T) {
	d := newDevice(t, map[string]string{"x": "y"})
	keyOut := filepath.Join(d.home, "key.txt")
	os.WriteFile(keyOut, []byte("my old recovery key\n"), 0o600)
	remote := filepath.Join(d.home, "remote")
	run(t, d.home, "init", "--source", d.src, "--remote", remote, "--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", keyOut).want(t, 2, "never overwrites")
	if b, _ := os.ReadFile(keyOut); string(b) != "my old recovery key\n" {
		t.Fatalf("the key file was changed: %q", b)
	}
	noFileAt(t, d.cfg, d.state, remote)
}

// TestInitFinishesAfterPartialFailure: the second remote is down during
// init; the first holds the repository and the key is saved locally. Run
// again once the remote is back, init finishes with the same key and the
// key file it wrote, and both remotes hold the repository.
func TestInitFinishesAfterPartialFailure(t *testing.T) {
	dav := remotetest.StartWebDAV(t, t.TempDir())
	dav.Stop()
	d := newDevice(t, map[string]string{"chat.db": "x"})
	first := filepath.Join(d.home, "remote")
	keyOut := filepath.Join(d.home, "key.txt")
	args := []string{"--retry-for", "1s", "init", "--source", d.src, "--remote", first, "--remote", dav.Spec, "--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", keyOut}
	r := run(t, d.home, args...)
	if r.code == 0 || !strings.Contains(r.stderr, "run the same init command again") {
		t.Fatalf("init with the second remote down: exit %d\n%s", r.code, r.stderr)
	}
	noFileAt(t, d.cfg)
	saved, err := os.ReadFile(filepath.Join(d.state, "key"))
	if err != nil {
		t.Fatalf("no key saved locally after a partial init: %v", err)
	}
	keyText, _ := os.ReadFile(keyOut)

	dav.Start()
	r = run(t, d.home, args...)
	r.want(t, 0, "finishing that set-up")
	if !strings.Contains(r.stdout, strings.TrimSpace(string(keyText))) {
		t.Fatalf("the finished init shows another key than %s holds", keyOut)
	}
	if again, _ := os.ReadFile(filepath.Join(d.state, "key")); !bytes.Equal(again, saved) {
		t.Fatal("the re-run replaced the saved key")
	}
	noFileAt(t, filepath.Join(d.state, "init-pending"))
	// The set-up is finished: another init over its state directory is refused.
	other := filepath.Join(d.home, "other-remote")
	run(t, d.home, "init", "--source", d.src, "--remote", other, "--config", filepath.Join(d.home, "other.yaml"), "--state-dir", d.state).want(t, 2, "already holds the backup key")
	noFileAt(t, other)
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "1 uploaded")
	for _, rem := range []string{first, dav.Spec} {
		if snaps := listSnapshots(t, rem, "--recovery-key-file", keyOut); len(snaps) != 1 {
			t.Fatalf("%s: %d snapshots", rem, len(snaps))
		}
	}
}
