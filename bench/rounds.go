package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Repeated rounds (--repeat N). On a shared VM one timing of a phase
// swings by several times in system time (docs/benchmarks.md, "Repeated
// rounds, twelfth session": 21.9 to 45.0 s for one tool's three rounds), so the first backup and the restore run N times per
// tool, in rounds, and the table and the targets take the median. Each
// round starts at the next tool (roundOrder): the place in line changed
// a tool's figures ("The bench's order"), and no tool should always be
// first or last.

// phaseSample is one round of a tool's timed phase.
type phaseSample struct {
	Round    int     `json:"round"`    // from 1
	Position int     `json:"position"` // the tool's place in the round's order, from 1
	WallS    float64 `json:"wall_s"`
	CPUS     float64 `json:"cpu_s"` // user + system
	UserS    float64 `json:"user_s"`
	SysS     float64 `json:"sys_s"`
	RSS      int64   `json:"rss_bytes"`
	// A first backup's: the part of WallS spent making the repository
	// durable, and the repository's size then.
	FlushS      float64 `json:"flush_s,omitempty"`
	StoredBytes int64   `json:"stored_bytes,omitempty"`
	// A restore's: the memory the VM handed back to its host meanwhile
	// (the whole machine's), and whether the restore was then checked
	// file by file and row by row and matched.
	Reported int64 `json:"reported_bytes,omitempty"`
	Verified bool  `json:"verified,omitempty"`
}

func newSample(round, pos int, p procResult) phaseSample {
	return phaseSample{Round: round + 1, Position: pos + 1, WallS: p.Wall.Seconds(), CPUS: p.CPU,
		UserS: p.Usage.User, SysS: p.Usage.Sys, RSS: p.MaxRSS}
}

// roundOrder is the order of n tools in round r (from 0): it starts at
// tool r mod n and goes round, so over n rounds each tool takes every
// place once.
func roundOrder(n, r int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = (r + k) % n
	}
	return order
}

// spread is the median, the least and the largest of xs (zeros for none).
func spread(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	return median(xs), slices.Min(xs), slices.Max(xs)
}

// walls is every sample's wall time.
func walls(ss []phaseSample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = s.WallS
	}
	return out
}

// rounds runs fn n times for every tool that has not failed yet, round by
// round in roundOrder; a failure is recorded on the tool's result and the
// tool drops out of later rounds and phases.
func rounds(n int, tools []tool, runs []*ToolResult, fn func(round, pos, i int, t tool, r *ToolResult) error) {
	for round := range n {
		for pos, i := range roundOrder(len(tools), round) {
			if runs[i].Error != "" {
				continue
			}
			if err := fn(round, pos, i, tools[i], runs[i]); err != nil {
				runs[i].fail("", err)
			}
		}
	}
}

// each runs fn once for every tool that has not failed yet, in order.
func each(tools []tool, runs []*ToolResult, fn func(i int, t tool, r *ToolResult) error) {
	rounds(1, tools, runs, func(_, _, i int, t tool, r *ToolResult) error { return fn(i, t, r) })
}

// roundLabel names a phase's round in the log: "first backup" alone, or
// "first backup, round 2 of 3, 1st in line".
func roundLabel(phase string, round, pos, n int) string {
	if n <= 1 {
		return phase
	}
	return fmt.Sprintf("%s, round %d of %d, %s in line", phase, round+1, n, ordinal(pos+1))
}

func ordinal(k int) string {
	switch {
	case k%100 >= 11 && k%100 <= 13:
		return fmt.Sprintf("%dth", k)
	case k%10 == 1:
		return fmt.Sprintf("%dst", k)
	case k%10 == 2:
		return fmt.Sprintf("%dnd", k)
	case k%10 == 3:
		return fmt.Sprintf("%drd", k)
	}
	return fmt.Sprintf("%dth", k)
}

// freshRepository gives t an empty repository and no local state, as
// before its first round: its init runs again, outside the timing, in a
// new directory named for the round, and the last round's is retired
// (retirer) once the new one is made. A new name puts the repository in
// another block group (spreadNewDirs); the same name would put it back
// where the last one was.
func (b *benchRun) freshRepository(ctx context.Context, t tool, round int) error {
	last := t.Dir()
	next := roundDir(filepath.Dir(last), t.Name(), round)
	if err := os.RemoveAll(next); err != nil {
		return fmt.Errorf("clearing %s: %w", next, err)
	}
	t.moveTo(next)
	if err := t.Init(ctx); err != nil {
		os.RemoveAll(next)
		t.moveTo(last)
		return fmt.Errorf("creating a fresh repository: %w", err)
	}
	if err := b.retired.retire(last); err != nil {
		logf("%s: %v", t.Name(), err)
	}
	return nil
}

// firstBackups: the first backup, each tool in turn on the same corpus,
// o.repeat rounds, each from a fresh repository; the last round's
// repository is the one the later phases use.
func (b *benchRun) firstBackups(ctx context.Context) {
	n := b.o.repeat
	rounds(n, b.tools, b.runs, func(round, pos, i int, t tool, r *ToolResult) error {
		if round > 0 {
			if err := b.freshRepository(ctx, t, round); err != nil {
				return fmt.Errorf("first backup, round %d: %w", round+1, err)
			}
		}
		phase := roundLabel("first backup", round, pos, n)
		defer b.settle(t.Name(), phase, true, b.src, t.StateDir())()
		st := logPhaseStart(t.Name(), phase, b.src, b.appFiles())
		p, err := t.Backup(ctx, 1, b.perfOut(t.Name(), "first-backup", round))
		if err != nil {
			return fmt.Errorf("%s: %w", phase, err)
		}
		flush, err := makeDurable(t.RepoDir())
		if err != nil {
			return fmt.Errorf("first backup: %w", err)
		}
		p.Wall += flush
		logPhaseEnd(t.Name(), phase, st, p)
		logf("%s: %s: making the repository durable took %.2fs (timed)", t.Name(), phase, flush.Seconds())
		r.notePeak(p)
		s := newSample(round, pos, p)
		s.FlushS = flush.Seconds()
		if _, s.StoredBytes, err = treeSize(t.RepoDir()); err != nil {
			return err
		}
		r.FirstBackupSamples = append(r.FirstBackupSamples, s)
		r.summarizeFirstBackups()
		if d := t.StateDir(); d != "" {
			if _, r.LocalStateBytes, err = treeSize(d); err != nil {
				return err
			}
		}
		b.listings[i], err = listTree(t.RepoDir())
		return err
	})
}

// summarizeFirstBackups sets the first backup's figures from the rounds
// so far: the median wall, CPU and flush, the largest RSS, and the last
// round's bytes stored (noting whether the rounds stored different
// amounts).
func (r *ToolResult) summarizeFirstBackups() {
	ss := r.FirstBackupSamples
	var cpu, flush []float64
	r.FirstBackupRSS, r.StoredBytesVaried = 0, false
	for _, s := range ss {
		cpu, flush = append(cpu, s.CPUS), append(flush, s.FlushS)
		r.FirstBackupRSS = max(r.FirstBackupRSS, s.RSS)
		r.StoredBytesVaried = r.StoredBytesVaried || s.StoredBytes != ss[0].StoredBytes
	}
	r.FirstBackupS, r.FirstBackupCPU, r.FirstBackupFlushS = median(walls(ss)), median(cpu), median(flush)
	r.StoredBytes = ss[len(ss)-1].StoredBytes
}

// restores: every tool restores its newest backup, o.repeat rounds; every
// round's restore is checked file by file (check) and, for the database,
// row by row.
func (b *benchRun) restores(ctx context.Context, check func(root string) error) error {
	want, err := b.corpus.Writer.Summary(ctx)
	if err != nil {
		return fmt.Errorf("reading the source database: %w", err)
	}
	n := b.o.repeat
	kept := make([]stateKeeper, len(b.tools))
	defer func() {
		for _, k := range kept {
			k.drop()
		}
	}()
	rounds(n, b.tools, b.runs, func(round, pos, i int, t tool, r *ToolResult) error {
		phase := roundLabel("restore", round, pos, n)
		if n > 1 {
			// Every round starts from the state the backups left, outside
			// the timing: a round must not read what an earlier one cached.
			if round == 0 {
				if kept[i], err = keepState(t.StateDir()); err != nil {
					return fmt.Errorf("saving the local state before the restores: %w", err)
				}
			} else if err := kept[i].reset(b.retired); err != nil {
				return fmt.Errorf("putting the local state back before %s: %w", phase, err)
			}
		}
		// A new directory each round, for the reason freshRepository
		// gives; retired, not deleted, once checked.
		dst := roundDir(b.work, "restore-"+t.Name(), round)
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("clearing %s: %w", dst, err)
		}
		defer func() {
			if err := b.retired.retire(dst); err != nil {
				logf("%s: %v", t.Name(), err)
			}
		}()
		defer b.settle(t.Name(), phase, true, t.RepoDir(), t.StateDir())()
		st := logPhaseStart(t.Name(), phase, t.RepoDir(), nil)
		p, root, err := t.Restore(ctx, dst, b.perfOut(t.Name(), "restore", round))
		if err != nil {
			return fmt.Errorf("%s: %w", phase, err)
		}
		logPhaseEnd(t.Name(), phase, st, p)
		r.notePeak(p)
		s := newSample(round, pos, p)
		// Only the one counter: the whole state (meminfo, vmstat) is
		// for the log's deltas, which logPhaseEnd read.
		after, _ := reportedBytes()
		s.Reported = after - st.reported()
		r.RestoreSamples = append(r.RestoreSamples, s)
		r.summarizeRestores()
		if err := check(root); err != nil {
			return fmt.Errorf("checking the restore: %w", err)
		}
		got, err := SummarizeDB(ctx, filepath.Join(root, DBRelPath))
		if err != nil {
			return fmt.Errorf("checking the restored database: %w", err)
		}
		if got != want {
			return fmt.Errorf("restored database %+v, source %+v", got, want)
		}
		r.RestoreSamples[len(r.RestoreSamples)-1].Verified = true
		r.summarizeRestores()
		return nil
	})
	return nil
}

// summarizeRestores sets the restore's figures from the rounds so far:
// the median wall and CPU, the largest RSS and reported memory, and
// verified when every round's restore was checked and matched.
func (r *ToolResult) summarizeRestores() {
	ss := r.RestoreSamples
	var cpu []float64
	r.RestoreRSS, r.RestoreReported, r.RestoreVerified = 0, 0, len(ss) > 0
	for _, s := range ss {
		cpu = append(cpu, s.CPUS)
		r.RestoreRSS, r.RestoreReported = max(r.RestoreRSS, s.RSS), max(r.RestoreReported, s.Reported)
		r.RestoreVerified = r.RestoreVerified && s.Verified
	}
	r.RestoreS, r.RestoreCPU = median(walls(ss)), median(cpu)
}
