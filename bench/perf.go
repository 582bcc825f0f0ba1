package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// --perf DIR: every timed first backup and restore of every tool runs
// with `perf record` attached to the tool's process, so that a missed
// target comes with where the tool's CPU went (issue 18: "what the
// profile shows"). The VM has no PMU, hence the kernel's cpu-clock.

const perfMissing = "--perf needs perf (Debian: apt-get install linux-perf)"

// checkPerfDir is the startup check of --perf DIR: Linux, perf on PATH
// and DIR created; it returns DIR made absolute.
func checkPerfDir(dir string) (string, error) {
	if runtime.GOOS != "linux" {
		return "", fmt.Errorf("--perf needs Linux's perf; this is %s", runtime.GOOS)
	}
	if _, err := exec.LookPath("perf"); err != nil {
		return "", errors.New(perfMissing)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("--perf %s: %w", dir, err)
	}
	return filepath.Abs(dir)
}

// perfOut names the profile of one tool's timed phase in one round (from
// 0), or "" when the run is not profiled.
func (b *benchRun) perfOut(tool, phase string, round int) string {
	if b.o.perfDir == "" {
		return ""
	}
	return filepath.Join(b.o.perfDir, fmt.Sprintf("%s-%s-r%d.data", tool, phase, round+1))
}

// perfShare is one symbol's share of a profile's samples.
type perfShare struct {
	Percent float64
	Symbol  string
}

// perfSummary is what run tells of a profiled child: its report and
// the report's top symbols.
type perfSummary struct {
	Report  string // perf report's text, beside the .data file
	Top     []perfShare
	Samples string // the report's "# Samples:" count ("1K"), or ""
}

// String is the summary for a phase's log line. A flat profile, or a
// short phase waiting on I/O, may have no symbol at 1 % or more.
func (s *perfSummary) String() string {
	if len(s.Top) == 0 {
		if s.Samples != "" {
			return fmt.Sprintf("perf: no symbol at 1 %% or more (%s samples) (%s)", s.Samples, s.Report)
		}
		return fmt.Sprintf("perf: no symbol at 1 %% or more (%s)", s.Report)
	}
	parts := make([]string, len(s.Top))
	for i, t := range s.Top {
		parts[i] = fmt.Sprintf("%.1f%% %s", t.Percent, t.Symbol)
	}
	return fmt.Sprintf("perf: %s (%s)", strings.Join(parts, ", "), s.Report)
}

// perfRecord is `perf record` attached to one process.
type perfRecord struct {
	cmd      *exec.Cmd
	exe      string // the process's executable
	out      string
	stderr   *tailBuffer
	ctl, ack *os.File // perf's control pipe and its answers
}

// attachPerf attaches perf record to proc, running exe, to write out.
// proc waits stopped meanwhile (SIGSTOP, then SIGCONT once perf said on
// its control pipe that its events are on): perf takes ~0.1 s to attach,
// a large part of a short phase, which would go unsampled. Even when perf
// fails, proc goes on.
func attachPerf(ctx context.Context, proc *os.Process, exe, out string) (_ *perfRecord, err error) {
	if err := pauseProcess(proc); err != nil {
		return nil, fmt.Errorf("pausing %s for perf: %w", exe, err)
	}
	resumed := false
	resume := func() error {
		if resumed {
			return nil
		}
		resumed = true
		if err := resumeProcess(proc); err != nil {
			return fmt.Errorf("resuming %s after attaching perf: %w", exe, err)
		}
		return nil
	}
	defer func() { err = errors.Join(err, resume()) }()
	p := &perfRecord{exe: exe, out: out, stderr: newTailBuffer(4 << 10)}
	ctlR, ctl, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ack, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctl.Close()
		return nil, err
	}
	p.ctl, p.ack = ctl, ack
	// Events off until "enable" on fd 3, acknowledged on fd 4. Not -q:
	// it silences perf's errors too ("failed to open …"); its progress
	// lines go to the buffer, shown only on a failure. No build-id cache:
	// perf would keep a copy of every binary it saw in ~/.debug (60–90 MB
	// each, a new one per build); the report runs while the binary is
	// still at its path.
	p.cmd = exec.CommandContext(ctx, "perf", "record", "--no-buildid-cache", "-D", "-1", "--control", "fd:3,4",
		"-e", "cpu-clock", "-F", "999", "-g", "-p", strconv.Itoa(proc.Pid), "-o", out)
	p.cmd.ExtraFiles = []*os.File{ctlR, ackW}
	p.cmd.Stderr = p.stderr
	// Cancelled, perf still writes what it has, as at the end.
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(os.Interrupt) }
	p.cmd.WaitDelay = time.Minute
	err = p.cmd.Start()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		p.closePipes()
		return nil, fmt.Errorf("starting perf record -o %s: %w", out, err)
	}
	if err := p.enable(ctx); err != nil {
		// The tool goes on meanwhile: perf may take its time to exit.
		rerr := resume()
		werr := p.interrupt(5 * time.Second)
		p.closePipes()
		return nil, errors.Join(fmt.Errorf("perf record -p %d -o %s did not attach: %w\n%s", proc.Pid, out, err, tail(p.stderr.String(), 2000)), rerr, werr)
	}
	return p, nil
}

// enable turns perf's events on and waits until it says so (perf
// record --control: "ack\n"); perf exiting first closes the pipe.
func (p *perfRecord) enable(ctx context.Context) error {
	if _, err := p.ctl.Write([]byte("enable\n")); err != nil {
		return err
	}
	if err := p.ack.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		return err
	}
	cancel := context.AfterFunc(ctx, func() { p.ack.SetReadDeadline(time.Now()) })
	defer cancel()
	buf := make([]byte, 16)
	n, err := p.ack.Read(buf)
	if err != nil {
		return fmt.Errorf("waiting for perf to enable its events: %w", err)
	}
	if !bytes.HasPrefix(buf[:n], []byte("ack")) {
		return fmt.Errorf("perf answered %q to enable", buf[:n])
	}
	return nil
}

func (p *perfRecord) closePipes() {
	p.ctl.Close()
	p.ack.Close()
}

// stop ends the recording once the process it watched exited and
// checks that perf wrote its file.
func (p *perfRecord) stop() error {
	defer p.closePipes()
	if err := p.interrupt(time.Minute); err != nil {
		return fmt.Errorf("perf record -o %s: %w\n%s", p.out, err, tail(p.stderr.String(), 2000))
	}
	if fi, err := os.Stat(p.out); err != nil || fi.Size() == 0 {
		return fmt.Errorf("perf record wrote no %s: %v\n%s", p.out, err, tail(p.stderr.String(), 2000))
	}
	return nil
}

// interrupt stops perf record with SIGINT (it writes its file, then
// re-raises the signal) and waits for it, killing it if it has not
// exited within grace.
func (p *perfRecord) interrupt(grace time.Duration) error {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping perf record -o %s: %w", p.out, err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		p.cmd.Process.Kill()
		err = errors.Join(fmt.Errorf("perf record -o %s did not exit within %v of SIGINT: killed", p.out, grace), <-done)
	}
	if interruptedExit(err) {
		err = nil
	}
	return err
}

// report writes perf report's text beside the profile (.txt for .data)
// and returns its top 3 symbols; a stripped Go executable's by Go
// function (perfsym.go).
func (p *perfRecord) report(ctx context.Context) (*perfSummary, error) {
	txt := strings.TrimSuffix(p.out, ".data") + ".txt"
	cmd := exec.CommandContext(ctx, "perf", "report", "-i", p.out, "--stdio", "--no-children",
		"--sort", "sym", "--percent-limit", "1", "-g", "none")
	stderr := newTailBuffer(4 << 10)
	cmd.Stderr = stderr
	// Its stdout is bounded: --percent-limit 1 leaves at most 100 rows.
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("perf report -i %s: %w\n%s", p.out, err, tail(stderr.String(), 2000))
	}
	sum := summarizePerfReport(out, txt)
	if sum.Samples == "" && strings.Contains(stderr.String(), "has no samples") {
		sum.Samples = "0"
	}
	if strippedGo(p.exe) {
		// Without the go tool the offsets stay, and the text says why.
		if shares, err := goShares(ctx, p.out, p.exe); err != nil {
			out = fmt.Appendf(out, "\n# %s has no .symtab, and the offsets perf gave could not be named: %v\n", p.exe, err)
		} else if shares != nil {
			out = append(out, goSharesText(p.exe, shares)...)
			sum.Top = shares[:min(3, len(shares))]
		}
	}
	if err := os.WriteFile(txt, out, 0o644); err != nil {
		return nil, fmt.Errorf("writing perf report: %w", err)
	}
	return sum, nil
}

// summarizePerfReport is the summary of `perf report --stdio --sort sym`'s
// text, written to txt: its top 3 symbols and its "# Samples: 1K of
// event 'cpu-clock'" count.
func summarizePerfReport(out []byte, txt string) *perfSummary {
	s := &perfSummary{Report: txt, Top: parsePerfReport(out, 3)}
	for line := range strings.Lines(string(out)) {
		if n, ok := strings.CutPrefix(line, "# Samples: "); ok {
			if f := strings.Fields(n); len(f) > 0 {
				s.Samples = f[0]
			}
			break
		}
	}
	return s
}

// parsePerfReport returns the first n symbol lines of `perf report
// --stdio --sort sym -g none`, "  31.20%  [.] runtime.memmove": perf
// sorts them by share.
func parsePerfReport(out []byte, n int) []perfShare {
	var top []perfShare
	for line := range strings.Lines(string(out)) {
		if len(top) == n {
			break
		}
		// cols[0] is [.] for user space, [k] for the kernel; a symbol
		// may hold spaces.
		if pct, cols, ok := perfRow(line); ok && len(cols) >= 2 {
			top = append(top, perfShare{Percent: pct, Symbol: strings.Join(cols[1:], " ")})
		}
	}
	return top
}

// perfRow splits a row of perf report --stdio into its share and its
// other columns; ok is false for headers, comments and blank lines.
func perfRow(line string) (pct float64, cols []string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasSuffix(f[0], "%") {
		return 0, nil, false
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
	if err != nil {
		return 0, nil, false
	}
	return pct, f[1:], true
}

// finish stops the recording and, unless the tool failed (toolErr),
// reports on it.
func (p *perfRecord) finish(ctx context.Context, toolErr error) (*perfSummary, error) {
	if err := p.stop(); err != nil || toolErr != nil {
		return nil, err
	}
	return p.report(ctx)
}

// tailBuffer keeps the last n bytes written to it: a command's stderr,
// shown on a failure, whatever it wrote over a long phase.
type tailBuffer struct {
	n int
	b []byte
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	w := len(p)
	if len(p) > t.n {
		p = p[len(p)-t.n:]
	}
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.n {
		t.b = t.b[:copy(t.b, t.b[len(t.b)-t.n:])]
	}
	return w, nil
}

// String is the last n bytes written.
func (t *tailBuffer) String() string {
	return string(t.b[max(0, len(t.b)-t.n):])
}
