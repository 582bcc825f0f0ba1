package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// rssSplit is a process's resident memory by kind, from /proc/PID/status:
// anonymous (heap, stacks: what the tool's work costs) and file-backed
// (mostly its own executable, mapped from the page cache). HWM is its
// peak so far (VmHWM), which, unlike rusage's max RSS, starts afresh at
// exec.
type rssSplit struct {
	Total, Anon, File int64 // bytes
	HWM               int64 // bytes
}

// rssSampleEvery is how often a child's memory is sampled: often enough
// to catch a peak that lasts a GC cycle, cheap enough (one read of a
// small /proc file) not to slow the tool.
const rssSampleEvery = 10 * time.Millisecond

// sampleRSS reads /proc/PID/status every rssSampleEvery until stop is
// closed, then sends on out the split of the sample with the largest
// VmRSS, with the largest VmHWM read (zero when /proc could not be read:
// not Linux, or the process already gone). VmHWM misses only what the
// process grew by in its last rssSampleEvery.
func sampleRSS(pid int, stop <-chan struct{}, out chan<- rssSplit) {
	var peak rssSplit
	var hwm int64
	path := fmt.Sprintf("/proc/%d/status", pid)
	t := time.NewTicker(rssSampleEvery)
	defer t.Stop()
	for {
		if s, err := readRSSSplit(path); err == nil {
			hwm = max(hwm, s.HWM, s.Total)
			if s.Total > peak.Total {
				peak = s
			}
			peak.HWM = hwm
		}
		select {
		case <-stop:
			out <- peak
			return
		case <-t.C:
		}
	}
}

// readRSSSplit parses VmRSS, RssAnon and RssFile (+ RssShmem, counted as
// file-backed) of a /proc/PID/status file.
func readRSSSplit(path string) (rssSplit, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return rssSplit{}, err
	}
	return parseRSSSplit(b)
}

func parseRSSSplit(b []byte) (rssSplit, error) {
	var s rssSplit
	seen := 0
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(k) {
		case "VmRSS":
			dst = &s.Total
		case "RssAnon":
			dst = &s.Anon
		case "RssFile", "RssShmem":
			dst = &s.File
		case "VmHWM":
			dst = &s.HWM
		default:
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			return rssSplit{}, fmt.Errorf("unexpected %s line %q", k, line)
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return rssSplit{}, fmt.Errorf("unexpected %s line %q: %w", k, line, err)
		}
		*dst += n << 10
		seen++
	}
	if seen < 4 {
		return rssSplit{}, fmt.Errorf("no VmRSS/RssAnon/RssFile/RssShmem in %s", b)
	}
	return s, nil
}

// stopAndPeak stops a child the bench did not start through run (the
// daemon) and returns its peak RSS: its VmHWM read just before the stop
// (what stopping adds is a few pages), else rusage's, which starts at the
// bench's own high-water mark (see procResult.MaxRSS).
func stopAndPeak(pid int, stop func() *os.ProcessState) int64 {
	s, err := readRSSSplit(fmt.Sprintf("/proc/%d/status", pid))
	ps := stop()
	if err == nil && s.HWM > 0 {
		return s.HWM
	}
	return maxRSS(ps)
}
