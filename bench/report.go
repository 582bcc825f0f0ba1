package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Results is everything one run measured; results.json is this, indented.
type Results struct {
	Date    string     `json:"date"`
	Machine Machine    `json:"machine"`
	Corpus  CorpusInfo `json:"corpus"`
	// Repeat is the rounds of the first backup and the restore per tool
	// (--repeat); the tools' figures for them are the rounds' medians.
	Repeat  int           `json:"repeat"`
	Tools   []ToolResult  `json:"tools"`
	Skipped []SkippedTool `json:"skipped,omitempty"`
	Daemon  daemonResult  `json:"daemon"`
	Targets []Target      `json:"targets"`
	Profile *ProfileInfo  `json:"profile,omitempty"`
	// PerfDir holds the perf profiles of the timed phases (--perf).
	PerfDir string `json:"perf_dir,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU    string `json:"cpu"`
	NProc  int    `json:"nproc"`
	MemMB  int64  `json:"mem_mb"`
	Kernel string `json:"kernel"`
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
	Go     string `json:"go"`
}

// CorpusInfo describes the generated corpus.
type CorpusInfo struct {
	Spec      Spec    `json:"spec"`
	Files     int     `json:"files"`
	Bytes     int64   `json:"bytes"`
	DBBytes   int64   `json:"db_bytes"`
	GenerateS float64 `json:"generate_s"`
	// ChangeWALBytes is the -wal's size after the small change's commits.
	ChangeWALBytes int64 `json:"change_wal_bytes"`
}

// SkippedTool is a tool that did not run.
type SkippedTool struct {
	Tool   string `json:"tool"`
	Reason string `json:"reason"`
}

// ToolResult is one tool's figures. The first backup's and the restore's
// are over the rounds (--repeat; rounds.go): the median wall and CPU time,
// the largest RSS; every round's are in the samples.
type ToolResult struct {
	Tool           string  `json:"tool"`
	Version        string  `json:"version"`
	FirstBackupS   float64 `json:"first_backup_s"`
	FirstBackupRSS int64   `json:"first_backup_rss_bytes"`
	FirstBackupCPU float64 `json:"first_backup_cpu_s"` // user + system
	// FirstBackupFlushS is the time spent after the tool exited, making
	// its repository durable (makeDurable): the rounds' median, part of
	// FirstBackupS when there is one round.
	FirstBackupFlushS  float64       `json:"first_backup_flush_s"`
	FirstBackupSamples []phaseSample `json:"first_backup_samples"`
	// StoredBytes is the repository directory's size after the last
	// round's first backup; StoredBytesVaried says the rounds' differed.
	StoredBytes       int64 `json:"stored_bytes"`
	StoredBytesVaried bool  `json:"stored_bytes_varied,omitempty"`
	// LocalStateBytes is the tool's local state (cache, spool) then.
	LocalStateBytes int64 `json:"local_state_bytes"`
	// Bytes of new or rewritten files in the repository directory: after
	// the small change's commits (still in the -wal), after the
	// checkpoint, and both (the whole cost of the change).
	ChangeWALBytes        int64   `json:"change_wal_written_bytes"`
	ChangeCheckpointBytes int64   `json:"change_checkpoint_written_bytes"`
	SmallChangeBytes      int64   `json:"small_change_written_bytes"`
	ChangeBackupS         float64 `json:"change_backup_s"`
	CheckpointBackupS     float64 `json:"checkpoint_backup_s"`
	RestoreS              float64 `json:"restore_s"`
	RestoreRSS            int64   `json:"restore_rss_bytes"`
	RestoreCPU            float64 `json:"restore_cpu_s"` // user + system
	// RestoreReported is the memory the VM's guest handed back to its
	// host during a restore (free page reporting; the whole machine's,
	// other processes' included; 0 where the kernel does not say): the
	// most of any round.
	RestoreReported int64         `json:"restore_reported_bytes"`
	RestoreSamples  []phaseSample `json:"restore_samples"`
	// PeakRSS is the largest peak RSS of any backup or restore process
	// (rusage). PeakRSSAnon and PeakRSSFile split that process's largest
	// sampled VmRSS into anonymous memory (the work) and file-backed
	// pages (mostly the executable itself); 0 when not sampled.
	PeakRSS         int64  `json:"peak_rss_bytes"`
	PeakRSSAnon     int64  `json:"peak_rss_anon_bytes"`
	PeakRSSFile     int64  `json:"peak_rss_file_bytes"`
	RestoreVerified bool   `json:"restore_verified"`
	Error           string `json:"error,omitempty"`

	backups []procResult
}

// notePeak counts p toward the peak RSS.
func (r *ToolResult) notePeak(p procResult) {
	if p.MaxRSS >= r.PeakRSS {
		r.PeakRSS, r.PeakRSSAnon, r.PeakRSSFile = p.MaxRSS, p.RSS.Anon, p.RSS.File
	}
}

func (r *ToolResult) fail(phase string, err error) {
	if phase != "" {
		err = fmt.Errorf("%s: %w", phase, err)
	}
	r.Error = err.Error()
	logf("%s failed: %v", r.Tool, err)
}

// Target is one of issue 8's goals, judged on this run.
type Target struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	Limit    float64 `json:"limit"`
	Met      *bool   `json:"met"` // null: could not be judged
	Note     string  `json:"note,omitempty"`
}

func (res *Results) tool(name string) *ToolResult {
	for i := range res.Tools {
		if res.Tools[i].Tool == name && res.Tools[i].Error == "" {
			return &res.Tools[i]
		}
	}
	return nil
}

// metric is one column of the comparison; rounds: measured in every
// round (--repeat), its value the median.
type metric struct {
	name, short string
	value       func(*ToolResult) float64
	format      func(float64) string
	rounds      bool
}

var metrics = []metric{
	{"first backup", "first backup", func(r *ToolResult) float64 { return r.FirstBackupS }, secs, true},
	{"bytes stored", "stored", func(r *ToolResult) float64 { return float64(r.StoredBytes) }, mbf, false},
	{"small change: bytes written", "small change", func(r *ToolResult) float64 { return float64(r.SmallChangeBytes) }, mbf, false},
	{"restore", "restore", func(r *ToolResult) float64 { return r.RestoreS }, secs, true},
	{"peak RSS", "peak RSS", func(r *ToolResult) float64 { return float64(r.PeakRSS) }, mbf, false},
}

// ofRounds is "median of N" for a metric measured in N > 1 rounds, else "".
func (res *Results) ofRounds(m metric) string {
	if !m.rounds || res.Repeat <= 1 {
		return ""
	}
	return fmt.Sprintf("median of %d", res.Repeat)
}

// metricName is m's name, with "(median of N)" when it is one.
func (res *Results) metricName(m metric) string {
	if r := res.ofRounds(m); r != "" {
		return m.name + " (" + r + ")"
	}
	return m.name
}

// rssSplitText is the peak process's sampled memory, anonymous +
// file-backed, or "–" when it was not sampled.
func rssSplitText(r ToolResult) string {
	if r.PeakRSSAnon == 0 && r.PeakRSSFile == 0 {
		return "–"
	}
	return mb(r.PeakRSSAnon) + " + " + mb(r.PeakRSSFile)
}

func secs(v float64) string { return fmt.Sprintf("%.2f s", v) }
func mbf(v float64) string  { return mb(int64(v)) }

// mb formats a byte count in MB (10^6), with more digits when small.
func mb(n int64) string {
	v := float64(n) / 1e6
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f MB", v)
	case v >= 1:
		return fmt.Sprintf("%.1f MB", v)
	default:
		return fmt.Sprintf("%.3f MB", v)
	}
}

// ratio is v / restic's v, or NaN when there is nothing to compare with.
func (res *Results) ratio(m metric, r *ToolResult) float64 {
	base := res.tool("restic")
	if base == nil || r.Error != "" {
		return math.NaN()
	}
	b := m.value(base)
	if b == 0 {
		return math.NaN()
	}
	return m.value(r) / b
}

func fmtRatio(x float64) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case x < 0.1:
		return fmt.Sprintf("%.3f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

func boolp(b bool) *bool { return &b }

// evaluate judges the targets.
func (res *Results) evaluate() {
	cs := res.tool("chatsafe")
	add := func(t Target) { res.Targets = append(res.Targets, t) }
	for _, m := range []struct {
		metric metric
		goal   string
		limit  float64
	}{
		{metrics[0], "first backup ≤ 0.5× restic's time", 0.5},
		{metrics[2], "small-change bytes ≤ 0.05× restic's", 0.05},
		{metrics[3], "restore ≤ 1.0× restic's time", 1.0},
	} {
		t := Target{Name: m.metric.name, Goal: m.goal, Limit: m.limit}
		if cs != nil {
			t.Value = res.ratio(m.metric, cs)
		}
		if cs == nil || math.IsNaN(t.Value) {
			t.Value = 0
			t.Measured = "n/a (needs chatsafe and restic)"
		} else {
			t.Measured = fmtRatio(t.Value)
			if r := res.ofRounds(m.metric); r != "" {
				t.Measured += " (" + r + ")"
			}
			t.Met = boolp(t.Value <= m.limit)
			if !*t.Met {
				t.Note = fmt.Sprintf("missed by %.0f%%", (t.Value/m.limit-1)*100)
			}
		}
		add(t)
	}
	res.peerTargets(cs)
	res.cycleTargets()
	limit := res.Daemon.QuietS + 1
	t := Target{Name: "commit → snapshot", Goal: fmt.Sprintf("≤ quiet period + 1 s (%.0f s)", limit), Limit: limit}
	if res.Daemon.Measured {
		t.Value = res.Daemon.SnapshotMedianS
		t.Measured = fmt.Sprintf("%.2f s (median of %d)", t.Value, len(res.Daemon.SnapshotS))
		t.Met = boolp(t.Value <= limit)
		if !*t.Met {
			t.Note = fmt.Sprintf("missed by %.2f s", t.Value-limit)
		}
	} else {
		t.Measured = res.Daemon.Note
		if t.Measured == "" {
			t.Measured = "not measured"
		}
	}
	add(t)
	if strings.HasPrefix(res.Corpus.Spec.Name, treePrefix) {
		add(res.treeRSSTarget(cs))
		return
	}
	t = Target{Name: "peak RSS", Goal: "≤ 100 MB on the --full corpus (issue 18)", Limit: 100}
	if cs != nil {
		t.Value = float64(cs.PeakRSS) / 1e6
		t.Measured = mb(cs.PeakRSS)
		if res.Corpus.Spec.Name == FullSpec.Name {
			t.Met = boolp(t.Value <= t.Limit)
			if !*t.Met {
				t.Note = fmt.Sprintf("missed by %.0f MB", t.Value-t.Limit)
			}
		} else {
			t.Note = "judged on --full only"
		}
	} else {
		t.Measured = "n/a"
	}
	add(t)
}

// bestPeer is the lowest value of m among the tools other than chatsafe
// that ran, and the tool's name ("" when none ran).
func (res *Results) bestPeer(m metric) (float64, string) {
	best, name := math.Inf(1), ""
	for i := range res.Tools {
		r := &res.Tools[i]
		if r.Tool == "chatsafe" || r.Error != "" {
			continue
		}
		if v := m.value(r); v > 0 && v < best {
			best, name = v, r.Tool
		}
	}
	return best, name
}

// peerTargets judges issue 18's goals against the best peer of this run.
func (res *Results) peerTargets(cs *ToolResult) {
	for _, g := range []struct {
		metric metric
		goal   string
		limit  float64
	}{
		{metrics[0], "first backup ≤ 0.8× the fastest peer", 0.8},
		{metrics[1], "bytes stored ≤ the smallest peer's", 1.0},
		{metrics[3], "restore ≤ 0.8× the fastest peer", 0.8},
	} {
		t := Target{Name: g.metric.name + " vs the best peer", Goal: g.goal, Limit: g.limit}
		best, peer := res.bestPeer(g.metric)
		if cs == nil || peer == "" {
			t.Measured = "n/a (needs chatsafe and a peer)"
			res.Targets = append(res.Targets, t)
			continue
		}
		t.Value = g.metric.value(cs) / best
		rounds := res.ofRounds(g.metric)
		if rounds != "" {
			rounds = "; " + rounds
		}
		t.Measured = fmt.Sprintf("%s (%s: %s%s)", fmtRatio(t.Value), peer, g.metric.format(best), rounds)
		t.Met = boolp(t.Value <= g.limit)
		if !*t.Met {
			t.Note = fmt.Sprintf("missed by %.0f%%", (t.Value/g.limit-1)*100)
		}
		res.Targets = append(res.Targets, t)
	}
}

// writeReports prints the markdown table and writes results.json,
// results.md and chart.svg into out.
func writeReports(res *Results, out string) error {
	var md strings.Builder
	writeMarkdown(&md, res)
	fmt.Print(md.String())
	if err := os.WriteFile(filepath.Join(out, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "chart.svg"), []byte(chartSVG(res)), 0o644); err != nil {
		return err
	}
	logf("wrote %s, %s and %s", filepath.Join(out, "results.json"), filepath.Join(out, "results.md"), filepath.Join(out, "chart.svg"))
	return nil
}

func writeMarkdown(w io.Writer, res *Results) {
	m := res.Machine
	fmt.Fprintf(w, "Run %s on %s, %d cores, %d MB RAM, %s, %s.\n\n", res.Date, m.CPU, m.NProc, m.MemMB, m.Kernel, m.Go)
	c := res.Corpus
	fmt.Fprintf(w, "Corpus `--%s` (seed %d): %d files, %s; message database %s (%d messages, WAL mode, held open by the writer); the small change's commits grew the -wal to %s.\n\n",
		c.Spec.Name, c.Spec.Seed, c.Files, mb(c.Bytes), mb(c.DBBytes), c.Spec.Messages, mb(c.ChangeWALBytes))
	fmt.Fprint(w, "| tool |")
	for _, mt := range metrics {
		fmt.Fprintf(w, " %s |", res.metricName(mt))
	}
	fmt.Fprint(w, " commit → snapshot |\n|---|")
	for range metrics {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprint(w, "---:|\n")
	for i := range res.Tools {
		r := &res.Tools[i]
		fmt.Fprintf(w, "| %s |", r.Tool)
		if r.Error != "" {
			for range metrics {
				fmt.Fprint(w, " failed |")
			}
			fmt.Fprint(w, " |\n")
			continue
		}
		for _, mt := range metrics {
			fmt.Fprintf(w, " %s (%s) |", mt.format(mt.value(r)), fmtRatio(res.ratio(mt, r)))
		}
		switch {
		case r.Tool != "chatsafe":
			fmt.Fprint(w, " – |\n")
		case res.Daemon.Measured:
			fmt.Fprintf(w, " %.2f s |\n", res.Daemon.SnapshotMedianS)
		default:
			fmt.Fprintf(w, " %s |\n", orDefault(res.Daemon.Note, "not measured"))
		}
	}
	fmt.Fprint(w, "\nRatios are to restic in the same run (lower is better). Small change = 100 new + 100 edited messages, one commit each; bytes written = new or rewritten files in the repository directory, summed over the backup right after the commits (still in the -wal) and the one after the app's checkpoint:\n\n")
	fmt.Fprint(w, "| tool | written after the commits (-wal) | after the checkpoint | backup time after the commits | after the checkpoint | first backup CPU (user+sys, median) | restore CPU (median) | local state | peak RSS: anonymous + file-backed |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range res.Tools {
		if r.Error == "" {
			fmt.Fprintf(w, "| %s | %s | %s | %.2f s | %.2f s | %.2f s | %.2f s | %s | %s |\n", r.Tool, mb(r.ChangeWALBytes), mb(r.ChangeCheckpointBytes),
				r.ChangeBackupS, r.CheckpointBackupS, r.FirstBackupCPU, r.RestoreCPU, mb(r.LocalStateBytes), rssSplitText(r))
		}
	}
	writeRounds(w, res)
	writeRestoreReported(w, res)
	writePerfNote(w, res)
	if res.Daemon.Measured {
		var sizes []string
		for _, n := range res.Daemon.WrittenBytes {
			sizes = append(sizes, mb(n))
		}
		fmt.Fprintf(w, "\nDaemon (quiet period %.0f s): commit → committed snapshot %s s (median %.2f s); → on the remote median %.2f s; each one-message snapshot wrote %s; daemon peak RSS %s.\n",
			res.Daemon.QuietS, joinFloats(res.Daemon.SnapshotS), res.Daemon.SnapshotMedianS, res.Daemon.UploadedMedianS, strings.Join(sizes, ", "), mb(res.Daemon.MaxRSS))
		writeDaemonCycles(w, res)
	}
	fmt.Fprint(w, "\n| target | goal | measured | met |\n|---|---|---|---|\n")
	for _, t := range res.Targets {
		met := "–"
		if t.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
		}
		note := ""
		if t.Note != "" {
			note = " (" + t.Note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s%s |\n", t.Name, t.Goal, t.Measured, met, note)
	}
	fmt.Fprintln(w)
	for _, r := range res.Tools {
		if r.Error != "" {
			fmt.Fprintf(w, "- %s failed: %s\n", r.Tool, firstLine([]byte(r.Error)))
		}
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "- %s skipped: %s\n", s.Tool, s.Reason)
	}
	fmt.Fprint(w, "\nVersions: ")
	for i, r := range res.Tools {
		if i > 0 {
			fmt.Fprint(w, "; ")
		}
		fmt.Fprintf(w, "%s", r.Version)
	}
	fmt.Fprintln(w, ".")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func joinFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ", ")
}

// chartSVG draws, for every metric, one bar per tool: its ratio to
// restic on a log scale from 0.001× to 100×, with restic's 1× marked.
func chartSVG(res *Results) string {
	const (
		left, top, width, barH, gap, groupGap = 190, 50, 520, 16, 3, 22
		lo, hi                                = -3.0, 2.0 // log10 of the axis ends
	)
	colors := map[string]string{"chatsafe": "#2e7d32", "restic": "#1565c0", "borg": "#ef6c00", "rclone": "#6a1b9a"}
	var tools []*ToolResult
	for i := range res.Tools {
		if res.Tools[i].Error == "" {
			tools = append(tools, &res.Tools[i])
		}
	}
	groupH := 18 + len(tools)*(barH+gap) + groupGap
	height := top + len(metrics)*groupH + 48
	x := func(r float64) float64 {
		l := math.Log10(r)
		l = math.Max(lo, math.Min(hi, l))
		return left + (l-lo)/(hi-lo)*width
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+90, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">chatsafe bench (--%s corpus, %s): ratio to restic, log scale, lower is better</text>`+"\n", res.Corpus.Spec.Name, xmlEscape(res.Date[:10]))
	for e := lo; e <= hi; e++ {
		gx := x(math.Pow(10, e))
		stroke := "#ddd"
		if e == 0 {
			stroke = "#333"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", gx, top-10, gx, height-30, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%g×</text>`+"\n", gx, height-15, math.Pow(10, e))
	}
	y := top
	for _, m := range metrics {
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+12, xmlEscape(res.metricName(m)))
		y += 18
		for _, r := range tools {
			ratio := res.ratio(m, r)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#333">%s</text>`+"\n", left-6, y+barH-4, xmlEscape(r.Tool))
			if !math.IsNaN(ratio) && ratio > 0 {
				w := x(ratio) - left
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, w, barH, orDefault(colors[r.Tool], "#777"))
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333" stroke="white" stroke-width="3" paint-order="stroke">%s (%s)</text>`+"\n", left+w+4, y+barH-4, fmtRatio(ratio), xmlEscape(m.format(m.value(r))))
			} else {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#999">n/a</text>`+"\n", left+4, y+barH-4)
			}
			y += barH + gap
		}
		y += groupGap
	}
	note := "commit → snapshot: " + orDefault(res.Daemon.Note, "not measured")
	if res.Daemon.Measured {
		note = fmt.Sprintf("chatsafe daemon, commit → snapshot: median %.2f s (quiet period %.0f s)", res.Daemon.SnapshotMedianS, res.Daemon.QuietS)
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#333">%s</text>`+"\n", height-2, xmlEscape(note))
	b.WriteString("</svg>\n")
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
