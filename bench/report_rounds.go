package main

import (
	"fmt"
	"io"
	"strings"
)

// writeRounds gives, when the first backup and the restore ran in more
// than one round, each tool's median, least and largest wall time and
// every round's (with the tool's place in line), so that a reader sees
// the noise the median smooths; and which tools' rounds stored different
// byte counts.
func writeRounds(w io.Writer, res *Results) {
	if res.Repeat > 1 {
		fmt.Fprintf(w, "\nFirst backup and restore: %d rounds per tool, each round starting at the next tool, each first backup into a fresh repository and every restore checked; the table gives the median wall time. Each round's (place in line):\n\n", res.Repeat)
		fmt.Fprint(w, "| tool | first backup: median | min–max | rounds | restore: median | min–max | rounds |\n|---|---:|---:|---|---:|---:|---|\n")
		for _, r := range res.Tools {
			if r.Error == "" {
				fmt.Fprintf(w, "| %s | %s | %s |\n", r.Tool, roundCells(r.FirstBackupSamples), roundCells(r.RestoreSamples))
			}
		}
	}
	for _, r := range res.Tools {
		if r.Error != "" || !r.StoredBytesVaried {
			continue
		}
		var sizes []string
		for _, s := range r.FirstBackupSamples {
			sizes = append(sizes, fmt.Sprint(s.StoredBytes))
		}
		fmt.Fprintf(w, "\n%s's first backups stored different amounts: %s bytes (the table gives the last round's).\n", r.Tool, strings.Join(sizes, ", "))
	}
}

// roundCells is the three cells of a phase's rounds: the median, the
// range and each round's wall time with its place in line.
func roundCells(ss []phaseSample) string {
	if len(ss) == 0 {
		return "– | – | –"
	}
	med, lo, hi := spread(walls(ss))
	each := make([]string, len(ss))
	for i, s := range ss {
		each[i] = fmt.Sprintf("%.2f (%s)", s.WallS, ordinal(s.Position))
	}
	return fmt.Sprintf("%.2f s | %.2f–%.2f s | %s", med, lo, hi, strings.Join(each, ", "))
}

// writeRestoreReported says how much memory the VM handed back to its
// host during each restore, where any was: a restore whose page cache
// came from such memory paid a first touch for each page
// (docs/benchmarks.md, "Restore, eleventh session"). With rounds, each
// round's.
func writeRestoreReported(w io.Writer, res *Results) {
	var parts []string
	some := false
	for _, r := range res.Tools {
		if r.Error != "" {
			continue
		}
		some = some || r.RestoreReported > 0
		if len(r.RestoreSamples) <= 1 {
			parts = append(parts, fmt.Sprintf("%s %s", r.Tool, mb(r.RestoreReported)))
			continue
		}
		each := make([]string, len(r.RestoreSamples))
		for i, s := range r.RestoreSamples {
			each[i] = mb(s.Reported)
		}
		parts = append(parts, fmt.Sprintf("%s %s", r.Tool, strings.Join(each, " / ")))
	}
	if some {
		fmt.Fprintf(w, "\nMemory the VM handed back to its host during each restore (free page reporting, the whole machine's): %s.\n", strings.Join(parts, ", "))
	}
}

// writePerfNote says that the run was profiled (--perf) and where the
// profiles are: perf took CPU beside every timed phase.
func writePerfNote(w io.Writer, res *Results) {
	if res.PerfDir != "" {
		fmt.Fprintf(w, "\nProfiled with perf (--perf): every timed first backup and restore has its profile in %s (TOOL-PHASE-rROUND.data, perf report's top in .txt); perf shared the cores with the tools, so these figures are for diagnosis, not comparison.\n", res.PerfDir)
	}
}
