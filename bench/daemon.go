package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
)

// daemonResult is the commit → snapshot measurement.
type daemonResult struct {
	Measured bool    `json:"measured"`
	Note     string  `json:"note,omitempty"`
	Trials   int     `json:"trials"`
	QuietS   float64 `json:"quiet_period_s"`
	// Seconds from a committed message to a committed snapshot (the
	// status socket's last_snapshot.seq moving on), each trial, and the
	// median.
	SnapshotS       []float64 `json:"snapshot_s,omitempty"`
	SnapshotMedianS float64   `json:"snapshot_median_s,omitempty"`
	// Seconds until that snapshot was also on the remote (pending_deltas 0).
	UploadedS       []float64 `json:"uploaded_s,omitempty"`
	UploadedMedianS float64   `json:"uploaded_median_s,omitempty"`
	// Bytes written to the repository directory per one-message snapshot.
	WrittenBytes []int64 `json:"written_bytes,omitempty"`
	// What the daemon process read and spent per one-message cycle (commit
	// to snapshot on the remote, upload included), from /proc: bytes
	// fetched from storage, bytes passed to read calls (page cache
	// included), and user+system CPU seconds.
	CycleReadBytes []int64   `json:"cycle_read_bytes,omitempty"`
	CycleRChar     []int64   `json:"cycle_rchar_bytes,omitempty"`
	CycleCPUS      []float64 `json:"cycle_cpu_s,omitempty"`
	// What the idle daemon spends per second while the bench polls its
	// status (every pollEvery), measured before the trials; the cycle
	// figures include this much per second of the trial.
	IdleCPUPerS   float64 `json:"idle_cpu_s_per_s,omitempty"`
	IdleRCharPerS float64 `json:"idle_rchar_bytes_per_s,omitempty"`
	// TrialS is each trial's length, commit to snapshot on the remote.
	TrialS []float64 `json:"trial_s,omitempty"`
	MaxRSS int64     `json:"max_rss_bytes,omitempty"`
}

// pollEvery is how often the daemon's status is asked for. The daemon is
// a real external process: polling with a deadline is the honest way to
// watch it; the resolution this adds is at most pollEvery.
const pollEvery = 20 * time.Millisecond

// daemonAvailable reports whether the binary has a working daemon command.
func daemonAvailable(ctx context.Context, bin string) bool {
	_, err := run(ctx, command{name: bin, args: []string{"daemon", "--help"}})
	return err == nil
}

// measureDaemon starts `chatsafe daemon`, commits one message at a time
// and measures how long until a new snapshot is committed.
func measureDaemon(ctx context.Context, t *chatsafeTool, w *Writer, trials int) (res daemonResult) {
	res = daemonResult{Trials: trials, QuietS: daemonQuietPeriod.Seconds()}
	if !daemonAvailable(ctx, t.bin) {
		res.Note = "not measured (daemon not available in this build)"
		return res
	}
	logf, err := os.Create(filepath.Join(t.dir, "daemon.log"))
	if err != nil {
		res.Note = fmt.Sprintf("not measured: %v", err)
		return res
	}
	defer logf.Close()

	dctx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(dctx, t.bin, "daemon", "--config", t.config())
	cmd.Stdout, cmd.Stderr = logf, logf
	// Stop it like the service manager does (SIGTERM), not with SIGKILL.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		res.Note = fmt.Sprintf("not measured (daemon did not start: %v)", err)
		return res
	}
	// exited is closed once the daemon is gone; this function owns the
	// goroutine that waits for it and waits for it in turn.
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		stop()
		<-exited
		res.MaxRSS = maxRSS(cmd.ProcessState)
	}()

	c := client.New(t.socket())
	defer c.Close()
	// Start-up: wait for the socket and for any start-up cycle to finish.
	st, err := waitStatus(ctx, c, exited, 2*time.Minute, func(s statusapi.Status) bool {
		return s.State == statusapi.StateIdle && s.PendingDeltas == 0
	})
	if err != nil {
		res.Note = fmt.Sprintf("not measured (daemon not ready: %v; see %s)", err, logf.Name())
		return res
	}
	before, err := listTree(t.RepoDir())
	if err != nil {
		res.Note = fmt.Sprintf("not measured: %v", err)
		return res
	}
	res.IdleCPUPerS, res.IdleRCharPerS = idleCost(ctx, c, cmd.Process.Pid, exited)
	for range trials {
		var prev uint64
		if st.LastSnapshot != nil {
			prev = st.LastSnapshot.Seq
		}
		usage, usageErr := readProcUsage(cmd.Process.Pid)
		if err := w.AddMessage(ctx); err != nil {
			res.Note = fmt.Sprintf("not measured: %v", err)
			return res
		}
		committed := time.Now()
		st, err = waitStatus(ctx, c, exited, time.Minute, func(s statusapi.Status) bool {
			return s.LastSnapshot != nil && s.LastSnapshot.Seq > prev
		})
		if err != nil {
			res.Note = fmt.Sprintf("not measured (no snapshot after a commit: %v; see %s)", err, logf.Name())
			return res
		}
		res.SnapshotS = append(res.SnapshotS, time.Since(committed).Seconds())
		st, err = waitStatus(ctx, c, exited, time.Minute, func(s statusapi.Status) bool {
			return s.PendingDeltas == 0 && s.State == statusapi.StateIdle
		})
		if err != nil {
			res.Note = fmt.Sprintf("not measured (snapshot not uploaded: %v; see %s)", err, logf.Name())
			return res
		}
		res.UploadedS = append(res.UploadedS, time.Since(committed).Seconds())
		if now, err := readProcUsage(cmd.Process.Pid); err == nil && usageErr == nil {
			d := now.sub(usage)
			res.CycleReadBytes = append(res.CycleReadBytes, d.readBytes)
			res.CycleRChar = append(res.CycleRChar, d.rchar)
			res.CycleCPUS = append(res.CycleCPUS, d.cpu)
			res.TrialS = append(res.TrialS, time.Since(committed).Seconds())
		}
		after, err := listTree(t.RepoDir())
		if err != nil {
			res.Note = fmt.Sprintf("not measured: %v", err)
			return res
		}
		res.WrittenBytes = append(res.WrittenBytes, written(before, after))
		before = after
	}
	res.Measured = true
	res.SnapshotMedianS = median(res.SnapshotS)
	res.UploadedMedianS = median(res.UploadedS)
	return res
}

// idleCost measures what the idle daemon spends per second while it is
// polled as during a trial: 2 s of polling for a status that never comes.
func idleCost(ctx context.Context, c *client.Client, pid int, exited <-chan struct{}) (cpuPerS, rcharPerS float64) {
	const window = 2 * time.Second
	u0, err := readProcUsage(pid)
	if err != nil {
		return 0, 0
	}
	start := time.Now()
	waitStatus(ctx, c, exited, window, func(statusapi.Status) bool { return false })
	u1, err := readProcUsage(pid)
	if err != nil {
		return 0, 0
	}
	d, s := u1.sub(u0), time.Since(start).Seconds()
	return d.cpu / s, float64(d.rchar) / s
}

// waitStatus polls the daemon until ok holds, the daemon exits, or
// timeout passes.
func waitStatus(ctx context.Context, c *client.Client, exited <-chan struct{}, timeout time.Duration, ok func(statusapi.Status) bool) (statusapi.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last error
	for {
		s, err := c.Status(ctx)
		if err == nil && ok(s) {
			return s, nil
		}
		if err != nil {
			last = err
		} else if s.LastError != "" {
			last = errors.New(s.LastError)
		}
		select {
		case <-exited:
			return s, errors.New("the daemon exited")
		case <-ctx.Done():
			if last != nil {
				return s, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			}
			return s, ctx.Err()
		case <-tick.C:
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
