package daemon_test

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/remotes"
)

// TestScheduledPrune: with prune.every set, the daemon prunes on its own
// between cycles, on every remote, while one remote's uploads are slow
// (so prunes meet uploads in flight): the objects on the remotes stay
// bounded and both restore to the directory.
func TestScheduledPrune(t *testing.T) {
	dir := t.TempDir()
	r0, r1 := filepath.Join(dir, "r0"), filepath.Join(dir, "r1")
	in := newInstallSpec(t, []string{r0, r1}, "retention:\n  keep_last: 3\nprune:\n  max_upload: 64MiB\n")
	chat := openChat(t, in.src)
	chat.write(t, 100)
	d := runInProcess(t, in, daemon.Options{PruneEvery: 250 * time.Millisecond, WrapUpload: func(r remotes.Remote) remotes.Remote {
		if r.String() != "r1" {
			return r
		}
		return remotes.Faulty(r, remotes.FaultOptions{Latency: 20 * time.Millisecond})
	}})
	waitFor(t, d, "the first snapshot", idle)

	var maxDeltas, prunes int
	var lastPrune time.Time
	for c := range 14 {
		chat.write(t, 20)
		if c%3 == 0 {
			// Media come and go: pruned snapshots free them.
			os.WriteFile(filepath.Join(in.src, "Media", fmt.Sprintf("IMG-%d.jpg", c)), bytes.Repeat([]byte{byte(c)}, 40000), 0o644)
			os.Remove(filepath.Join(in.src, "Media", fmt.Sprintf("IMG-%d.jpg", c-3)))
		}
		backupNow(t, d)
		if c%4 == 3 {
			// Let a scheduled prune run before the next cycles.
			since := time.Now()
			waitUntil(t, d, "a scheduled prune", func() bool { return d.LastPrune().Time.After(since) })
		}
		if p := d.LastPrune(); p.Time != lastPrune {
			lastPrune = p.Time
			prunes++
			if p.Err != "" {
				t.Fatalf("scheduled prune failed: %s", p.Err)
			}
		}
		maxDeltas = max(maxDeltas, len(deltaSeqs(t, r0)))
	}
	since := time.Now()
	waitUntil(t, d, "a prune after the last cycle, then idle", func() bool {
		return d.LastPrune().Time.After(since) && idle(d.Status())
	})
	p := d.LastPrune()
	t.Logf("%d prunes seen; at most %d deltas on r0; last prune: %+v", prunes+1, maxDeltas, p)
	if p.Err != "" || len(p.Remotes) != 2 || p.Remotes[0] != "r0" {
		t.Fatalf("last prune: %+v", p)
	}
	if prunes < 3 {
		t.Fatalf("only %d scheduled prunes ran during 14 cycles", prunes)
	}
	if sp := d.Status().LastPrune; sp == nil || !sp.Time.Equal(p.Time) || sp.Error != "" {
		t.Fatalf("/v1/status last_prune = %+v, want the last prune (%v)", sp, p.Time)
	}
	// 15 cycles, keep_last 3: without prune there would be 15 deltas.
	for _, r := range []string{r0, r1} {
		if n := len(deltaSeqs(t, r)); n > 4 {
			t.Fatalf("%s holds %d deltas after the prune; want at most 4", r, n)
		}
	}
	if maxDeltas > 8 {
		t.Fatalf("r0 held up to %d deltas between prunes every 4 cycles", maxDeltas)
	}
	rec := httptest.NewRecorder()
	d.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, m := range []string{`chatsafe_prunes_total{result="ok"}`, "chatsafe_last_prune_timestamp_seconds", "chatsafe_pruned_objects_total"} {
		line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m) + ` (\S+)$`).FindStringSubmatch(rec.Body.String())
		if line == nil || line[1] == "0" {
			t.Errorf("metric %s missing or zero:\n%s", m, rec.Body.String())
		}
	}
	if n := len(d.Snapshots()); n != 3 {
		t.Fatalf("%d snapshots after the prune, want 3", n)
	}
	sameTree(t, in.src, restoreFrom(t, r0, in.key))
	sameTree(t, in.src, restoreFrom(t, r1, in.key))
}
