package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestRunBuildsIndex(t *testing.T) {
	src := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("GO-2024-0001.json", `{"id":"GO-2024-0001","modified":"2024-01-02T00:00:00Z","aliases":["CVE-1"],"affected":[{"package":{"name":"example.com/a"}},{"package":{"name":"example.com/a"}}]}`)
	write("GO-2024-0002.json", `{"id":"GO-2024-0002","modified":"2024-03-04T00:00:00Z","affected":[{"package":{"name":"example.com/a"}},{"package":{"name":"stdlib"}}]}`)
	out := filepath.Join(t.TempDir(), "db")
	if err := run(src, out, ""); err != nil {
		t.Fatal(err)
	}
	var mods []module
	raw, err := os.ReadFile(filepath.Join(out, "index", "modules.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &mods); err != nil {
		t.Fatal(err)
	}
	if len(mods) != 2 || mods[0].Path != "example.com/a" || len(mods[0].Vulns) != 2 || mods[1].Path != "stdlib" || len(mods[1].Vulns) != 1 {
		t.Fatalf("modules index: %s", raw)
	}
	var db map[string]string
	raw, _ = os.ReadFile(filepath.Join(out, "index", "db.json"))
	if err := json.Unmarshal(raw, &db); err != nil || db["modified"] != "2024-03-04T00:00:00Z" {
		t.Fatalf("db.json: %s (%v)", raw, err)
	}
	if _, err := os.Stat(filepath.Join(out, "ID", "GO-2024-0002.json")); err != nil {
		t.Fatal(err)
	}
	write("GO-2024-0003.json", `{"id":"GO-2024-9999"}`)
	if err := run(src, filepath.Join(t.TempDir(), "db"), ""); err == nil {
		t.Fatal("an entry whose id does not match its file name was accepted")
	}
}
