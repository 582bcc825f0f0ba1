package main

// logPhaseStart logs the machine's state just before a tool's timed
// phase (the input's page-cache residency among it) and returns it, so
// that logPhaseEnd can give what changed during the phase. A tool's
// figures are only comparable with another's when both started from the
// same state (docs/benchmarks.md, "The bench's order").
func logPhaseStart(tool, phase, input string, skip func(path string) bool) machineState {
	s := readMachineState(input, skip)
	logf("%s: %s: before: %v", tool, phase, s)
	return s
}

// logPhaseEnd logs where the phase's time went: the child's user and
// system time, its faults and its storage I/O, the top of its profile
// (--perf), and the machine's counters across the phase (other
// processes' included).
func logPhaseEnd(tool, phase string, before machineState, p procResult) {
	u := p.Usage
	prof := ""
	if p.Perf != nil {
		prof = "; " + p.Perf.String()
	}
	logf("%s: %s: %.2fs, user %.2f + sys %.2f s, major faults %d, minor faults %d, read %s and wrote %s from/to storage%s",
		tool, phase, p.Wall.Seconds(), u.User, u.Sys, u.MajFlt, u.MinFlt, mb(u.InBytes), mb(u.OutBytes), prof)
	if d := before.deltas(readMachineState("", nil)); d != "" {
		logf("%s: %s: machine: %s", tool, phase, d)
	}
}
