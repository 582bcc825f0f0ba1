package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRoundOrderRotates(t *testing.T) {
	for r, want := range [][]int{{0, 1, 2, 3, 4}, {1, 2, 3, 4, 0}, {2, 3, 4, 0, 1}, {3, 4, 0, 1, 2}, {4, 0, 1, 2, 3}, {0, 1, 2, 3, 4}} {
		if got := roundOrder(5, r); !slices.Equal(got, want) {
			t.Errorf("roundOrder(5, %d) = %v, want %v", r, got, want)
		}
	}
	// Over n rounds every tool takes every place once.
	const n = 4
	places := map[[2]int]bool{}
	for r := range n {
		for pos, i := range roundOrder(n, r) {
			places[[2]int{i, pos}] = true
		}
	}
	if len(places) != n*n {
		t.Errorf("over %d rounds the tools took %d (tool, place) pairs, want %d", n, len(places), n*n)
	}
	if got := roundOrder(1, 2); !slices.Equal(got, []int{0}) {
		t.Errorf("roundOrder(1, 2) = %v, want [0]", got)
	}
}

func TestSpread(t *testing.T) {
	for _, c := range []struct {
		xs          []float64
		med, lo, hi float64
	}{
		{nil, 0, 0, 0},
		{[]float64{2.5}, 2.5, 2.5, 2.5},
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 2, 10}, 3, 1, 10},
	} {
		med, lo, hi := spread(c.xs)
		if med != c.med || lo != c.lo || hi != c.hi {
			t.Errorf("spread(%v) = %v, %v, %v, want %v, %v, %v", c.xs, med, lo, hi, c.med, c.lo, c.hi)
		}
	}
}

func TestSummariesAreMediansAndMaxima(t *testing.T) {
	r := &ToolResult{Tool: "chatsafe",
		FirstBackupSamples: []phaseSample{
			{Round: 1, Position: 1, WallS: 3, CPUS: 5, RSS: 90, FlushS: 0.2, StoredBytes: 100},
			{Round: 2, Position: 3, WallS: 9, CPUS: 6, RSS: 70, FlushS: 0.4, StoredBytes: 100},
			{Round: 3, Position: 2, WallS: 4, CPUS: 4, RSS: 80, FlushS: 0.1, StoredBytes: 101},
		},
		RestoreSamples: []phaseSample{
			{Round: 1, Position: 2, WallS: 2, CPUS: 3, RSS: 50, Reported: 7, Verified: true},
			{Round: 2, Position: 1, WallS: 1, CPUS: 2, RSS: 60, Verified: true},
		},
	}
	r.summarizeFirstBackups()
	r.summarizeRestores()
	if r.FirstBackupS != 4 || r.FirstBackupCPU != 5 || r.FirstBackupFlushS != 0.2 || r.FirstBackupRSS != 90 {
		t.Errorf("first backup: %v s, CPU %v s, flush %v s, RSS %d; want the medians 4, 5, 0.2 and the largest RSS 90",
			r.FirstBackupS, r.FirstBackupCPU, r.FirstBackupFlushS, r.FirstBackupRSS)
	}
	if r.StoredBytes != 101 || !r.StoredBytesVaried {
		t.Errorf("stored %d bytes, varied %v; want the last round's 101, varied", r.StoredBytes, r.StoredBytesVaried)
	}
	if r.RestoreS != 1.5 || r.RestoreCPU != 2.5 || r.RestoreRSS != 60 || r.RestoreReported != 7 || !r.RestoreVerified {
		t.Errorf("restore: %v s, CPU %v s, RSS %d, reported %d, verified %v; want 1.5, 2.5, 60, 7, true",
			r.RestoreS, r.RestoreCPU, r.RestoreRSS, r.RestoreReported, r.RestoreVerified)
	}
	r.RestoreSamples[1].Verified = false
	if r.summarizeRestores(); r.RestoreVerified {
		t.Error("verified with a round whose restore was not checked")
	}
}

func TestReportSaysMedianOfRounds(t *testing.T) {
	res := &Results{
		Date:   "2026-01-02T03:04:05Z",
		Corpus: CorpusInfo{Spec: FullSpec},
		Repeat: 3,
		Tools: []ToolResult{
			{Tool: "chatsafe", FirstBackupSamples: []phaseSample{{Round: 1, Position: 1, WallS: 4}, {Round: 2, Position: 2, WallS: 8}, {Round: 3, Position: 2, WallS: 3}},
				RestoreSamples: []phaseSample{{Round: 1, Position: 1, WallS: 1, Verified: true}, {Round: 2, Position: 2, WallS: 2, Reported: 5e6, Verified: true}, {Round: 3, Position: 2, WallS: 1.5, Verified: true}}},
			{Tool: "restic", FirstBackupSamples: []phaseSample{{Round: 1, Position: 2, WallS: 10, StoredBytes: 100}, {Round: 2, Position: 1, WallS: 10, StoredBytes: 101}, {Round: 3, Position: 1, WallS: 10, StoredBytes: 101}},
				RestoreSamples: []phaseSample{{Round: 1, Position: 2, WallS: 2, Verified: true}, {Round: 2, Position: 1, WallS: 2, Verified: true}, {Round: 3, Position: 1, WallS: 2, Verified: true}}},
		},
	}
	for i := range res.Tools {
		res.Tools[i].summarizeFirstBackups()
		res.Tools[i].summarizeRestores()
	}
	res.evaluate()
	var md strings.Builder
	writeMarkdown(&md, res)
	for _, s := range []string{
		"| first backup (median of 3) |", "| restore (median of 3) |", "4.00 s (0.40×)", "1.50 s (0.75×)",
		"| chatsafe | 4.00 s | 3.00–8.00 s | 4.00 (1st), 8.00 (2nd), 3.00 (2nd) | 1.50 s | 1.00–2.00 s | 1.00 (1st), 2.00 (2nd), 1.50 (2nd) |",
		"0.40× (restic: 10.00 s; median of 3)", "0.75× (restic: 2.00 s; median of 3)", "0.40× (median of 3)",
		"chatsafe 0.000 MB / 5.0 MB / 0.000 MB",
		"restic's first backups stored different amounts: 100, 101, 101 bytes (the table gives the last round's).",
	} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
}

// The bench with two rounds on a tiny corpus, chatsafe and restic: every
// round's first backup and restore is recorded, in the rotated order, and
// every restore was checked.
func TestBenchRecordsEveryRound(t *testing.T) {
	ctx := context.Background()
	if _, err := exec.LookPath("restic"); err != nil {
		// go install puts it in GOPATH/bin, which need not be on PATH.
		gopath, gerr := exec.Command("go", "env", "GOPATH").Output()
		if gerr != nil {
			t.Fatalf("restic is not on PATH and go env GOPATH failed: %v", gerr)
		}
		t.Setenv("PATH", filepath.Join(strings.TrimSpace(string(gopath)), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		if _, err := exec.LookPath("restic"); err != nil {
			t.Fatalf("this test needs a peer: %s", installHint["restic"])
		}
	}
	work := t.TempDir()
	bin := buildChatsafe(t, work)
	out := filepath.Join(work, "out")
	o := options{spec: tinySpec, out: out, work: filepath.Join(work, "scratch"), tools: []string{"chatsafe", "restic"},
		chatsafeBin: bin, repeat: 2}
	if err := runBench(ctx, o); err != nil {
		t.Fatal(err)
	}
	res := readResults(t, out)
	if res.Repeat != 2 || len(res.Tools) != 2 {
		t.Fatalf("results: repeat %d, %d tools (%+v), want 2 and 2", res.Repeat, len(res.Tools), res.Skipped)
	}
	for i, r := range res.Tools {
		if r.Error != "" {
			t.Fatalf("%s failed: %s", r.Tool, r.Error)
		}
		for phase, ss := range map[string][]phaseSample{"first backup": r.FirstBackupSamples, "restore": r.RestoreSamples} {
			if len(ss) != 2 {
				t.Fatalf("%s: %d %s samples, want 2", r.Tool, len(ss), phase)
			}
			for round, s := range ss {
				// Round 1 runs the tools in order, round 2 starts at the second.
				if want := roundOrder(2, round); s.Round != round+1 || s.Position != slices.Index(want, i)+1 {
					t.Errorf("%s: %s sample %d is round %d, place %d; want round %d, place %d", r.Tool, phase, round, s.Round, s.Position, round+1, slices.Index(want, i)+1)
				}
				if s.WallS <= 0 || s.CPUS <= 0 || s.UserS <= 0 || s.RSS <= 0 {
					t.Errorf("%s: %s round %d: %+v lacks a wall time, CPU, user time or RSS", r.Tool, phase, s.Round, s)
				}
				if phase == "first backup" && (s.StoredBytes <= 0 || s.StoredBytes < int64(float64(res.Corpus.Bytes)/4)) {
					t.Errorf("%s: round %d stored %d bytes of a %d-byte corpus", r.Tool, s.Round, s.StoredBytes, res.Corpus.Bytes)
				}
				if phase == "restore" && !s.Verified {
					t.Errorf("%s: the restore of round %d was not checked", r.Tool, s.Round)
				}
			}
			med, _, _ := spread(walls(ss))
			got := map[string]float64{"first backup": r.FirstBackupS, "restore": r.RestoreS}[phase]
			if got != med {
				t.Errorf("%s: %s %v s, want the rounds' median %v s", r.Tool, phase, got, med)
			}
		}
		// chatsafe stores the same bytes for the same corpus: a round that
		// backed up into the previous round's repository would store more.
		if r.Tool == "chatsafe" && r.FirstBackupSamples[0].StoredBytes != r.FirstBackupSamples[1].StoredBytes {
			t.Errorf("chatsafe stored %d then %d bytes: the second round did not start from a fresh repository", r.FirstBackupSamples[0].StoredBytes, r.FirstBackupSamples[1].StoredBytes)
		}
		if !r.RestoreVerified || r.StoredBytes != r.FirstBackupSamples[1].StoredBytes {
			t.Errorf("%s: verified %v, stored %d bytes; want verified and the last round's %d", r.Tool, r.RestoreVerified, r.StoredBytes, r.FirstBackupSamples[1].StoredBytes)
		}
	}
}

// A restore round starts from the local state the backups left: what an
// earlier round added to a tool's cache is gone, what was there stays.
func TestStateKeeperPutsTheStateBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.MkdirAll(filepath.Join(dir, "index"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index", "a"), []byte("before"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := keepState(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer k.drop()
	if err := os.WriteFile(filepath.Join(dir, "index", "a"), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "contents"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k.reset(newRetirer(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "index", "a")); err != nil || string(b) != "before" {
		t.Fatalf("index/a after the reset: %q, %v; want \"before\"", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "contents")); !os.IsNotExist(err) {
		t.Fatalf("what the round cached is still there: %v", err)
	}
}

// buildChatsafe builds ./cmd/chatsafe into work/bin and returns its path.
func buildChatsafe(t *testing.T, work string) string {
	t.Helper()
	bin := filepath.Join(work, "bin", "chatsafe")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/chatsafe/chatsafe/cmd/chatsafe").CombinedOutput(); err != nil {
		t.Fatalf("building chatsafe: %v\n%s", err, out)
	}
	return bin
}

// readResults reads the results.json a bench run wrote into out.
func readResults(t *testing.T, out string) Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// dirTool is a tool whose Init leaves a marker in its Dir.
type dirTool struct {
	tool
	toolDir
	inits int
}

func (d *dirTool) Name() string      { return "x" }
func (d *dirTool) Dir() string       { return d.toolDir.Dir() }
func (d *dirTool) moveTo(dir string) { d.toolDir.moveTo(dir) }
func (d *dirTool) Init(context.Context) error {
	d.inits++
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.dir, "init"), nil, 0o600)
}

// Each round's repository is made in a directory of its own, and the last
// round's is retired once the new one is there.
func TestFreshRepositoryMovesToANewDirectory(t *testing.T) {
	work := t.TempDir()
	b := &benchRun{work: work, retired: newRetirer(work)}
	d := &dirTool{toolDir: toolDir{filepath.Join(work, "x")}}
	if err := d.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	for round, want := range []string{"x-r2", "x-r3"} {
		last := d.Dir()
		if err := b.freshRepository(context.Background(), d, round+1); err != nil {
			t.Fatal(err)
		}
		if got := d.Dir(); got != filepath.Join(work, want) {
			t.Fatalf("round %d: Dir %s, want %s", round+2, got, filepath.Join(work, want))
		}
		if _, err := os.Stat(filepath.Join(d.Dir(), "init")); err != nil {
			t.Fatalf("round %d: the new directory was not initialised: %v", round+2, err)
		}
		if _, err := os.Stat(last); !os.IsNotExist(err) {
			t.Fatalf("round %d: the last round's %s is still there (%v)", round+2, last, err)
		}
	}
	if d.inits != 3 {
		t.Fatalf("%d inits, want 3", d.inits)
	}
	if retired, _ := filepath.Glob(filepath.Join(work, "retired", "*-x*")); len(retired) != 2 {
		t.Fatalf("retired %v, want the first two rounds' directories", retired)
	}
	if got, want := roundDir(work, "restore-x", 0), filepath.Join(work, "restore-x"); got != want {
		t.Fatalf("roundDir of the first round = %s, want %s", got, want)
	}
}
