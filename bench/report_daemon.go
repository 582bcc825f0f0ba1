package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Daemon targets (issue 18).
const (
	cycleReadLimit      = 1e6   // bytes read per one-message cycle
	cycleCPULimit       = 0.020 // CPU seconds per one-message cycle, upload included
	idleCPULimit        = 0.001 // CPU seconds per second of the idle daemon left alone
	checkpointWaitLimit = 0.005 // the longest an app checkpoint waits on a backup
)

// cycleTargets judges the daemon's one-message cycle, its idle cost and
// the app's checkpoints, when /proc gave the figures.
func (res *Results) cycleTargets() {
	d := res.Daemon
	if len(d.CycleReadBytes) == 0 {
		return
	}
	add := func(t Target) {
		t.Met = boolp(t.Value <= t.Limit)
		res.Targets = append(res.Targets, t)
	}
	r, c := median(floats(d.CycleRChar)), median(d.CycleCPUS)
	add(Target{Name: "daemon cycle: bytes read", Goal: "≤ 1 MB read per one-message cycle (rchar, median)", Limit: cycleReadLimit, Value: r, Measured: mb(int64(r))})
	add(Target{Name: "daemon cycle: CPU", Goal: "≤ 20 ms CPU per one-message cycle, upload included (median)", Limit: cycleCPULimit, Value: c, Measured: ms(c)})
	add(Target{Name: "idle daemon: CPU", Goal: "~0 CPU when nothing changes (≤ 1 ms/s, no status polls)", Limit: idleCPULimit, Value: d.IdleCPUPerS, Measured: ms(d.IdleCPUPerS) + "/s"})
	for _, ic := range d.IdleCycles {
		idle := time.Duration(ic.IdleS * float64(time.Second))
		add(Target{Name: fmt.Sprintf("daemon cycle after %s idle: CPU", idle), Goal: "≤ 20 ms CPU, upload included (--idle-cycle)", Limit: cycleCPULimit, Value: ic.CPUS, Measured: ms(ic.CPUS)})
	}
	for _, cp := range d.Checkpoints {
		if len(cp.MaxWaitS) == 0 {
			continue
		}
		w := slices.Max(cp.MaxWaitS)
		add(Target{Name: "app checkpoint (" + cp.label() + ") during a cycle", Goal: "the longest checkpoint ≤ 5 ms (its own copy and sync included)", Limit: checkpointWaitLimit, Value: w, Measured: ms(w)})
		if len(cp.BlockedS) > 0 {
			b := slices.Max(cp.BlockedS)
			add(Target{Name: "app checkpoint (" + cp.label() + ") during a cycle: waited on the backup", Goal: "the longest time blocked on the daemon's read ≤ 5 ms (busy handler's sleeps)", Limit: checkpointWaitLimit, Value: b, Measured: ms(b)})
		}
	}
}

// writeDaemonCycles prints what each one-message cycle cost, the idle
// daemon's cost and the checkpoint rows.
func writeDaemonCycles(w io.Writer, res *Results) {
	d := res.Daemon
	if len(d.CycleRChar) > 0 {
		fmt.Fprintf(w, "\nDaemon, one-message cycle on the live %s database (commit to snapshot on the remote, upload included; from /proc, CPU summed over the threads' schedstat): read calls %s; from storage %s; CPU %s. Idle daemon: %s/s left alone, %s/s answering a status poll every %s.\n",
			mb(res.Corpus.DBBytes), mbs(d.CycleRChar), mbs(d.CycleReadBytes), mss(d.CycleCPUS), ms(d.IdleCPUPerS), ms(d.IdlePolledCPUPerS), pollEvery)
	}
	writeIdleCycles(w, d)
	if len(d.Checkpoints) == 0 {
		return
	}
	fmt.Fprint(w, "\nThe app checkpoints while the daemon backs up (one message committed, then `PRAGMA wal_checkpoint(MODE)` over and over while the cycle scans); the next one-message cycle follows those checkpoints:\n\n")
	fmt.Fprint(w, "| checkpoint | checkpoints run | gave up (busy) | longest wait per cycle | first checkpoint of each cycle | median, p99 | over 5 ms | waited on the backup: longest per cycle | its own: longest per cycle | retries: checkpoints | waited over 5 ms | next cycle: read calls | from storage | CPU |\n|---|---:|---:|---|---|---|---:|---|---|---|---:|---|---|---|\n")
	for _, cp := range d.Checkpoints {
		if cp.Note != "" {
			fmt.Fprintf(w, "| %s | not measured: %s | | | | | | | | | | | | |\n", cp.label(), firstLine([]byte(cp.Note)))
			continue
		}
		blocked, own, retries := "not measured", "", cp.BlockedNote
		if len(cp.BlockedS) > 0 {
			blocked, own, retries = mss(cp.BlockedS), mss(cp.OwnS), retryCounts(cp.Retries)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s, %s | %d | %s | %s | %s | %d | %s | %s | %s |\n", cp.label(), cp.Checkpoints, cp.GaveUp, mss(cp.MaxWaitS), mss(cp.FirstWaitS),
			ms(cp.MedianS), ms(cp.P99S), cp.Over5ms, blocked, own, retries, cp.BlockedOver5ms, mbs(cp.CycleRChar), mbs(cp.CycleReadBytes), mss(cp.CycleCPUS))
	}
	fmt.Fprint(w, "\n\"Waited on the backup\" is the time a checkpoint slept in the app's busy handler (SQLite's schedule: retries after 1, 3, 8, 18, 33 ms …), blocked on the daemon's read; \"its own\" is the rest of a checkpoint's time (its copy and sync, and the sleeps' overshoot); \"retries\" counts checkpoints by their number of retries (retries×checkpoints; -1: gave up). The row \"meeting the read\" begins each cycle's checkpoints only once the daemon's read transaction holds frames of the log (a read lock of the -shm other than 0, seen with F_GETLK), so that its first checkpoint meets the read; in the other rows the app's first checkpoint usually empties the log before the daemon reads.\n")
}

// label names the row: the mode, and whether it met the daemon's read
// (in how many of the measured trials).
func (cp checkpointResult) label() string {
	if !cp.MeetRead {
		return cp.Mode
	}
	return fmt.Sprintf("%s, meeting the read: met in %d of %d", cp.Mode, cp.Met, len(cp.CycleCPUS))
}

// retryCounts formats checkpoints by retry count: "0×310, 1×2, 3×1".
func retryCounts(m map[int]int) string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%d×%d", k, m[k])
	}
	return strings.Join(out, ", ")
}

// writeIdleCycles prints the cycles after the daemon sat idle
// (--idle-cycle), each beside the cycle afterIdleGap later.
func writeIdleCycles(w io.Writer, d daemonResult) {
	if d.IdleNote != "" {
		fmt.Fprintf(w, "\nOne-message cycle after the daemon sat idle: not measured (%s).\n", firstLine([]byte(d.IdleNote)))
	}
	if len(d.IdleCycles) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOne-message cycle after the daemon sat idle (--idle-cycle), and the one %s later:\n\n", afterIdleGap)
	fmt.Fprintf(w, "| idle | CPU | minor faults | RSS at the end of the idle | events while idle | %s later: CPU | minor faults |\n|---:|---:|---:|---:|---:|---:|---:|\n", afterIdleGap)
	for _, ic := range d.IdleCycles {
		fmt.Fprintf(w, "| %s | %s | %d | %s | %d | %s | %d |\n", time.Duration(ic.IdleS*float64(time.Second)), ms(ic.CPUS), ic.MinorFaults,
			mb(ic.RSSBytes), ic.IdleEvents, ms(ic.AfterCPUS), ic.AfterMinorFaults)
	}
}

func floats(xs []int64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// ms formats seconds as milliseconds, with a decimal when small (two
// under 0.1 ms: a checkpoint's median).
func ms(s float64) string {
	if s < 0.0001 {
		return fmt.Sprintf("%.2f ms", s*1000)
	}
	if s < 0.01 {
		return fmt.Sprintf("%.1f ms", s*1000)
	}
	return fmt.Sprintf("%.0f ms", s*1000)
}

func mss(xs []float64) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = ms(x)
	}
	return strings.Join(out, ", ")
}

func mbs(xs []int64) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = mb(x)
	}
	return strings.Join(out, ", ")
}
