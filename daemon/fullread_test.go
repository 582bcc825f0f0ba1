package daemon_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
)

// TestFullReadEveryFromConfig: sync.full_read_every reaches the daemon's
// scans. At 1ns every database is due for a whole read each cycle, so a
// backup with nothing changed since the last reads the database whole,
// where the default (24h) reads none of it.
func TestFullReadEveryFromConfig(t *testing.T) {
	for _, c := range []struct {
		every string
		whole bool
	}{{"24h", false}, {"1ns", true}} {
		t.Run(c.every, func(t *testing.T) {
			in := newInstall(t, 1)
			setConfig(t, in.cfgPath, "full_read_every: 24h", "full_read_every: "+c.every)
			chat := openChat(t, in.src)
			chat.write(t, 2000)
			var pages, pageSize int64
			if err := chat.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
				t.Fatal(err)
			}
			if err := chat.db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
				t.Fatal(err)
			}
			d := runInProcess(t, in, daemon.Options{})
			backupNow(t, d)
			res := backupNow(t, d)
			if whole := res.ReadBytes >= pages*pageSize; whole != c.whole {
				t.Errorf("full_read_every %s: a backup with nothing changed read %d bytes of a %d-byte database, want whole = %v",
					c.every, res.ReadBytes, pages*pageSize, c.whole)
			}
		})
	}
}

// setConfig replaces old with new in the config file at path.
func setConfig(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not say %q:\n%s", path, old, b)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}
