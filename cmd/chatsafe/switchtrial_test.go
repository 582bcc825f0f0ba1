package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// joinTrial is the new user's trial of switching devices: device A backs
// up a live chat database; device B restores and joins at A's sequence 2;
// A's daemon keeps running and commits sequences 3 and 4 (42 messages)
// before B's first commit. One local remote, two state directories.
type joinTrial struct {
	a, b          device
	remote, key   string
	aDB           *storetest.ChatDB
	aNewest       snapshotJSON // A's snapshot of sequence 4
	aNewestDigest string       // its database's rows
}

func newJoinTrial(t *testing.T, retention string) *joinTrial {
	t.Helper()
	tr := &joinTrial{a: newDevice(t, nil), b: newDevice(t, nil)}
	tr.remote = filepath.Join(t.TempDir(), "remote")
	tr.key = filepath.Join(tr.a.home, "key.txt")
	if err := os.MkdirAll(tr.a.src, 0o755); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(tr.a.src, "msgstore.db")
	tr.aDB = storetest.OpenChatDB(t, dbPath)
	tr.aDB.Insert(0, 10, 10)
	run(t, tr.a.home, "init", "--source", tr.a.src, "--remote", tr.remote, "--config", tr.a.cfg, "--state-dir", tr.a.state, "--recovery-key-out", tr.key).want(t, 0, "recovery key")
	run(t, tr.a.home, "backup", "--config", tr.a.cfg).want(t, 0, "saved")
	tr.aDB.Insert(10, 20, 10)
	run(t, tr.a.home, "backup", "--config", tr.a.cfg).want(t, 0, "saved")

	run(t, tr.b.home, "restore", "--join", "--remote", tr.remote, "--recovery-key-file", tr.key, "--to", tr.b.src, "--config", tr.b.cfg, "--state-dir", tr.b.state).want(t, 0, "newest sequence 2")
	if retention != "" {
		setRetention(t, tr.b.cfg, retention)
	}

	// A's daemon kept running.
	tr.aDB.Insert(20, 30, 10)
	run(t, tr.a.home, "backup", "--config", tr.a.cfg).want(t, 0, "saved")
	tr.aDB.Insert(30, 42, 12)
	run(t, tr.a.home, "backup", "--config", tr.a.cfg).want(t, 0, "saved")
	tr.aNewestDigest = storetest.DBDigest(t, dbPath)
	snaps := listSnapshots(t, tr.remote, "--recovery-key-file", tr.key)
	if len(snaps) != 4 || snaps[3].Seq != 4 {
		t.Fatalf("A's snapshots: %+v", snaps)
	}
	tr.aNewest = snaps[3]
	return tr
}

// setRetention replaces the retention section of the config at path with
// block (the whole section, "retention:" and its keys).
func setRetention(t *testing.T, path, block string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in, found := false, false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "retention:":
			in, found = true, true
			out = append(out, strings.TrimRight(block, "\n"))
			continue
		case in && strings.HasPrefix(line, " "):
			continue
		}
		in = false
		out = append(out, line)
	}
	if !found {
		t.Fatalf("no retention section in %s:\n%s", path, b)
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// bBackup adds messages to B's restored database and backs up on B.
func (tr *joinTrial) bBackup(t *testing.T, from, to int, args ...string) result {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(tr.b.src, "msgstore.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if _, err := db.Exec(`INSERT INTO messages(id, chat, sender, body, ts) VALUES(?,?,?,?,?)`, i, 1, "b", storetest.MessageBody(i), 1800000000+i); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	r := run(t, tr.b.home, append([]string{"backup", "--config", tr.b.cfg}, args...)...)
	r.want(t, 0, "")
	return r
}

// has reports whether the repository lists the snapshot id.
func (tr *joinTrial) has(t *testing.T, id string) (snapshotJSON, bool) {
	t.Helper()
	for _, s := range listSnapshots(t, tr.remote, "--recovery-key-file", tr.key) {
		if s.ID == id {
			return s, true
		}
	}
	return snapshotJSON{}, false
}

// restoreDigest restores snapshot id as a new device would and digests
// its database's rows.
func (tr *joinTrial) restoreDigest(t *testing.T, id string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), "restore", "--remote", tr.remote, "--recovery-key-file", tr.key, "--snapshot", id, "--to", dst).want(t, 0, "restored")
	return storetest.DBDigest(t, filepath.Join(dst, "msgstore.db"))
}

// TestPruneKeepsOldDeviceNewest: B writes many snapshots after joining;
// prune with keep_last 2 keeps A's newest snapshot (the only one holding
// A's messages 31 to 42), says why, and still does after a second prune
// has compacted the history; it restores to A's database exactly.
// `prune --forget-device` lets it go on purpose.
func TestPruneKeepsOldDeviceNewest(t *testing.T) {
	tr := newJoinTrial(t, "retention:\n  keep_last: 2\n")
	aDev := deviceOf(t, machine{home: tr.a.home})
	if tr.aNewest.Device != aDev {
		t.Fatalf("A's newest snapshot names device %q, want %q", tr.aNewest.Device, aDev)
	}
	for i := range 4 {
		tr.bBackup(t, 1000+i*5, 1005+i*5)
	}
	dry := run(t, tr.b.home, "prune", "--config", tr.b.cfg, "--dry-run")
	dry.want(t, 0, "would forget")
	if !strings.Contains(dry.stdout, tr.aNewest.ShortID) || !strings.Contains(dry.stdout, "newest of device") || !strings.Contains(dry.stdout, aDev[:8]) {
		t.Errorf("prune --dry-run does not say it keeps A's newest snapshot %s (device %s):\n%s", tr.aNewest.ShortID, aDev[:8], dry.stdout)
	}
	run(t, tr.b.home, "prune", "--config", tr.b.cfg).want(t, 0, "forgot")
	s, ok := tr.has(t, tr.aNewest.ID)
	if !ok {
		t.Fatalf("prune forgot A's newest snapshot %s: the messages A backed up after B joined are gone", tr.aNewest.ShortID)
	}
	if s.Device != aDev || !containsPrefix(s.KeepReasons, "newest of device") {
		t.Fatalf("A's newest after prune: device %q (want %q), keep reasons %q", s.Device, aDev, s.KeepReasons)
	}

	// More of B, and a second prune over the compacted history.
	for i := range 3 {
		tr.bBackup(t, 2000+i*5, 2005+i*5)
	}
	run(t, tr.b.home, "prune", "--config", tr.b.cfg).want(t, 0, "forgot")
	if s, ok := tr.has(t, tr.aNewest.ID); !ok || s.Device != aDev {
		t.Fatalf("the second prune: A's newest snapshot listed %v, device %q (want %q)", ok, s.Device, aDev)
	}
	if got := tr.restoreDigest(t, tr.aNewest.ID); got != tr.aNewestDigest {
		t.Fatalf("A's newest snapshot restores %s, want A's database %s", got, tr.aNewestDigest)
	}
	out := run(t, tr.b.home, "snapshots", "--config", tr.b.cfg)
	if !strings.Contains(out.stdout, "newest of device") {
		t.Fatalf("snapshots does not say why A's snapshot is kept:\n%s", out.stdout)
	}

	// Let it go on purpose.
	run(t, tr.b.home, "prune", "--config", tr.b.cfg, "--forget-device", "nosuchdevice").want(t, exitUsage, "no device")
	run(t, tr.b.home, "prune", "--config", tr.b.cfg, "--forget-device", aDev[:8]).want(t, 0, "forgot")
	if _, ok := tr.has(t, tr.aNewest.ID); ok {
		t.Fatalf("prune --forget-device %s kept A's newest snapshot", aDev[:8])
	}
	if n := len(listSnapshots(t, tr.remote, "--recovery-key-file", tr.key)); n != 2 {
		t.Fatalf("%d snapshots after forgetting device A, want B's 2", n)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestJoinedFirstBackupWarnsHeadMoved: B restored at sequence 2 and A
// committed 3 and 4 since; B's first backup says so, naming A, its
// snapshots and how to get what they hold, in the CLI's output and in
// --json's warnings. It backs up all the same (exit 0), and says it once.
func TestJoinedFirstBackupWarnsHeadMoved(t *testing.T) {
	check := func(t *testing.T, tr *joinTrial, text string) {
		t.Helper()
		aDev := deviceOf(t, machine{home: tr.a.home})
		for _, want := range []string{"joined at sequence 2", "sequences 3 to 4", "device " + aDev[:8], "chatsafe restore --snapshot " + tr.aNewest.ShortID, "chatsafe dump " + tr.aNewest.ShortID} {
			if !strings.Contains(text, want) {
				t.Errorf("B's first backup does not say %q:\n%s", want, text)
			}
		}
	}
	t.Run("text", func(t *testing.T) {
		tr := newJoinTrial(t, "")
		r := tr.bBackup(t, 1000, 1005)
		check(t, tr, r.stderr)
		if r2 := tr.bBackup(t, 1005, 1010); strings.Contains(r2.stderr+r2.stdout, "joined at sequence") {
			t.Fatalf("B's second backup warns again:\n%s", r2.stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		tr := newJoinTrial(t, "")
		r := tr.bBackup(t, 1000, 1005, "--json")
		var out backupResultJSON
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("backup --json: %v\n%s", err, r.stdout)
		}
		if out.Snapshot.Seq != 5 || len(out.Warnings) != 1 {
			t.Fatalf("backup --json: seq %d, warnings %q", out.Snapshot.Seq, out.Warnings)
		}
		check(t, tr, out.Warnings[0])
	})
}
