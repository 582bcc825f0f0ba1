// Command vulndbgen turns the OSV entries shipped in the golang.org/x/vulndb
// module (data/osv/*.json) into a vulnerability database in the layout
// govulncheck reads with -db file://DIR (index/db.json, index/modules.json,
// index/vulns.json, ID/<id>.json). scripts/vulncheck fetches the module
// through the Go module proxy and runs this, so the check needs no other
// network than the proxy.
//
// Usage: go run ./internal/vulndbgen -osv DIR -out DIR [-modified RFC3339]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// entry is the part of an OSV entry the index needs; the entry itself is
// copied byte for byte.
type entry struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"modified"`
	Published time.Time `json:"published"`
	Aliases   []string  `json:"aliases,omitempty"`
	Affected  []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	// Fixed is left out: govulncheck then reads every entry of a module it
	// uses and checks the entry's own version ranges (slower, never wrong).
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	osvDir := flag.String("osv", "", "directory of OSV entries (<id>.json), e.g. the vulndb module's data/osv")
	out := flag.String("out", "", "directory to write the database to (must not exist)")
	modified := flag.String("modified", "", "database modification time (RFC 3339); default: the newest entry's")
	flag.Parse()
	if err := run(*osvDir, *out, *modified); err != nil {
		fmt.Fprintln(os.Stderr, "vulndbgen:", err)
		os.Exit(1)
	}
}

func run(osvDir, out, modified string) error {
	if osvDir == "" || out == "" {
		return errors.New("give -osv DIR and -out DIR")
	}
	names, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no OSV entries in %s", osvDir)
	}
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
		return err
	}
	var newest time.Time
	modules := map[string]*module{}
	var vulns []vuln
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if e.ID == "" || filepath.Base(name) != e.ID+".json" || strings.ContainsAny(e.ID, `/\`) {
			return fmt.Errorf("%s: entry id %q does not match its file name", name, e.ID)
		}
		for _, t := range []time.Time{e.Modified, e.Published} {
			if t.After(newest) {
				newest = t
			}
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		seen := map[string]bool{}
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			if modules[p] == nil {
				modules[p] = &module{Path: p, Vulns: []moduleVuln{}}
			}
			modules[p].Vulns = append(modules[p].Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
	}
	if modified != "" {
		t, err := time.Parse(time.RFC3339, modified)
		if err != nil {
			return fmt.Errorf("-modified: %w", err)
		}
		newest = t
	}
	mods := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	for name, v := range map[string]any{"db": map[string]time.Time{"modified": newest}, "modules": mods, "vulns": vulns} {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name+".json"), raw, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "vulndbgen: %d entries, %d modules, modified %s\n", len(vulns), len(mods), newest.Format(time.RFC3339))
	return nil
}
