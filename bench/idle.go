package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
)

// idleCycle is a one-message cycle after the daemon sat idle (no change,
// no event) for IdleS seconds: what a phone's daemon pays, its messages
// coming minutes apart (docs/benchmarks.md, "A cycle after the daemon sat
// idle"). AfterCPUS is the cycle 10 s after it, for comparison in the
// same sitting.
type idleCycle struct {
	IdleS       float64 `json:"idle_s"`
	CPUS        float64 `json:"cpu_s"`
	MinorFaults int64   `json:"minor_faults"`
	// Events the daemon sent while idle (0: it was idle).
	IdleEvents int `json:"idle_events"`
	// The daemon's resident memory at the end of the idle period.
	RSSBytes         int64   `json:"rss_bytes"`
	AfterCPUS        float64 `json:"after_cpu_s"`
	AfterMinorFaults int64   `json:"after_minor_faults"`
}

// afterIdleGap is how long the bench waits after an after-idle cycle
// before the comparison cycle: as long as the daemon's cycles 10 s apart
// measured by hand.
const afterIdleGap = 10 * time.Second

// parseIdleCycles parses --idle-cycle: durations, comma-separated.
func parseIdleCycles(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--idle-cycle: %q is not a positive duration (e.g. 310s)", f)
		}
		out = append(out, d)
	}
	return out, nil
}

// idleCycles measures, for each idle period, the one-message cycle after
// the daemon sat that long untouched, and the cycle afterIdleGap later.
func (d *daemonProc) idleCycles(ctx context.Context, w *Writer, st *statusapi.Status, idles []time.Duration) ([]idleCycle, error) {
	var out []idleCycle
	for _, idle := range idles {
		logf("chatsafe daemon: one-message cycle after %s idle", idle)
		ic := idleCycle{IdleS: idle.Seconds()}
		// The idle period starts once the last cycle's events are over.
		if err := d.waitQuiet(ctx, daemonQuietPeriod+time.Second, 2*time.Minute); err != nil {
			return out, err
		}
		var err error
		if ic.IdleEvents, err = d.sitIdle(ctx, idle); err != nil {
			return out, err
		}
		ic.RSSBytes = rssOf(d.pid)
		c, err := d.oneMessage(ctx, w, st)
		if err != nil {
			return out, err
		}
		ic.CPUS, ic.MinorFaults = c.usage.cpu, c.usage.minflt
		if _, err := d.sitIdle(ctx, afterIdleGap); err != nil {
			return out, err
		}
		if c, err = d.oneMessage(ctx, w, st); err != nil {
			return out, err
		}
		ic.AfterCPUS, ic.AfterMinorFaults = c.usage.cpu, c.usage.minflt
		logf("chatsafe daemon: after %s idle: CPU %s, %d minor faults; %s later: CPU %s, %d minor faults",
			idle, ms(ic.CPUS), ic.MinorFaults, afterIdleGap, ms(ic.AfterCPUS), ic.AfterMinorFaults)
		out = append(out, ic)
	}
	return out, nil
}

// sitIdle leaves the daemon alone for idle, counting the events it sends
// meanwhile. The wait is the measurement's condition (the daemon's idle
// time), not a synchronisation: nothing is awaited.
func (d *daemonProc) sitIdle(ctx context.Context, idle time.Duration) (events int, err error) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return events, nil
		case _, open := <-d.events:
			if !open {
				return events, fmt.Errorf("the event stream ended; see %s", d.log)
			}
			events++
		case <-d.exited:
			return events, fmt.Errorf("the daemon exited; see %s", d.log)
		case <-ctx.Done():
			return events, ctx.Err()
		}
	}
}

// rssOf is the process's resident memory (VmRSS), 0 if unknown.
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
