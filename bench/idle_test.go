package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseIdleCycles(t *testing.T) {
	got, err := parseIdleCycles("310s, 2m30s,")
	if err != nil || len(got) != 2 || got[0] != 310*time.Second || got[1] != 150*time.Second {
		t.Fatalf("parseIdleCycles: %v, %v", got, err)
	}
	for _, bad := range []string{"5", "-1s", "0s", "soon"} {
		if _, err := parseIdleCycles(bad); err == nil {
			t.Errorf("parseIdleCycles(%q) took it", bad)
		}
	}
}

// The after-idle cycle is a target row (judged like the other cycles)
// and a line of its table.
func TestIdleCycleReported(t *testing.T) {
	res := &Results{Daemon: daemonResult{CycleReadBytes: []int64{1}, CycleRChar: []int64{1}, CycleCPUS: []float64{0.009},
		IdleCycles: []idleCycle{{IdleS: 310, CPUS: 0.025, MinorFaults: 1400, RSSBytes: 80e6, AfterCPUS: 0.010}}}}
	res.cycleTargets()
	var found bool
	for _, tg := range res.Targets {
		if tg.Name == "daemon cycle after 5m10s idle: CPU" {
			found = true
			if tg.Met == nil || *tg.Met {
				t.Errorf("25 ms judged within the 20 ms target: %+v", tg)
			}
		}
	}
	if !found {
		t.Fatalf("no after-idle target in %+v", res.Targets)
	}
	var b bytes.Buffer
	writeDaemonCycles(&b, res)
	if !strings.Contains(b.String(), "| 5m10s | 25 ms | 1400 |") {
		t.Fatalf("no after-idle row in:\n%s", b.String())
	}
}
