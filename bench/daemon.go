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
	// snapshot event on the status socket), each trial, and the median.
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
	// included), and CPU seconds (every thread's schedstat, in ns).
	CycleReadBytes []int64   `json:"cycle_read_bytes,omitempty"`
	CycleRChar     []int64   `json:"cycle_rchar_bytes,omitempty"`
	CycleCPUS      []float64 `json:"cycle_cpu_s,omitempty"`
	CycleMinFlt    []int64   `json:"cycle_minor_faults,omitempty"`
	// What the idle daemon spends per second, left alone (IdleCPUPerS)
	// and while the bench polls its status every pollEvery
	// (IdlePolledCPUPerS). The trials wait on the event stream, not by
	// polling, so their figures carry no polling cost.
	IdleCPUPerS       float64 `json:"idle_cpu_s_per_s"`
	IdlePolledCPUPerS float64 `json:"idle_polled_cpu_s_per_s"`
	IdleRCharPerS     float64 `json:"idle_rchar_bytes_per_s,omitempty"`
	// TrialS is each trial's length, commit to snapshot on the remote.
	TrialS []float64 `json:"trial_s,omitempty"`
	// Checkpoints: the app checkpointing while the daemon backs up.
	Checkpoints []checkpointResult `json:"checkpoints,omitempty"`
	// IdleCycles: one-message cycles after the daemon sat idle
	// (--idle-cycle), after the checkpoint rows.
	IdleCycles []idleCycle `json:"idle_cycles,omitempty"`
	IdleNote   string      `json:"idle_note,omitempty"`
	MaxRSS     int64       `json:"max_rss_bytes,omitempty"`
}

// pollEvery is how often the idle-cost measurement asks for the daemon's
// status, as a status page or a bench that polls would.
const pollEvery = 20 * time.Millisecond

// daemonAvailable reports whether the binary has a working daemon command.
func daemonAvailable(ctx context.Context, bin string) bool {
	_, err := run(ctx, command{name: bin, args: []string{"daemon", "--help"}})
	return err == nil
}

// daemonProc is a running `chatsafe daemon` and the bench's view of it:
// its status client and its event stream.
type daemonProc struct {
	pid    int
	log    string
	c      *client.Client
	exited <-chan struct{}
	events <-chan statusapi.Event
}

// startDaemon starts `chatsafe daemon` and subscribes to its events once
// it is ready; stop ends both and waits for them.
func startDaemon(ctx context.Context, t *chatsafeTool) (d *daemonProc, stop func() int64, err error) {
	logf, err := os.Create(filepath.Join(t.dir, "daemon.log"))
	if err != nil {
		return nil, nil, err
	}
	dctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(dctx, t.bin, "daemon", "--config", t.config())
	cmd.Stdout, cmd.Stderr = logf, logf
	// Stop it like the service manager does (SIGTERM), not with SIGKILL.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		logf.Close()
		return nil, nil, fmt.Errorf("the daemon did not start: %w", err)
	}
	// exited is closed once the daemon is gone; stop waits for the
	// goroutine that waits for it, and for the event reader.
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	d = &daemonProc{pid: cmd.Process.Pid, log: logf.Name(), c: client.New(t.socket()), exited: exited}
	evs := make(chan statusapi.Event, 1024)
	evDone := make(chan struct{})
	stop = func() int64 {
		return stopAndPeak(d.pid, func() *os.ProcessState {
			cancel()
			<-exited
			<-evDone
			d.c.Close()
			logf.Close()
			return cmd.ProcessState
		})
	}
	// Start-up: wait for the socket and for any start-up cycle to finish.
	if _, err := pollStatus(ctx, d.c, exited, 2*time.Minute, func(s statusapi.Status) bool {
		return s.State == statusapi.StateIdle && s.PendingDeltas == 0
	}); err != nil {
		close(evDone)
		stop()
		return nil, nil, fmt.Errorf("daemon not ready: %w; see %s", err, logf.Name())
	}
	// Subscribe returns once the daemon has subscribed the stream: every
	// event from now on is in it.
	stream, err := d.c.Subscribe(dctx)
	if err != nil {
		close(evDone)
		stop()
		return nil, nil, fmt.Errorf("daemon events: %w", err)
	}
	go func() {
		defer close(evDone)
		defer close(evs)
		defer stream.Close()
		for {
			ev, err := stream.Next()
			if err != nil {
				return
			}
			select {
			case evs <- ev:
			case <-dctx.Done():
				return
			}
		}
	}()
	d.events = evs
	return d, stop, nil
}

// measureDaemon starts `chatsafe daemon`, commits one message at a time
// and measures how long until a new snapshot is committed, what each
// cycle costs, and the app's checkpoints meanwhile.
func measureDaemon(ctx context.Context, t *chatsafeTool, w *Writer, trials int, idles []time.Duration) (res daemonResult) {
	res = daemonResult{Trials: trials, QuietS: daemonQuietPeriod.Seconds()}
	if !daemonAvailable(ctx, t.bin) {
		res.Note = "not measured (daemon not available in this build)"
		return res
	}
	d, stop, err := startDaemon(ctx, t)
	if err != nil {
		res.Note = fmt.Sprintf("not measured (%v)", err)
		return res
	}
	defer func() { res.MaxRSS = stop() }()
	st, err := d.c.Status(ctx)
	if err != nil {
		res.Note = fmt.Sprintf("not measured: %v", err)
		return res
	}
	before, err := listTree(t.RepoDir())
	if err != nil {
		res.Note = fmt.Sprintf("not measured: %v", err)
		return res
	}
	// A cycle the start-up set off (a change the watcher saw meanwhile)
	// is not idleness: measure once no event came for a quiet period.
	if err := d.waitQuiet(ctx, daemonQuietPeriod+time.Second, 2*time.Minute); err != nil {
		res.Note = fmt.Sprintf("not measured: %v", err)
		return res
	}
	if st, err = d.c.Status(ctx); err != nil {
		res.Note = fmt.Sprintf("not measured: %v", err)
		return res
	}
	res.IdleCPUPerS, res.IdlePolledCPUPerS, res.IdleRCharPerS = idleCost(ctx, d)
	for range trials {
		c, err := d.oneMessage(ctx, w, &st)
		if err != nil {
			res.Note = fmt.Sprintf("not measured: %v", err)
			return res
		}
		res.SnapshotS = append(res.SnapshotS, c.snapshotS)
		res.UploadedS = append(res.UploadedS, c.uploadedS)
		res.CycleReadBytes = append(res.CycleReadBytes, c.usage.readBytes)
		res.CycleRChar = append(res.CycleRChar, c.usage.rchar)
		res.CycleCPUS = append(res.CycleCPUS, c.usage.cpu)
		res.CycleMinFlt = append(res.CycleMinFlt, c.usage.minflt)
		res.TrialS = append(res.TrialS, c.uploadedS)
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
	for _, m := range []struct {
		mode string
		meet bool
	}{{"PASSIVE", false}, {"TRUNCATE", false}, {"TRUNCATE", true}} {
		cr, err := d.checkpointTrials(ctx, w, &st, m.mode, m.meet, checkpointTrials)
		if err != nil {
			cr.Note = err.Error()
		}
		res.Checkpoints = append(res.Checkpoints, cr)
	}
	if res.IdleCycles, err = d.idleCycles(ctx, w, &st, idles); err != nil {
		res.IdleNote = err.Error()
	}
	return res
}

// cycleCost is one measured one-message cycle.
type cycleCost struct {
	snapshotS, uploadedS float64
	usage                procUsage
}

// oneMessage commits one message, waits on the event stream until its
// snapshot is on the remote and returns what that cost the daemon. st is
// the last status seen, updated. during, when set, runs while the cycle
// scans (from the daemon's "scanning" event to the next state event).
func (d *daemonProc) oneMessage(ctx context.Context, w *Writer, st *statusapi.Status) (cycleCost, error) {
	var c cycleCost
	var prev uint64
	if st.LastSnapshot != nil {
		prev = st.LastSnapshot.Seq
	}
	u0, err := readProcUsage(d.pid)
	if err != nil {
		return c, err
	}
	if err := w.AddMessage(ctx); err != nil {
		return c, err
	}
	committed := time.Now()
	if _, err := d.waitEvent(ctx, time.Minute, func(ev statusapi.Event) bool {
		return ev.Type == statusapi.EventSnapshot && ev.Snapshot != nil && ev.Snapshot.Seq > prev
	}); err != nil {
		return c, fmt.Errorf("no snapshot after a commit: %w; see %s", err, d.log)
	}
	c.snapshotS = time.Since(committed).Seconds()
	if *st, err = d.waitUploaded(ctx); err != nil {
		return c, err
	}
	c.uploadedS = time.Since(committed).Seconds()
	u1, err := readProcUsage(d.pid)
	if err != nil {
		return c, err
	}
	c.usage = u1.sub(u0)
	return c, nil
}

// waitUploaded waits until the daemon is idle with nothing pending,
// asking for its status once now and after each state or upload event.
func (d *daemonProc) waitUploaded(ctx context.Context) (statusapi.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		st, err := d.c.Status(ctx)
		if err != nil {
			return st, err
		}
		if st.PendingDeltas == 0 && st.State == statusapi.StateIdle {
			return st, nil
		}
		if _, err := d.waitEvent(ctx, time.Minute, func(ev statusapi.Event) bool {
			return ev.Type == statusapi.EventState || ev.Type == statusapi.EventUploaded
		}); err != nil {
			return st, fmt.Errorf("snapshot not uploaded: %w (last state %s, %d pending; see %s)", err, st.State, st.PendingDeltas, d.log)
		}
	}
}

// waitEvent reads the event stream until ok holds, the daemon exits, or
// timeout passes.
func (d *daemonProc) waitEvent(ctx context.Context, timeout time.Duration, ok func(statusapi.Event) bool) (statusapi.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		select {
		case ev, open := <-d.events:
			if !open {
				return ev, errors.New("the event stream ended")
			}
			if ev.Type == statusapi.EventError {
				logf("chatsafe daemon: error event: %s", ev.Error)
			}
			if ok(ev) {
				return ev, nil
			}
		case <-d.exited:
			return statusapi.Event{}, errors.New("the daemon exited")
		case <-ctx.Done():
			return statusapi.Event{}, ctx.Err()
		}
	}
}

// waitQuiet waits until the event stream was silent for quiet (and the
// daemon is idle with nothing pending), at most limit.
func (d *daemonProc) waitQuiet(ctx context.Context, quiet, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		t := time.NewTimer(quiet)
		select {
		case <-t.C:
			st, err := d.c.Status(ctx)
			if err != nil {
				return err
			}
			if st.State == statusapi.StateIdle && st.PendingDeltas == 0 {
				return nil
			}
		case _, open := <-d.events:
			t.Stop()
			if !open {
				return fmt.Errorf("the event stream ended; see %s", d.log)
			}
		case <-d.exited:
			t.Stop()
			return fmt.Errorf("the daemon exited; see %s", d.log)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("the daemon did not settle: %w; see %s", ctx.Err(), d.log)
		}
	}
}

// idleCost measures what the idle daemon spends per second: over 2 s
// left alone, then over 2 s of status polls every pollEvery.
func idleCost(ctx context.Context, d *daemonProc) (cpuPerS, polledCPUPerS, rcharPerS float64) {
	const window = 2 * time.Second
	measure := func(wait func()) (procUsage, float64) {
		u0, err := readProcUsage(d.pid)
		if err != nil {
			return procUsage{}, 0
		}
		start := time.Now()
		wait()
		u1, err := readProcUsage(d.pid)
		if err != nil {
			return procUsage{}, 0
		}
		return u1.sub(u0), time.Since(start).Seconds()
	}
	alone, s := measure(func() {
		// A measurement window, not a synchronisation: nothing is awaited.
		select {
		case <-time.After(window):
		case <-ctx.Done():
		}
	})
	if s > 0 {
		cpuPerS = alone.cpu / s
	}
	polled, s := measure(func() {
		pollStatus(ctx, d.c, d.exited, window, func(statusapi.Status) bool { return false })
	})
	if s > 0 {
		polledCPUPerS, rcharPerS = polled.cpu/s, float64(polled.rchar)/s
	}
	return cpuPerS, polledCPUPerS, rcharPerS
}

// pollStatus polls the daemon until ok holds, the daemon exits, or
// timeout passes (start-up, before the event stream can be opened, and
// the idle-cost measurement).
func pollStatus(ctx context.Context, c *client.Client, exited <-chan struct{}, timeout time.Duration, ok func(statusapi.Status) bool) (statusapi.Status, error) {
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
