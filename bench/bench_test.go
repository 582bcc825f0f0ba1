package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var tinySpec = Spec{Name: "tiny", Messages: 3000, Chats: 20, MediaBytes: 3 << 20, Seed: 7}

// generateClosed generates a corpus and closes its writer, which
// checkpoints the database and removes the -wal (whose header holds
// random salts by SQLite's design).
func generateClosed(t *testing.T, spec Spec) (string, *Corpus) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "chats")
	c, err := Generate(context.Background(), dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Writer.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, c
}

// readTree returns every regular file's bytes by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, ca := generateClosed(t, tinySpec)
	b, _ := generateClosed(t, tinySpec)
	ta, tb := readTree(t, a), readTree(t, b)
	if len(ta) != len(tb) {
		t.Fatalf("same seed gave %d and %d files", len(ta), len(tb))
	}
	var media int64
	for rel, x := range ta {
		y, ok := tb[rel]
		if !ok {
			t.Fatalf("%s is missing from the second corpus", rel)
		}
		if !bytes.Equal(x, y) {
			t.Fatalf("%s differs between two corpora of the same seed", rel)
		}
		if filepath.Dir(filepath.Dir(rel)) == "media" {
			media += int64(len(x))
		}
	}
	if media != tinySpec.MediaBytes {
		t.Errorf("media total %d bytes, want %d", media, tinySpec.MediaBytes)
	}
	if _, ok := ta[filepath.FromSlash(DBRelPath)]; !ok {
		t.Fatalf("no %s in the corpus", DBRelPath)
	}
	if ca.Files < len(ta) {
		t.Errorf("Corpus.Files = %d, but %d files remain after closing", ca.Files, len(ta))
	}
	s, err := SummarizeDB(context.Background(), filepath.Join(a, DBRelPath))
	if err != nil {
		t.Fatal(err)
	}
	if s.Messages != int64(tinySpec.Messages) || s.MaxID != int64(tinySpec.Messages) {
		t.Errorf("database holds %d messages up to id %d, want %d", s.Messages, s.MaxID, tinySpec.Messages)
	}
}

func TestGenerateSeedMatters(t *testing.T) {
	other := tinySpec
	other.Seed++
	a, _ := generateClosed(t, tinySpec)
	b, _ := generateClosed(t, other)
	ta, tb := readTree(t, a), readTree(t, b)
	db := filepath.FromSlash(DBRelPath)
	if bytes.Equal(ta[db], tb[db]) {
		t.Error("different seeds gave the same database")
	}
}

func TestMediaLooksLikeMedia(t *testing.T) {
	dir, _ := generateClosed(t, tinySpec)
	kinds := map[string]int{}
	for rel, b := range readTree(t, dir) {
		for _, k := range mediaKinds {
			if filepath.Dir(rel) == filepath.FromSlash(k.dir) {
				kinds[k.ext]++
				if !bytes.HasPrefix(b, k.header) || !bytes.HasSuffix(b, k.trailer) {
					t.Errorf("%s lacks its %s magic header or trailer", rel, k.ext)
				}
			}
		}
	}
	for _, k := range mediaKinds[:2] {
		if kinds[k.ext] == 0 {
			t.Errorf("no %s files in a %d-byte media corpus", k.ext, tinySpec.MediaBytes)
		}
	}
}

func TestSmallChangeCommitsToTheLiveDatabase(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "chats")
	c, err := Generate(ctx, dir, tinySpec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Writer.Close()
	before, err := c.Writer.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := c.Writer.SmallChange(ctx, 100, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 100 || ids[0] > ids[len(ids)-1]/10 {
		t.Errorf("updates are not scattered over the history: %v", ids)
	}
	// Another connection sees the change while the writer keeps the
	// database open (the commits sit in the -wal).
	after, err := SummarizeDB(ctx, c.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if after.Messages != before.Messages+100 {
		t.Errorf("after 100 inserts: %d messages, want %d", after.Messages, before.Messages+100)
	}
	if after.Status == before.Status {
		t.Error("the updates changed nothing")
	}
	if fi, err := os.Stat(c.DBPath + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the live database has no -wal holding the commits: %v", err)
	}
	if err := c.Writer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWrittenCountsNewAndRewrittenFiles(t *testing.T) {
	before := listing{"a": {size: 10, mtime: 1}, "b": {size: 20, mtime: 1}, "gone": {size: 5, mtime: 1}}
	after := listing{"a": {size: 10, mtime: 1}, "b": {size: 25, mtime: 2}, "c": {size: 7, mtime: 3}}
	if got := written(before, after); got != 32 {
		t.Errorf("written = %d, want 25 (rewritten b) + 7 (new c) = 32", got)
	}
}

func TestReportRatiosAndTargets(t *testing.T) {
	res := &Results{
		Date:   "2026-01-02T03:04:05Z",
		Corpus: CorpusInfo{Spec: FullSpec},
		Tools: []ToolResult{
			{Tool: "chatsafe", FirstBackupS: 4, StoredBytes: 100, SmallChangeBytes: 1, RestoreS: 12, PeakRSS: 200e6},
			{Tool: "restic", FirstBackupS: 10, StoredBytes: 100, SmallChangeBytes: 100, RestoreS: 10, PeakRSS: 100e6, RestoreReported: 824 << 20},
			{Tool: "borg", Error: "create: exit status 2"},
		},
		Daemon: daemonResult{Measured: true, QuietS: 2, SnapshotS: []float64{2.1, 5, 2.0}, SnapshotMedianS: median([]float64{2.1, 5, 2.0})},
	}
	res.evaluate()
	met := map[string]bool{}
	for _, tg := range res.Targets {
		if tg.Met == nil {
			t.Fatalf("target %q was not judged: %+v", tg.Name, tg)
		}
		met[tg.Name] = *tg.Met
	}
	want := map[string]bool{"first backup": true, "small change: bytes written": true, "restore": false, "commit → snapshot": true, "peak RSS": false}
	for name, w := range want {
		if met[name] != w {
			t.Errorf("target %q met = %v, want %v", name, met[name], w)
		}
	}
	var md strings.Builder
	writeMarkdown(&md, res)
	for _, s := range []string{"4.00 s (0.40×)", "0.000 MB (0.010×)", "12.00 s (1.20×)", "2.10 s", "| borg | failed |", "missed by 20%", "during each restore (free page reporting, the whole machine's): chatsafe 0.000 MB, restic 864 MB."} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
	svg := chartSVG(res)
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Errorf("chart is not well-formed XML: %v", err)
	}
	if !strings.Contains(svg, "0.40×") {
		t.Error("chart lacks chatsafe's first-backup ratio")
	}
}
