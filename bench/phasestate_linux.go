package main

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// machineState is what the machine looked like just before a timed phase:
// how much of the phase's input was in the page cache, the memory, and
// the kernel's counters (to take deltas across the phase).
type machineState struct {
	inputCached, inputBytes int64 // bytes of the phase's input in the page cache / in all
	memFree, cached, dirty  int64 // /proc/meminfo, bytes
	load                    string
	vm                      map[string]int64
}

// vmCounters are the /proc/vmstat counters a phase's log gives deltas of:
// reads from storage, refaults of evicted file pages, page allocations and
// frees, reclaim, writeback.
var vmCounters = []string{"pgmajfault", "pgpgin", "pgpgout", "workingset_refault_file", "pgalloc", "pgfree", "pgscan", "pgsteal", "nr_dirtied", "nr_written"}

func readMachineState(input string, skip func(path string) bool) machineState {
	s := machineState{vm: map[string]int64{}}
	if input != "" {
		s.inputCached, s.inputBytes, _ = cachedBytes(input, skip)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "MemFree:":
				s.memFree = n << 10
			case "Cached:":
				s.cached = n << 10
			case "Dirty:":
				s.dirty = n << 10
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			s.load = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/vmstat"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			for _, c := range vmCounters {
				// pgalloc_normal, pgscan_kswapd ...: summed per prefix.
				if k == c || strings.HasPrefix(k, c+"_") && (c == "pgalloc" || c == "pgscan" || c == "pgsteal") {
					s.vm[c] += n
				}
			}
		}
	}
	// This VM's kernel counts what free page reporting has handed back to
	// the host; memory touched after being reported costs a first touch.
	if n, ok := reportedBytes(); ok {
		s.vm["reported"] = n
	}
	return s
}

// cachedBytes sums, over the regular files under root, how many of their
// bytes are in the page cache (cachestat(2), Linux 6.5 and later) and how
// many there are.
func cachedBytes(root string, skip func(path string) bool) (cached, total int64, err error) {
	page := int64(os.Getpagesize())
	err = eachInput([]string{root}, func(path string, _ fs.DirEntry) error {
		if skip != nil && skip(path) {
			return nil // the app's database is not opened here (appFiles)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		total += fi.Size()
		var st unix.Cachestat_t
		if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0); err != nil {
			return fmt.Errorf("cachestat %s: %w", path, err)
		}
		cached += min(int64(st.Cache)*page, fi.Size())
		return nil
	})
	return cached, total, err
}

func (s machineState) String() string {
	return fmt.Sprintf("input %s of %s in the page cache, free %s, cached %s, dirty %s, load %s",
		mb(s.inputCached), mb(s.inputBytes), mb(s.memFree), mb(s.cached), mb(s.dirty), s.load)
}

// deltas gives the kernel's counters' changes from s to after.
func (s machineState) deltas(after machineState) string {
	var parts []string
	for _, c := range vmCounters {
		d := after.vm[c] - s.vm[c]
		switch c {
		case "pgpgin", "pgpgout": // KiB
			parts = append(parts, fmt.Sprintf("%s %s", c, mb(d<<10)))
		case "pgalloc", "pgfree", "workingset_refault_file", "nr_dirtied", "nr_written", "pgscan", "pgsteal":
			parts = append(parts, fmt.Sprintf("%s %s", c, mb(d*int64(os.Getpagesize()))))
		default:
			parts = append(parts, fmt.Sprintf("%s %d", c, d))
		}
	}
	if r, ok := after.vm["reported"]; ok {
		parts = append(parts, fmt.Sprintf("reported to the host %s", mb(r-s.vm["reported"])))
	}
	return strings.Join(parts, ", ")
}

// reported is what free page reporting had handed back to the host (0
// where the kernel does not say).
func (s machineState) reported() int64 { return s.vm["reported"] }

// reportedBytes is what free page reporting has handed back to the host
// so far; ok is false where the kernel does not say.
func reportedBytes() (n int64, ok bool) {
	b, err := os.ReadFile("/sys/module/page_reporting/parameters/reported_kib")
	if err != nil {
		return 0, false
	}
	n, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n << 10, err == nil
}
