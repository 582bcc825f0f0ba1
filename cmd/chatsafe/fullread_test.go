package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// TestBackupFullReadEvery: the one-shot `chatsafe backup` takes
// sync.full_read_every from the config. At 1ns a database is due for a
// whole read every run, so a second backup with nothing changed reads it
// whole, where the default (24h) reads none of it.
func TestBackupFullReadEvery(t *testing.T) {
	for _, c := range []struct {
		every string
		whole bool
	}{{"24h", false}, {"1ns", true}} {
		t.Run(c.every, func(t *testing.T) {
			s := newSetup(t)
			cfg, err := os.ReadFile(s.cfg)
			if err != nil || !strings.Contains(string(cfg), "full_read_every: 24h") {
				t.Fatalf("the config init wrote does not say full_read_every: 24h (%v):\n%s", err, cfg)
			}
			cfg = []byte(strings.Replace(string(cfg), "full_read_every: 24h", "full_read_every: "+c.every, 1))
			if err := os.WriteFile(s.cfg, cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			// The database alone: read_bytes counts every file read.
			for _, f := range []string{"settings.json", "Media/IMG-1.jpg"} {
				if err := os.Remove(filepath.Join(s.src, f)); err != nil {
					t.Fatal(err)
				}
			}
			chat := storetest.OpenChatDB(t, filepath.Join(s.src, "msgstore.db"))
			chat.Insert(0, 2000, 500)
			var size int64
			if err := chat.DB.QueryRow("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&size); err != nil {
				t.Fatal(err)
			}
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "")
			r := run(t, s.home, "backup", "--config", s.cfg, "--json")
			r.want(t, 0, "")
			var res struct {
				ReadBytes int64 `json:"read_bytes"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("backup --json: %v\n%s", err, r.stdout)
			}
			if whole := res.ReadBytes >= size; whole != c.whole {
				t.Errorf("full_read_every %s: a backup with nothing changed read %d bytes of a %d-byte database, want whole = %v",
					c.every, res.ReadBytes, size, c.whole)
			}
		})
	}
}
