package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestParseRSSSplit(t *testing.T) {
	status := "Name:\tchatsafe\nVmHWM:\t  160000 kB\nVmRSS:\t  150000 kB\nRssAnon:\t   80000 kB\nRssFile:\t   69000 kB\nRssShmem:\t    1000 kB\nThreads:\t9\n"
	s, err := parseRSSSplit([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (rssSplit{Total: 150000 << 10, Anon: 80000 << 10, File: 70000 << 10, HWM: 160000 << 10}); s != want {
		t.Errorf("parsed %+v, want %+v", s, want)
	}
	for _, bad := range []string{"VmRSS:\t1 kB\n", "VmRSS:\tx kB\nRssAnon:\t1 kB\nRssFile:\t1 kB\nRssShmem:\t0 kB\n", "VmRSS:\t1 MB\n"} {
		if _, err := parseRSSSplit([]byte(bad)); err == nil {
			t.Errorf("parsed %q without an error", bad)
		}
	}
}

// The child's memory is sampled while it runs: on Linux the split of a
// real process is non-zero and within its rusage peak.
func TestRunSamplesTheChildsMemory(t *testing.T) {
	p, err := run(context.Background(), command{name: "sh", args: []string{"-c", "sleep 0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" {
		if p.RSS != (rssSplit{}) {
			t.Errorf("sampled %+v without /proc", p.RSS)
		}
		return
	}
	if p.RSS.Anon <= 0 || p.RSS.File <= 0 || p.RSS.Total < p.RSS.Anon+p.RSS.File-(1<<20) {
		t.Errorf("sampled %+v, want anonymous and file-backed parts that add up to the total", p.RSS)
	}
	if p.RSS.Total > p.MaxRSS {
		t.Errorf("sampled total %d is above rusage's peak %d", p.RSS.Total, p.MaxRSS)
	}
}

func TestReportSplitsThePeak(t *testing.T) {
	r := ToolResult{Tool: "chatsafe"}
	r.notePeak(procResult{MaxRSS: 90e6, RSS: rssSplit{Total: 88e6, Anon: 30e6, File: 58e6}})
	r.notePeak(procResult{MaxRSS: 80e6, RSS: rssSplit{Total: 79e6, Anon: 20e6, File: 59e6}})
	if r.PeakRSS != 90e6 || r.PeakRSSAnon != 30e6 || r.PeakRSSFile != 58e6 {
		t.Errorf("peak %d (%d + %d), want the first process's 90 MB (30 + 58)", r.PeakRSS, r.PeakRSSAnon, r.PeakRSSFile)
	}
	var md strings.Builder
	writeMarkdown(&md, &Results{Corpus: CorpusInfo{Spec: QuickSpec}, Tools: []ToolResult{r}})
	if !strings.Contains(md.String(), "| 30.0 MB + 58.0 MB |") {
		t.Errorf("markdown lacks the split:\n%s", md.String())
	}
}

// benchBallast makes the bench's own process large in
// TestPeakRSSIsTheChildsOwn.
var benchBallast []byte

// A child's peak RSS is its own, whatever the bench's: the kernel starts
// rusage's max RSS of a child that Go spawned (vfork-like, sharing the
// parent's memory until exec) at the parent's high-water mark, so a bench
// that grew to hundreds of MB building a corpus reported that for every
// tool it ran.
func TestPeakRSSIsTheChildsOwn(t *testing.T) {
	if runtime.GOOS != "linux" {
		return
	}
	withBallast(t)
	p, err := run(context.Background(), command{name: "sh", args: []string{"-c", "sleep 0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxRSS <= 0 || p.MaxRSS > 64<<20 {
		t.Fatalf("a shell's peak RSS is %d MB beside a bench of 256 MB, want its own few MB", p.MaxRSS>>20)
	}
}

// The daemon is stopped by the bench, not waited for by run: its peak
// must still be its own, not the bench's high-water mark that rusage
// starts from (2026-12-02: 1665 MB reported for a daemon of ~100 MB while
// settle held the corpus mapped in the bench).
func TestStoppedChildsPeakIsItsOwn(t *testing.T) {
	if runtime.GOOS != "linux" {
		return
	}
	withBallast(t)
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := stopAndPeak(cmd.Process.Pid, func() *os.ProcessState {
		cmd.Process.Kill()
		cmd.Wait()
		return cmd.ProcessState
	})
	if peak <= 0 || peak > 64<<20 {
		t.Fatalf("a stopped sleep's peak RSS is %d MB beside a bench of 256 MB, want its own few MB", peak>>20)
	}
}

// withBallast grows the test process (the bench) by 256 MB of touched
// memory until the test ends, as the bench grows beside a large corpus.
func withBallast(t *testing.T) {
	benchBallast = make([]byte, 256<<20)
	for i := 0; i < len(benchBallast); i += 4096 {
		benchBallast[i] = 1
	}
	t.Cleanup(func() { benchBallast = nil })
}
