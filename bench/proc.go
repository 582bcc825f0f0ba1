package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// procResult is one measured run of a tool.
type procResult struct {
	Wall time.Duration
	// MaxRSS is the child's peak RSS in bytes: its VmHWM where /proc
	// has it, else its rusage's max RSS. A child Go spawns shares the
	// bench's memory until exec, and the kernel starts rusage's figure
	// at the bench's own high-water mark: a bench that grew to 589 MB
	// building the 5g tree reported that for chatsafe.
	MaxRSS int64
	// RSS is the child's memory at its largest sampled VmRSS, split into
	// anonymous and file-backed (Linux; zero elsewhere).
	RSS    rssSplit
	CPU    float64 // user + system seconds of the child
	Usage  childUsage
	Stdout []byte
	Stderr []byte
	// Perf is the profile's report when the command had one (command.perf).
	Perf *perfSummary
}

// command describes one tool invocation.
type command struct {
	name string
	args []string
	dir  string
	env  []string // added to the bench's own environment
	// perf, when set, is where `perf record`, attached to the child once
	// it started, writes its CPU profile (perf.go); the report goes
	// beside it. The child's measures stay its own.
	perf string
}

// run executes c, measuring wall time and peak RSS the same way for
// every tool. A failure carries the end of the tool's stderr; a profile
// perf could not take or report fails the run too.
func run(ctx context.Context, c command) (procResult, error) {
	cmd := exec.CommandContext(ctx, c.name, c.args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Start()
	var split rssSplit
	var rec *perfRecord
	var perfErr error
	if err == nil {
		stop, peak := make(chan struct{}), make(chan rssSplit, 1)
		go sampleRSS(cmd.Process.Pid, stop, peak)
		if c.perf != "" {
			// The child waits, stopped, until perf is attached (perf.go):
			// its whole run is sampled, and timed from there.
			rec, perfErr = attachPerf(ctx, cmd.Process, cmd.Path, c.perf)
			start = time.Now()
		}
		err = cmd.Wait()
		close(stop)
		split = <-peak
	}
	res := procResult{Wall: time.Since(start), RSS: split, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if cmd.ProcessState != nil {
		res.CPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		res.Usage = usageOf(cmd.ProcessState)
		res.MaxRSS = maxRSS(cmd.ProcessState)
		if split.HWM > 0 {
			res.MaxRSS = split.HWM
		}
	}
	if rec != nil {
		// attachPerf may return a recorder and an error (resuming the tool).
		var ferr error
		res.Perf, ferr = rec.finish(ctx, err)
		perfErr = errors.Join(perfErr, ferr)
	}
	if err != nil {
		return res, fmt.Errorf("%s %s: %w\n%s", c.name, strings.Join(c.args, " "), err, tail(stderr.String(), 2000))
	}
	if perfErr != nil {
		return res, fmt.Errorf("profiling %s with perf: %w", c.name, perfErr)
	}
	return res, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
