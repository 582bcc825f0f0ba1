package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// jsonKeys lists the keys of a JSON document, nested ones as "a.b".
func jsonKeys(t *testing.T, doc string) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, doc)
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			keys = append(keys, prefix+k)
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", m)
	slices.Sort(keys)
	return keys
}

// `backup --json` prints one schema (README, "Scripting"), whether the
// backup ran here or in this installation's daemon; by_daemon says which.
func TestBackupJSONOneSchemaLocalAndDaemon(t *testing.T) {
	s := newSetup(t)
	sock := filepath.Join(s.home, "run", "s.sock")
	setSocket(t, s.cfg, sock)
	local := run(t, s.home, "backup", "--config", s.cfg, "--json")
	local.want(t, 0, "")

	startDaemonBinary(t, s.home, s.cfg, sock)
	if err := os.WriteFile(filepath.Join(s.src, "new.txt"), []byte("a new message"), 0o644); err != nil {
		t.Fatal(err)
	}
	viaDaemon := run(t, s.home, "backup", "--config", s.cfg, "--json")
	viaDaemon.want(t, 0, "")

	lk, dk := jsonKeys(t, local.stdout), jsonKeys(t, viaDaemon.stdout)
	if !slices.Equal(lk, dk) {
		t.Fatalf("backup --json keys differ:\nlocal:     %v\nby daemon: %v", lk, dk)
	}
	var l, d struct {
		ByDaemon bool `json:"by_daemon"`
		Snapshot struct {
			ID    string `json:"id"`
			Files uint64 `json:"files"`
		} `json:"snapshot"`
	}
	json.Unmarshal([]byte(local.stdout), &l)
	json.Unmarshal([]byte(viaDaemon.stdout), &d)
	if l.ByDaemon || !d.ByDaemon {
		t.Fatalf("by_daemon: local %v, through the daemon %v", l.ByDaemon, d.ByDaemon)
	}
	if d.Snapshot.ID == "" || d.Snapshot.ID == l.Snapshot.ID || d.Snapshot.Files != l.Snapshot.Files+1 {
		t.Fatalf("the daemon's snapshot %+v does not follow the local one %+v with the new file", d.Snapshot, l.Snapshot)
	}
}
